"""Scheduled flag changes in MongoDB: created and cancelled with their events, claimed under a lease, applied once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.client_session import ClientSession

from ..audit import actions
from ..errors import ScheduleNotFound, ScheduleNotPending, TooManySchedules
from .client import as_object_id, public_document, translated_errors, utcnow
from .flags import Written

# A schedule nobody claimed yet: any claimer may take it at once.
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
# Applied, failed and cancelled schedules stay listed this long as history, then expire.
HISTORY_KEPT = timedelta(days=30)
# Kept out of the API's view of a schedule: who holds it and until when, and its event ids for recovery.
BOOKKEEPING = ("claimed_by", "lease_until", "recent_events", "expire_at", "attempts")


class ScheduleStorage:
    """Reading, creating, cancelling, claiming and applying scheduled changes."""

    def _schedule_indexes(self) -> None:
        # What a claim asks for (pending and due, earliest first) and what a flag's list reads.
        self._schedules.create_index([("state", ASCENDING), ("at", ASCENDING)], name="due")
        self._schedules.create_index([("flag_id", ASCENDING), ("at", ASCENDING)], name="by_flag")
        self._schedules.create_index([("expire_at", ASCENDING)], expireAfterSeconds=0, name="expiry")

    @staticmethod
    def _schedule_out(document: dict[str, Any]) -> dict[str, Any]:
        schedule = public_document({k: v for k, v in document.items() if k not in BOOKKEEPING})
        schedule.setdefault("late", False)
        schedule.setdefault("reason", None)
        schedule.setdefault("applied_at", None)
        return schedule

    def create_schedule(
        self,
        flag: dict[str, Any],
        change: dict[str, Any],
        at: datetime,
        environment: str,
        actor: str,
        request_id: str | None = None,
        max_pending: int = 100,
    ) -> dict[str, Any]:
        """Store a pending schedule for the flag with its created event; raise TooManySchedules past max_pending."""
        with translated_errors():
            # Counted before the insert: two racing creates may pass one over the bound, which stays bounded.
            pending = self._schedules.count_documents({"flag_id": flag["_id"], "state": "pending"})
        if pending >= max_pending:
            raise TooManySchedules(
                f"This flag already has {pending} pending schedules; at most {max_pending}. Cancel some first.",
                details=[{"field": "(body)", "message": "too many pending schedules", "type": "too_many_schedules"}],
            )
        now = utcnow()
        document = {
            "_id": ObjectId(),
            "flag_id": flag["_id"],
            "flag_name": flag["name"],
            "environment": environment,
            **change,
            "at": at,
            "state": "pending",
            "late": False,
            "reason": None,
            "applied_at": None,
            "created_at": now,
            "created_by": actor,
            "lease_until": NEVER,
            "attempts": 0,
        }
        event = self._event(
            actions.SCHEDULE_CREATED,
            actor,
            request_id,
            flag_id=flag["_id"],
            flag_name=flag["name"],
            environment=environment,
            schedule_id=str(document["_id"]),
            before=None,
            after={"at": at, **change},
        )
        document["recent_events"] = [event["_id"]]
        with translated_errors():
            self._insert_recorded(self._schedules, document, event)
        return self._schedule_out(document)

    def find_schedule(self, flag_id: str, schedule_id: str) -> dict[str, Any]:
        """Return one of the flag's schedules, or raise ScheduleNotFound."""
        object_id = as_object_id(schedule_id)
        if object_id is None:
            raise ScheduleNotFound()
        with translated_errors():
            document = self._schedules.find_one({"_id": object_id, "flag_id": flag_id})
        if document is None:
            raise ScheduleNotFound()
        return self._schedule_out(document)

    def find_schedules(self, flag_id: str, history: int = 50) -> list[dict[str, Any]]:
        """Return the flag's pending schedules, soonest first, then up to `history` finished ones, latest first."""
        with translated_errors():
            pending = list(
                self._schedules.find({"flag_id": flag_id, "state": "pending"}).sort("at", ASCENDING).limit(1000)
            )
            finished = list(
                self._schedules.find({"flag_id": flag_id, "state": {"$ne": "pending"}})
                .sort("at", DESCENDING)
                .limit(history)
            )
        # Two reads: one applied between them is in both, and is shown once, as it ended.
        ended = {document["_id"] for document in finished}
        return [self._schedule_out(d) for d in [*(d for d in pending if d["_id"] not in ended), *finished]]

    def cancel_schedule(
        self, flag: dict[str, Any], schedule_id: str, actor: str, request_id: str | None = None
    ) -> dict[str, Any]:
        """Cancel a pending schedule with its event; raise ScheduleNotFound, or ScheduleNotPending once it ran."""
        current = self.find_schedule(flag["_id"], schedule_id)
        event = self._event(
            actions.SCHEDULE_CANCELLED,
            actor,
            request_id,
            flag_id=flag["_id"],
            flag_name=flag["name"],
            environment=current["environment"],
            schedule_id=schedule_id,
            before={"state": "pending"},
            after={"state": "cancelled"},
        )
        finished = self._finished("cancelled", event["_id"], cancelled_by=actor)
        write = self._pending_write(schedule_id, finished)
        with translated_errors():
            if not self._record(write, event):
                raise ScheduleNotPending(state=self.find_schedule(flag["_id"], schedule_id)["state"])
        return self.find_schedule(flag["_id"], schedule_id)

    def delete_schedules(self, flag_id: str) -> int:
        """Delete every schedule of a flag (it was deleted); return how many."""
        with translated_errors():
            return self._schedules.delete_many({"flag_id": flag_id}).deleted_count

    # -- applying ----------------------------------------------------------------------------

    def claim_due_schedule(self, claimer: str, lease: timedelta) -> dict[str, Any] | None:
        """Take the earliest due pending schedule nobody holds, for `lease`; None when none is due.

        One atomic update: of any number of claimers, exactly one gets a schedule until its lease runs out.
        """
        now = utcnow()
        with translated_errors():
            document = self._schedules.find_one_and_update(
                {"state": "pending", "at": {"$lte": now}, "lease_until": {"$lt": now}},
                {"$set": {"claimed_by": claimer, "lease_until": now + lease}, "$inc": {"attempts": 1}},
                sort=[("at", ASCENDING)],
                return_document=ReturnDocument.AFTER,
            )
        if document is None:
            return None
        claimed = self._schedule_out(document)
        claimed["claimed_by"] = claimer
        return claimed

    def release_schedule(self, schedule_id: str, claimer: str, retry_after: timedelta) -> None:
        """Give a claimed schedule back, to be tried again after retry_after (its flag is archived, say)."""
        with translated_errors():
            self._schedules.update_one(
                {"_id": ObjectId(schedule_id), "state": "pending", "claimed_by": claimer},
                {"$set": {"lease_until": utcnow() + retry_after}, "$unset": {"claimed_by": ""}},
            )

    def apply_schedule(
        self, schedule: dict[str, Any], changes: Callable[[dict[str, Any]], dict[str, Any]], late: bool, action: str
    ) -> Written:
        """Apply a claimed schedule's change to its flag and mark it applied, exactly once however often called.

        The flag write records the schedule's id on the flag and is conditional on the version read after
        checking for it, so a second attempt (a worker killed after the write, another claiming after its
        lease) finds it there and only marks the schedule. With transactions the mark is in the flag write's
        transaction; a schedule cancelled meanwhile then raises ScheduleNotPending and nothing changes.
        """
        schedule_id = schedule["_id"]
        marks: list[bool] = []

        def mark(session: ClientSession | None) -> bool:
            result = self._schedules.update_one(
                {"_id": ObjectId(schedule_id), "state": "pending"},
                {"$set": self._finished("applied", None, applied_at=utcnow(), late=late)},
                session=session,
            )
            marks.append(result.modified_count == 1)
            return marks[-1]

        written = self.update_flag(
            schedule["flag_id"],
            changes,
            actions.SCHEDULE_ACTOR,
            action=action,
            environment=schedule["environment"],
            once=schedule_id,
            event_fields={"schedule_id": schedule_id, "scheduled_by": schedule["created_by"]},
            also=mark,
        )
        if not marks:
            # Nothing to write (the flag already says so, or an earlier attempt wrote it): only the mark is left.
            with translated_errors():
                mark(None)
        return written

    def fail_schedule(self, schedule: dict[str, Any], reason: str) -> None:
        """Mark a claimed schedule failed with the reason, recording schedule.failed; a finished one is left."""
        event = self._event(
            actions.SCHEDULE_FAILED,
            actions.SCHEDULE_ACTOR,
            None,
            flag_id=schedule["flag_id"],
            flag_name=schedule["flag_name"],
            environment=schedule["environment"],
            schedule_id=schedule["_id"],
            scheduled_by=schedule["created_by"],
            before={"state": "pending"},
            after={"state": "failed", "reason": reason},
        )
        finished = self._finished("failed", event["_id"], reason=reason)
        with translated_errors():
            self._record(self._pending_write(schedule["_id"], finished), event)

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _finished(state: str, event_id: ObjectId | None, **fields: Any) -> dict[str, Any]:
        """Return the $set of a schedule leaving pending: its state, the fields given, its expiry."""
        now = utcnow()
        done = {"state": state, "finished_at": now, "expire_at": now + HISTORY_KEPT, "lease_until": NEVER, **fields}
        if event_id is not None:
            done["recent_events"] = [event_id]
        return done

    def _pending_write(self, schedule_id: str, finished: dict[str, Any]) -> Callable[[ClientSession | None], bool]:
        """Return a write that finishes the schedule only if it is still pending."""

        def write(session: ClientSession | None) -> bool:
            result = self._schedules.update_one(
                {"_id": ObjectId(schedule_id), "state": "pending"}, {"$set": finished}, session=session
            )
            return result.modified_count == 1

        return write

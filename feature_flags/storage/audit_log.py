"""The audit trail's write protocol (a change never exists without its event), its recovery and its queries."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import pymongo
from bson import ObjectId
from pymongo import DESCENDING
from pymongo.client_session import ClientSession
from pymongo.errors import PyMongoError

from ..audit import actions
from ..audit.actors import Person
from .client import as_object_id, public_document, translated_errors, utcnow

# How far back the newest events are looked for, in windows growing eightfold from an hour: centuries.
WINDOWS_BACK = 8
# How far apart two processes' clocks may stamp one moment (an event's id and its time are made together).
EVENT_CLOCK_SLACK_SECONDS = 5

# A pending event younger than this may belong to a request still in flight elsewhere.
PENDING_EVENT_GRACE = timedelta(seconds=30)
RECENT_EVENT_IDS_KEPT = 20
# An abort gets its own short deadline: the request's has often run out by then, and a failed abort costs
# only time (the server reaps the transaction later), so it must not hold the answer up for long.
ABORT_TIMEOUT_SECONDS = 0.5


class _StaleWrite(Exception):
    """The document changed between our read and our conditional write."""


class AuditLog:
    """Every change recorded with its event: transactions where the deployment has them, a pending event otherwise."""

    # -- the write path shared by every change -------------------------------------------------

    def _record(self, write: Callable[[ClientSession | None], bool], event: dict[str, Any]) -> bool:
        """Apply a conditional write together with its audit event; False if the write was stale.

        With transactions both land or neither does. Without them the event is written first as
        pending, then the change, then the event is confirmed; recover_pending_events() settles
        what a crash in between leaves behind.
        """
        if self.supports_transactions:

            def apply(session: ClientSession) -> None:
                if not write(session):
                    raise _StaleWrite()
                self._audit.insert_one(event, session=session)

            try:
                self._in_transaction(apply)
            except _StaleWrite:
                return False
            return True
        self._audit.insert_one({**event, "state": "pending"})
        try:
            applied = write(None)
        except BaseException:
            self._audit.delete_one({"_id": event["_id"], "state": "pending"})
            raise
        if applied:
            self._audit.update_one({"_id": event["_id"]}, {"$unset": {"state": ""}})
        else:
            self._audit.delete_one({"_id": event["_id"]})
        return applied

    def _insert_recorded(self, collection: Any, document: dict[str, Any], event: dict[str, Any]) -> None:
        """Insert a new document together with its audit event (DuplicateKeyError passes through)."""

        def write(session: ClientSession | None) -> bool:
            collection.insert_one(document, session=session)
            return True

        self._record(write, event)

    def _in_transaction(self, apply: Callable[[ClientSession], None], seconds: float | None = None) -> None:
        """Run apply in a transaction, retried on transient errors within the operation timeout (or seconds).

        Whatever happens, a transaction this started is aborted before returning. pymongo's with_transaction
        does not do that once the deadline has passed (its abort runs under the expired timeout and is never
        sent), and the server then holds the flag's document for its whole transaction lifetime (60 s by
        default), refusing every other write to it.
        """
        session = self.client.start_session()
        try:
            # Without this bound transient errors would be retried for as long as the server keeps failing.
            with pymongo.timeout(seconds or self.client.options.timeout):
                while True:
                    session.start_transaction()
                    try:
                        apply(session)
                        self._commit(session)
                        return
                    except PyMongoError as error:
                        if not error.has_error_label("TransientTransactionError") or getattr(error, "timeout", False):
                            raise
                        self._abort(session)
        finally:
            self._abort(session)
            session.end_session()

    @staticmethod
    def _commit(session: ClientSession) -> None:
        while True:
            try:
                session.commit_transaction()
                return
            except PyMongoError as error:
                # The commit may or may not have landed; committing again is safe and tells which.
                if error.has_error_label("UnknownTransactionCommitResult") and not getattr(error, "timeout", False):
                    continue
                raise

    @staticmethod
    def _abort(session: ClientSession) -> None:
        """Abort the session's transaction if one is open, in a deadline of its own (errors are swallowed)."""
        if session.in_transaction:
            with pymongo.timeout(ABORT_TIMEOUT_SECONDS):
                session.abort_transaction()

    def recover_pending_events(self, grace: timedelta = PENDING_EVENT_GRACE) -> int:
        """Confirm or drop audit events left pending by a crash; return how many were settled."""
        with translated_errors():
            return self._settle(self._audit.find({"state": "pending", "at": {"$lt": utcnow() - grace}}))

    def _settle(self, events: Iterable[dict[str, Any]]) -> int:
        """Confirm each pending event whose change landed and drop the others; return how many."""
        settled = 0
        for event in events:
            if self._event_applied(event):
                self._audit.update_one({"_id": event["_id"]}, {"$unset": {"state": ""}})
            else:
                self._audit.delete_one({"_id": event["_id"]})
            settled += 1
        return settled

    def _event_applied(self, event: dict[str, Any]) -> bool:
        if event["action"] in actions.SCHEDULE_ACTIONS:
            subject, target_id = self._schedules, event.get("schedule_id")
        elif event["action"] in actions.TOKEN_ACTIONS:
            subject, target_id = self._tokens, event.get("token_id")
        elif event["action"] in actions.SEGMENT_ACTIONS:
            subject, target_id = self._segments, event.get("segment_id")
        elif event["action"] in actions.WEBHOOK_ACTIONS:
            subject, target_id = self._webhooks, event.get("webhook_id")
        elif event["action"] in actions.CONTEXT_FIELD_ACTIONS:
            subject, target_id = self._context_fields, event.get("context_field_id")
        elif event["action"] in actions.USER_ACTIONS:
            subject, target_id = self._users, event.get("user_id")
        elif event["action"] in actions.CHANGE_REQUEST_ACTIONS:
            subject, target_id = self._change_requests, event.get("change_request_id")
        else:
            subject, target_id = self._flags, event.get("flag_id")
        document = subject.find_one({"_id": as_object_id(target_id)}, {"recent_events": 1})
        if event["action"] in actions.REMOVALS:
            return document is None
        return document is not None and event["_id"] in document.get("recent_events", [])

    @staticmethod
    def _event(action: str, actor: str, request_id: str | None, **fields: Any) -> dict[str, Any]:
        # Unsequenced until the webhook deliverer numbers it in the order it became visible (storage/webhooks.py).
        event = {"_id": ObjectId(), "at": utcnow(), "actor": str(actor), "action": action, "request_id": request_id}
        if isinstance(actor, Person):
            # A change made by a person names them, not only the name shown.
            event["person"] = actor.fields()
        return {**event, **fields, "unsequenced": True}

    # -- audit -------------------------------------------------------------------------------

    def find_events(
        self,
        *,
        flag: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        before: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Return confirmed audit events, newest first, filtered and paginated by event id."""
        query: dict[str, Any] = {"state": {"$exists": False}}
        subjects: list[dict[str, Any]] = []
        if flag is not None:
            ids = self._flag_ids_for(flag)
            # The flag's own events, and the segment changes that changed it (they list the flags using the
            # segment): two indexed queries merged, rather than one $or, which not every server answers from indexes.
            subjects = [{"flag_id": {"$in": ids}}, {"flag_ids": {"$in": ids}}]
        if actor is not None:
            query["actor"] = actor
        if action is not None:
            query["action"] = action
        if since is not None:
            query["at"] = {"$gte": since}
        upper = None
        if before is not None:
            before_id = as_object_id(before)
            if before_id is None:
                return []
            query["_id"] = {"$lt": before_id}
            # An event's time is its id's, to the second (clocks of other processes may differ a little more).
            upper = before_id.generation_time.replace(tzinfo=None) + timedelta(seconds=EVENT_CLOCK_SLACK_SECONDS)
        with translated_errors():
            if subjects:
                # A flag's history is a few events: its indexes answer it directly.
                found = [
                    document
                    for subject in subjects
                    for document in self._audit.find({**query, **subject}).sort("_id", DESCENDING).limit(limit)
                ]
            else:
                found = self._newest_events(query, limit, since, upper)
        newest = sorted(
            {document["_id"]: document for document in found}.values(), key=lambda d: d["_id"], reverse=True
        )
        return [public_document(d) for d in newest[:limit]]

    def _newest_events(
        self, query: dict[str, Any], limit: int, since: datetime | None, upper: datetime | None
    ) -> list[dict[str, Any]]:
        """The newest `limit` events matching query (and since), read back in time a widening window at a time.

        One query for the newest of them all makes the embedded database fetch every match (the whole log) to
        sort it; a window of time is a range of the time index, so each read costs what it finds. Windows grow
        eightfold from an hour until `limit` events are found (all older ones are older than these), or until
        `since` or WINDOWS_BACK of them have been read.
        """
        found: list[dict[str, Any]] = []
        span = timedelta(hours=1)
        now = utcnow().replace(tzinfo=None)
        start = now if upper is None else min(now, upper)
        for step in range(WINDOWS_BACK):
            lower = start - span
            last = since is not None and lower <= since.replace(tzinfo=None)
            window: dict[str, Any] = {"$gte": since if last else lower}
            # The first window is open above: an event stamped a little ahead (another clock) is still found.
            if step > 0 or upper is not None:
                window["$lt"] = start
            found += self._audit.find({**query, "at": window}).sort("_id", DESCENDING).limit(limit)
            if len(found) >= limit or last:
                break
            start, span = lower, span * 8
        return found

    def _flag_ids_for(self, ident: str) -> list[str]:
        """Resolve a flag id or name, live or deleted, to the flag ids whose history it names."""
        with translated_errors():
            live = self._find_flag_document(ident, {"_id": 1})
            if live is not None:
                return [str(live["_id"])]
            if as_object_id(ident) is not None and self._audit.find_one({"flag_id": ident}, {"_id": 1}):
                return [ident]
            # A deleted flag by name: the last flag that carried it, under that name or renamed to it. Two
            # indexed look-ups rather than one $or, which not every server answers from indexes.
            found = [
                self._audit.find_one({field: ident}, {"flag_id": 1}, sort=[("_id", DESCENDING)])
                for field in ("flag_name", "new_flag_name")
            ]
        found = [event for event in found if event is not None]
        return [max(found, key=lambda event: event["_id"])["flag_id"]] if found else []

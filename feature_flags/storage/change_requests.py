"""Change requests in MongoDB: each step a conditional write on the request's state, recorded with its event.

An approved request is applied like a schedule: claimed under a lease (by the approving request at once, or
by any instance's scheduler when its moment comes or its claimer died), then written to the flag once, under
the version the request was made on.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.client_session import ClientSession

from ..audit import actions
from ..errors import ChangeRequestNotFound, ChangeRequestState, TooManyChangeRequests
from .audit_log import RECENT_EVENT_IDS_KEPT
from .client import as_object_id, public_document, translated_errors, utcnow
from .flags import Written

NEVER = datetime(1970, 1, 1, tzinfo=UTC)
# Kept out of the API's view: who made it (as a key, to tell callers apart), who holds it, its event ids.
BOOKKEEPING = ("requested_by_key", "claimed_by", "lease_until", "recent_events", "attempts")
FINISHED_STATES = ("applied", "rejected", "cancelled", "failed")


class ChangeRequestStorage:
    """Reading, creating, reviewing, claiming and applying change requests."""

    def _change_request_indexes(self) -> None:
        self._change_requests.create_index([("state", ASCENDING), ("apply_at", ASCENDING)], name="due")
        self._change_requests.create_index([("flag_id", ASCENDING), ("_id", DESCENDING)], name="by_flag")
        self._change_requests.create_index([("state", ASCENDING), ("_id", DESCENDING)], name="by_state")

    @staticmethod
    def _change_request_out(document: dict[str, Any]) -> dict[str, Any]:
        request = public_document({k: v for k, v in document.items() if k not in BOOKKEEPING})
        for field in ("reviewed_by", "reviewed_at", "review_comment", "applied_at", "finished_at", "reason"):
            request.setdefault(field, None)
        return request

    def create_change_request(
        self,
        flag: dict[str, Any],
        changes: dict[str, Any],
        environments: Collection[str],
        apply_at: datetime | None,
        comment: str,
        actor: str,
        caller: str,
        request_id: str | None = None,
        max_open: int = 100,
        base: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store an open request to make `changes` (a PUT body) to the flag at its current version, with its event.

        base: what the flag held, at that version, of each thing the request changes (what a reviewer compares).
        """
        with translated_errors():
            # Counted before the insert: two racing creates may pass one over the bound, which stays bounded.
            pending = self._change_requests.count_documents(
                {"flag_id": flag["_id"], "state": {"$in": ["open", "approved"]}}
            )
        if pending >= max_open:
            raise TooManyChangeRequests(
                f"This flag already has {pending} open change requests; at most {max_open}. Settle some first.",
                details=[{"field": "(body)", "message": "too many open requests", "type": "too_many_change_requests"}],
            )
        now = utcnow()
        document = {
            "_id": ObjectId(),
            "flag_id": flag["_id"],
            "flag_name": flag["name"],
            "changes": changes,
            "base": base or {},
            "base_version": flag["version"],
            "environments": list(environments),
            "apply_at": apply_at,
            "comment": comment,
            "state": "open",
            "created_at": now,
            "requested_by": str(actor),
            "requested_by_key": caller,
            "lease_until": NEVER,
            "attempts": 0,
        }
        event = self._change_request_event(
            actions.CHANGE_REQUEST_CREATED,
            actor,
            request_id,
            document,
            before=None,
            after={
                "state": "open",
                "changes": changes,
                "base": base or {},
                "base_version": flag["version"],
                "apply_at": apply_at,
            },
        )
        document["recent_events"] = [event["_id"]]
        with translated_errors():
            self._insert_recorded(self._change_requests, document, event)
        return self._change_request_out(document)

    def pending_change_request_targeting(self) -> list[dict[str, Any]]:
        """Return the targeting (by environment) that each open or approved change request would write."""
        with translated_errors():
            documents = self._change_requests.find(
                {"state": {"$in": ["open", "approved"]}}, {"changes.targeting": 1, "_id": 0}
            )
            return [(document.get("changes") or {}).get("targeting") or {} for document in documents]

    def find_change_request(self, request_id: str) -> dict[str, Any]:
        """Return one change request (with its caller key), or raise ChangeRequestNotFound."""
        object_id = as_object_id(request_id)
        if object_id is None:
            raise ChangeRequestNotFound()
        with translated_errors():
            document = self._change_requests.find_one({"_id": object_id})
        if document is None:
            raise ChangeRequestNotFound()
        return {**self._change_request_out(document), "requested_by_key": document["requested_by_key"]}

    def find_change_requests(
        self, *, state: str | None = None, flag_id: str | None = None, before: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Return change requests newest first, filtered by state and flag, paged by id."""
        query: dict[str, Any] = {}
        if state is not None:
            query["state"] = state
        if flag_id is not None:
            query["flag_id"] = flag_id
        if before is not None:
            before_id = as_object_id(before)
            if before_id is None:
                return []
            query["_id"] = {"$lt": before_id}
        with translated_errors():
            found = self._change_requests.find(query).sort("_id", DESCENDING).limit(limit)
            return [self._change_request_out(document) for document in found]

    def change_change_request(
        self,
        current: dict[str, Any],
        from_states: Collection[str],
        to_state: str,
        action: str,
        actor: str,
        request_id: str | None = None,
        fields: dict[str, Any] | None = None,
        unclaimed: bool = False,
    ) -> dict[str, Any]:
        """Move a request from one of from_states to to_state with its event; raise ChangeRequestState otherwise.

        unclaimed: only while no one is applying it (a cancel must not race an application).
        """
        now = utcnow()
        fields = dict(fields or {})
        event = self._change_request_event(
            action,
            actor,
            request_id,
            current,
            before={"state": current["state"]},
            after={
                "state": to_state,
                **{k: v for k, v in fields.items() if k in ("review_comment", "reason", "base_version", "base")},
            },
        )
        if to_state in FINISHED_STATES:
            fields["finished_at"] = now
        condition: dict[str, Any] = {"_id": ObjectId(current["_id"]), "state": {"$in": list(from_states)}}
        if unclaimed:
            condition["lease_until"] = {"$lt": now}
        update = {
            "$set": {"state": to_state, **fields},
            "$push": {"recent_events": {"$each": [event["_id"]], "$slice": -RECENT_EVENT_IDS_KEPT}},
        }

        def write(session: ClientSession | None) -> bool:
            return self._change_requests.update_one(condition, update, session=session).modified_count == 1

        with translated_errors():
            if not self._record(write, event):
                state = self.find_change_request(current["_id"])["state"]
                raise ChangeRequestState(
                    f"The change request is {state}; this needs it to be {' or '.join(from_states)}"
                    + (" and not being applied." if unclaimed and state in from_states else "."),
                    state=state,
                )
        return self.find_change_request(current["_id"])

    def delete_change_requests(self, flag_id: str) -> int:
        """Delete every change request of a flag (it was deleted); return how many. Their events stay."""
        with translated_errors():
            return self._change_requests.delete_many({"flag_id": flag_id}).deleted_count

    # -- applying ----------------------------------------------------------------------------

    def claim_due_change_request(self, claimer: str, lease: timedelta) -> dict[str, Any] | None:
        """Take the earliest approved request whose moment has come and nobody holds, for `lease`; None if none.

        One atomic update: of any number of claimers, exactly one holds a request until its lease runs out.
        """
        now = utcnow()
        with translated_errors():
            document = self._change_requests.find_one_and_update(
                {"state": "approved", "apply_at": {"$lte": now}, "lease_until": {"$lt": now}},
                {"$set": {"claimed_by": claimer, "lease_until": now + lease}, "$inc": {"attempts": 1}},
                sort=[("apply_at", ASCENDING)],
                return_document=ReturnDocument.AFTER,
            )
        if document is None:
            return None
        return {**self._change_request_out(document), "claimed_by": claimer}

    def apply_change_request(
        self,
        change_request: dict[str, Any],
        changes: Callable[[dict[str, Any]], dict[str, Any]],
        actor: str,
        action: str,
        environment: str | None,
    ) -> Written:
        """Write a claimed request's changes to its flag under its base version and mark it applied, exactly once.

        As schedules are: the flag write records the request's id, so a second attempt finds it there and only
        marks the request; with transactions the mark is in the flag write's transaction.
        """
        request_id = change_request["_id"]
        marks: list[bool] = []

        def mark(session: ClientSession | None) -> bool:
            now = utcnow()
            event = self._change_request_event(
                actions.CHANGE_REQUEST_APPLIED,
                actor,
                None,
                change_request,
                before={"state": "approved"},
                after={"state": "applied"},
            )
            result = self._change_requests.update_one(
                {"_id": ObjectId(request_id), "state": "approved"},
                {
                    "$set": {"state": "applied", "applied_at": now, "finished_at": now, "lease_until": NEVER},
                    "$push": {"recent_events": {"$each": [event["_id"]], "$slice": -RECENT_EVENT_IDS_KEPT}},
                },
                session=session,
            )
            marks.append(result.modified_count == 1)
            if marks[-1]:
                self._audit.insert_one(event, session=session)
            return marks[-1]

        written = self.update_flag(
            change_request["flag_id"],
            changes,
            actor,
            expected_version=change_request["base_version"],
            action=action,
            environment=environment,
            once=request_id,
            event_fields={
                "change_request_id": request_id,
                "requested_by": change_request["requested_by"],
                "approved_by": change_request["reviewed_by"],
            },
            also=mark,
        )
        if not marks:
            # The flag carries the request already (an earlier attempt wrote it): only the mark is left.
            with translated_errors():
                mark(None)
        return written

    def _change_request_event(
        self,
        action: str,
        actor: str,
        request_id: str | None,
        change_request: dict[str, Any],
        **fields: Any,
    ) -> dict[str, Any]:
        environments = change_request["environments"]
        return self._event(
            action,
            actor,
            request_id,
            flag_id=change_request["flag_id"],
            flag_name=change_request["flag_name"],
            environment=environments[0] if len(environments) == 1 else None,
            change_request_id=str(change_request["_id"]),
            **fields,
        )

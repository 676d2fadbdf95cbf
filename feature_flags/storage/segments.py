"""Segments in MongoDB: named lists of conditions rules share, written like flags (versioned, audited, counted)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pymongo
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from ..audit import actions
from ..errors import DatabaseUnavailable, SegmentNameTaken, SegmentNotFound, VersionConflict
from .audit_log import RECENT_EVENT_IDS_KEPT
from .changes import FULL_READ_TIMEOUT_SECONDS, translated_changes
from .client import as_object_id, public_document, translated_errors, utcnow
from .flags import MAX_WRITE_ATTEMPTS

# What a segment event's before and after hold.
SEGMENT_CONTENT_FIELDS = ("name", "description", "conditions")


@dataclass(frozen=True)
class SegmentWritten:
    """A segment as a write left it (or as it was, for a delete), and the flags revision the write reached."""

    segment: dict[str, Any]
    revision: int | None


# The flags a segment change changes, as {"_id", "name"} dicts, worked out from the segment as it is.
FlagsUsing = Callable[[dict[str, Any]], list[dict[str, Any]]]


def _users(event: dict[str, Any], flags: list[dict[str, Any]]) -> dict[str, Any]:
    # Left out when none, so the sparse history index holds only the events that name flags.
    if flags:
        event["flag_ids"] = [flag["_id"] for flag in flags]
        event["flag_names"] = [flag["name"] for flag in flags]
    return event


class SegmentStorage:
    """Reading and changing segments; each write bumps the flags revision, since it changes evaluation."""

    def _segment_filter(self, ident: str) -> dict[str, Any]:
        object_id = as_object_id(ident)
        return {"name": ident} if object_id is None else {"$or": [{"_id": object_id}, {"name": ident}]}

    @staticmethod
    def _segment_out(document: dict[str, Any]) -> dict[str, Any]:
        return public_document(document)

    def find_segment(self, ident: str) -> dict[str, Any]:
        """Return the segment with this id or name, or raise SegmentNotFound."""
        with translated_errors():
            document = self._segments.find_one(self._segment_filter(ident), {"recent_events": 0})
        if document is None:
            raise SegmentNotFound()
        return self._segment_out(document)

    def find_all_segments(self) -> list[dict[str, Any]]:
        """Return every segment as the API shows them (for export and import)."""
        with translated_errors(), pymongo.timeout(FULL_READ_TIMEOUT_SECONDS):
            return [self._segment_out(d) for d in self._segments.find({}, {"recent_events": 0})]

    def load_segments(self) -> list[dict[str, Any]]:
        """Return every segment, for a change follower's full read (raises ChangesLost, not DatabaseUnavailable)."""
        with translated_changes(), pymongo.timeout(FULL_READ_TIMEOUT_SECONDS):
            return [self._segment_out(d) for d in self._segments.find({}, {"recent_events": 0})]

    def _new_segment(
        self, fields: dict[str, Any], actor: str, request_id: str | None, now: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return a new segment's document and its created event (shared with flag batches)."""
        document = {
            "_id": ObjectId(),
            "name": fields["name"],
            "description": fields.get("description", ""),
            "conditions": fields["conditions"],
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "created_by": actor,
            "updated_by": actor,
        }
        content = {key: document[key] for key in SEGMENT_CONTENT_FIELDS}
        event = self._event(
            actions.SEGMENT_CREATED,
            actor,
            request_id,
            segment_id=str(document["_id"]),
            segment_name=document["name"],
            before=None,
            after={**content, "version": 1},
        )
        document["recent_events"] = [event["_id"]]
        return document, event

    def create_segment(
        self, fields: dict[str, Any], actor: str, request_id: str | None = None, flags: FlagsUsing | None = None
    ) -> SegmentWritten:
        """Insert a segment with its created event; raise SegmentNameTaken on a clash."""
        document, event = self._new_segment(fields, actor, request_id, utcnow())
        _users(event, flags(self._segment_out(document)) if flags else [])
        with translated_errors():
            try:
                self._insert_recorded(self._segments, document, event)
            except DuplicateKeyError:
                raise SegmentNameTaken() from None
        return SegmentWritten(self._segment_out(document), self._bump_flags_revision())

    def update_segment(
        self,
        ident: str,
        changes: Callable[[dict[str, Any]], dict[str, Any]],
        actor: str,
        request_id: str | None = None,
        expected_version: int | None = None,
        flags: FlagsUsing | None = None,
    ) -> SegmentWritten:
        """Apply changes (a function of the current segment) atomically; the event names the flags it changes."""
        for attempt in range(MAX_WRITE_ATTEMPTS):
            current = self.find_segment(ident)
            if expected_version is not None and current["version"] != expected_version:
                raise VersionConflict(current_version=current["version"])
            wanted = changes(current)
            updates = {key: value for key, value in wanted.items() if current.get(key) != value}
            if not updates:
                return SegmentWritten(current, None)
            event = self._event(
                actions.SEGMENT_UPDATED,
                actor,
                request_id,
                segment_id=current["_id"],
                segment_name=current["name"],
                before={key: current.get(key) for key in updates},
                after={**updates, "version": current["version"] + 1},
            )
            _users(event, flags(current) if flags else [])
            now = utcnow()
            update = {
                "$set": {**updates, "updated_at": now, "updated_by": actor},
                "$inc": {"version": 1},
                "$push": {"recent_events": {"$each": [event["_id"]], "$slice": -RECENT_EVENT_IDS_KEPT}},
            }
            write = self._conditional(self._segments.update_one, current, update)
            with translated_errors():
                try:
                    applied = self._record(write, event)
                except DuplicateKeyError:
                    raise SegmentNameTaken() from None
            if applied:
                segment = {**current, **updates, "version": current["version"] + 1, "updated_at": now}
                return SegmentWritten({**segment, "updated_by": actor}, self._bump_flags_revision())
            if expected_version is not None:
                raise VersionConflict()
            time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
        raise DatabaseUnavailable("The segment is changing too fast to apply this change; retry.")

    def delete_segment(
        self,
        ident: str,
        actor: str,
        request_id: str | None = None,
        expected_version: int | None = None,
        check: Callable[[dict[str, Any]], None] | None = None,
    ) -> SegmentWritten:
        """Delete the segment and record the event; check(segment) may refuse first. Return what was deleted."""
        for _ in range(MAX_WRITE_ATTEMPTS):
            current = self.find_segment(ident)
            if expected_version is not None and current["version"] != expected_version:
                raise VersionConflict(current_version=current["version"])
            if check is not None:
                check(current)
            event = self._event(
                actions.SEGMENT_DELETED,
                actor,
                request_id,
                segment_id=current["_id"],
                segment_name=current["name"],
                before={**{key: current.get(key) for key in SEGMENT_CONTENT_FIELDS}, "version": current["version"]},
                after=None,
            )
            write = self._conditional(self._segments.delete_one, current)
            with translated_errors():
                if self._record(write, event):
                    return SegmentWritten(current, self._bump_flags_revision())
            if expected_version is not None:
                raise VersionConflict()
        raise DatabaseUnavailable("The segment is changing too fast to delete it; retry.")

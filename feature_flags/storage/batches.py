"""Many flag (and segment) writes as one: all land with their audit events, or none do (imports, copies).

With transactions the batch is one transaction over both collections. Without them (a standalone server) it
is journalled: each flag's or segment's stored document is saved before it is changed, the events are written
held back (state "batch"), then the documents are written one by one (segments first) on the versions read; a
write that fails or finds its document changed rolls every earlier one back from the journal. A crash in
between leaves the journal, which recover_flag_batches() rolls back at the next start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import pymongo
from bson import ObjectId
from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError

from ..audit import actions
from ..errors import DatabaseUnavailable, FlagNameTaken, VersionConflict
from .audit_log import RECENT_EVENT_IDS_KEPT, _StaleWrite
from .changes import FULL_READ_TIMEOUT_SECONDS
from .client import translated_errors, utcnow
from .context_attributes import DESCRIBED_FIELDS
from .segments import SEGMENT_CONTENT_FIELDS

# A journal younger than this may belong to a batch still being written by another process.
BATCH_GRACE = timedelta(seconds=120)
JOURNAL_BATCH = 200
# A batch of 10,000 flags is one transaction: far more than one operation's ordinary timeout.
BATCH_TIMEOUT_SECONDS = 120.0


@dataclass
class FlagWrite:
    """One flag's part in a batch: create it from fields, set fields on it, or delete it.

    ``current`` is the flag as the caller read it (its id and version): the write is made on that version.
    """

    kind: Literal["create", "update", "delete"]
    fields: dict[str, Any] = field(default_factory=dict)
    current: dict[str, Any] | None = None
    environment: str | None = None


@dataclass
class SegmentWrite:
    """One segment's part in a batch, as FlagWrite is a flag's (``current`` carries its id and version)."""

    kind: Literal["create", "update", "delete"]
    fields: dict[str, Any] = field(default_factory=dict)
    current: dict[str, Any] | None = None


@dataclass
class ContextFieldWrite:
    """One described context field's part in a batch, as SegmentWrite is a segment's."""

    kind: Literal["create", "update", "delete"]
    fields: dict[str, Any] = field(default_factory=dict)
    current: dict[str, Any] | None = None


@dataclass(frozen=True)
class BatchWritten:
    """What a batch left: the flags and segments created or updated, the ids deleted, the flags revision reached."""

    flags: list[dict[str, Any]]
    deleted_ids: list[str]
    revision: int | None
    segments: list[dict[str, Any]] = field(default_factory=list)
    deleted_segment_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Named:
    """What a batch needs to know of a kind of document known by a unique name: segments, described fields."""

    collection: str
    noun: str
    fields: tuple[str, ...]
    updated: str
    deleted: str
    # Whether its events carry the version (a segment's do, as its own writes record them).
    versioned_events: bool
    # Makes a new document and its created event from the fields, as the kind's own create does.
    new: Callable[..., tuple[dict[str, Any], dict[str, Any]]]


# A step: the document the write leaves (or deletes), its event, its kind, the stored document, its collection.
Step = tuple[dict[str, Any], dict[str, Any], str, dict[str, Any] | None, str]


class FlagBatches:
    """Writing many flags all-or-nothing, each change with its event, plus one event for the whole batch."""

    def find_all_flags(self) -> list[dict[str, Any]]:
        """Return every flag, archived ones included, as the API shows them."""
        # As the flag cache's full read: 10,000 flags take longer than one operation's ordinary timeout.
        with translated_errors(), pymongo.timeout(FULL_READ_TIMEOUT_SECONDS):
            return [self._flag_out(d) for d in self._flags.find({}, {"recent_events": 0}, batch_size=1000)]

    def write_flags(
        self,
        writes: list[FlagWrite],
        actor: str,
        request_id: str | None = None,
        summary: dict[str, Any] | None = None,
        segment_writes: list[SegmentWrite] | None = None,
        context_field_writes: list[ContextFieldWrite] | None = None,
    ) -> BatchWritten:
        """Apply every write or none; raise VersionConflict if a flag changed since it was read, FlagNameTaken.

        summary, when given, is recorded as one more event (its action and fields) for the batch as a whole.
        Segment writes come first, so flags naming a new segment never land before it; described context fields
        (which nothing names) last.
        """
        now = utcnow()
        segment_writes = segment_writes or []
        context_field_writes = context_field_writes or []
        with translated_errors():
            raw = self._raw_documents(self._flags, writes)
            raw_segments = self._raw_documents(self._segments, segment_writes)
            raw_fields = self._raw_documents(self._context_fields, context_field_writes)
        segments = _Named(self._segments.name, "segment", SEGMENT_CONTENT_FIELDS, actions.SEGMENT_UPDATED,
                          actions.SEGMENT_DELETED, versioned_events=True, new=self._new_segment)  # fmt: skip
        fields = _Named(self._context_fields.name, "context_field", DESCRIBED_FIELDS, actions.CONTEXT_FIELD_UPDATED,
                        actions.CONTEXT_FIELD_DELETED, versioned_events=False, new=self._new_context_field)  # fmt: skip
        steps = [self._named_step(write, raw_segments, actor, request_id, now, segments) for write in segment_writes]
        steps += [self._step(write, raw, actor, request_id, now) for write in writes]
        steps += [self._named_step(write, raw_fields, actor, request_id, now, fields) for write in context_field_writes]
        events = [step[1] for step in steps]
        if summary is not None:
            events.append(self._event(summary.pop("action"), actor, request_id, **summary))
        if not steps:
            return BatchWritten([], [], None)
        with translated_errors():
            try:
                if self.supports_transactions:
                    self._write_in_transaction(steps, events)
                else:
                    self._write_journalled(steps, events)
            except DuplicateKeyError:
                raise FlagNameTaken(
                    "A flag or segment name in the batch is taken by another; nothing was written."
                ) from None
            except _StaleWrite:
                raise VersionConflict("A flag changed while the batch was written; nothing was written.") from None
        out = {self._flags.name: self._flag_out, self._segments.name: self._segment_out}
        kept: dict[str, list[dict[str, Any]]] = {name: [] for name in out}
        deleted: dict[str, list[str]] = {name: [] for name in out}
        for document, _, kind, _, collection in steps:
            if collection not in out:
                continue
            if kind == "delete":
                deleted[collection].append(str(document["_id"]))
            else:
                kept[collection].append(out[collection](document))
        flags, segments = self._flags.name, self._segments.name
        return BatchWritten(kept[flags], deleted[flags], self._bump_flags_revision(), kept[segments], deleted[segments])

    @staticmethod
    def _raw_documents(
        collection: Any, writes: list[FlagWrite] | list[SegmentWrite] | list[ContextFieldWrite]
    ) -> dict[str, dict[str, Any]]:
        ids = [ObjectId(write.current["_id"]) for write in writes if write.current is not None]
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 1000):
            for document in collection.find({"_id": {"$in": ids[start : start + 1000]}}):
                found[str(document["_id"])] = document
        return found

    @staticmethod
    def _changed(stored: dict[str, Any], fields: dict[str, Any], event: dict[str, Any], actor: str, now: Any) -> dict:
        """Return the stored document with fields set, one version on, and the event among its recent ones."""
        recent = [*stored.get("recent_events", []), event["_id"]][-RECENT_EVENT_IDS_KEPT:]
        return {
            **stored,
            **fields,
            "version": stored["version"] + 1,
            "updated_at": now,
            "updated_by": actor,
            "recent_events": recent,
        }

    @staticmethod
    def _stored(raw: dict[str, dict[str, Any]], current: dict[str, Any], what: str) -> dict[str, Any]:
        stored = raw.get(current["_id"])
        if stored is None or stored["version"] != current["version"]:
            raise VersionConflict(f"A {what} changed while the batch was prepared; nothing was written.")
        return stored

    def _named_step(
        self,
        write: SegmentWrite | ContextFieldWrite,
        raw: dict[str, dict[str, Any]],
        actor: str,
        request_id: str | None,
        now: Any,
        named: _Named,
    ) -> Step:
        """Return the step of a write to a segment or a described field: documents known by a unique name."""
        if write.kind == "create":
            document, event = named.new(write.fields, actor, request_id, now)
            return document, event, "create", None, named.collection
        current = write.current or {}
        stored = self._stored(raw, current, named.noun.replace("_", " "))
        ids = {f"{named.noun}_id": current["_id"], f"{named.noun}_name": current["name"]}
        version = {"version": current["version"]} if named.versioned_events else {}
        if write.kind == "delete":
            before = {**{key: current.get(key) for key in named.fields}, **version}
            event = self._event(named.deleted, actor, request_id, **ids, before=before, after=None)
            return stored, event, "delete", stored, named.collection
        after = {**write.fields, **({"version": stored["version"] + 1} if named.versioned_events else {})}
        event = self._event(
            named.updated,
            actor,
            request_id,
            **ids,
            before={key: current.get(key) for key in write.fields},
            after=after,
        )
        return self._changed(stored, write.fields, event, actor, now), event, "update", stored, named.collection

    def _step(
        self, write: FlagWrite, raw: dict[str, dict[str, Any]], actor: str, request_id: str | None, now: Any
    ) -> Step:
        """Return a flag write's step: the document it leaves (or deletes), its event, kind, stored document."""
        collection = self._flags.name
        if write.kind == "create":
            fields = dict(write.fields)
            archived_at = fields.pop("archived_at", None)
            document, event = self._new_flag(fields, actor, request_id, now)
            document["archived_at"] = archived_at
            event["after"]["archived_at"] = archived_at
            return document, event, "create", None, collection
        current = write.current or {}
        stored = self._stored(raw, current, "flag")
        if write.kind == "delete":
            event = self._deleted_event(current, actor, request_id)
            return stored, event, "delete", stored, collection
        before = {key: current.get(key) for key in write.fields}
        version = stored["version"] + 1
        event = self._event(
            actions.FLAG_UPDATED,
            actor,
            request_id,
            flag_id=current["_id"],
            flag_name=current["name"],
            environment=write.environment,
            before=before,
            after={**write.fields, "version": version},
        )
        return self._changed(stored, write.fields, event, actor, now), event, "update", stored, collection

    def _collection(self, name: str | None) -> Any:
        # Journal entries written before segments joined batches name no collection: they are flags'.
        if name == self._context_fields.name:
            return self._context_fields
        return self._segments if name == self._segments.name else self._flags

    def _apply(self, step: Step, session: ClientSession | None) -> bool:
        document, _, kind, _, name = step
        collection = self._collection(name)
        if kind == "create":
            collection.insert_one(document, session=session)
            return True
        on_version = {"_id": document["_id"], "version": document["version"] - (kind == "update")}
        if kind == "delete":
            return collection.delete_one(on_version, session=session).deleted_count == 1
        return collection.replace_one(on_version, document, session=session).modified_count == 1

    def _write_in_transaction(self, steps: list, events: list[dict[str, Any]]) -> None:
        def apply(session: ClientSession) -> None:
            self._audit.insert_many(events, session=session)
            for step in steps:
                if not self._apply(step, session):
                    raise _StaleWrite()

        self._in_transaction(apply, BATCH_TIMEOUT_SECONDS)

    def _write_journalled(self, steps: list, events: list[dict[str, Any]]) -> None:
        batch = ObjectId()
        self._batches.insert_one({"_id": batch, "state": "applying", "at": utcnow()})
        entries = [
            {
                "batch": batch,
                "flag_id": document["_id"],
                "collection": collection,
                "event_id": event["_id"],
                # Updates and deletes come back as they were; a created flag or segment is simply removed.
                "before": before,
            }
            for document, event, _, before, collection in steps
        ]
        try:
            for start in range(0, len(entries), JOURNAL_BATCH):
                self._batches.insert_many(entries[start : start + JOURNAL_BATCH], ordered=False)
            self._audit.insert_many([{**event, "state": "batch", "batch": batch} for event in events])
            for step in steps:
                self._step_hook(step)
                if not self._apply(step, None):
                    raise _StaleWrite()
        except BaseException:
            # If the database is away, the journal stays and recovery at the next start rolls the batch back.
            with contextlib.suppress(DatabaseUnavailable):
                self._roll_back(batch)
            raise
        self._batches.update_one({"_id": batch}, {"$set": {"state": "committed"}})
        self._finish(batch)

    def _step_hook(self, step: Step) -> None:
        """Called before each journalled write: the place tests inject a failure half-way through."""

    def _roll_back(self, batch: ObjectId) -> None:
        with translated_errors():
            for entry in self._batches.find({"batch": batch}):
                before = entry["before"]
                collection = self._collection(entry.get("collection"))
                if before is None:
                    collection.delete_one({"_id": entry["flag_id"], "recent_events": entry["event_id"]})
                elif collection.find_one({"_id": entry["flag_id"]}, {"_id": 1}) is None:
                    # If its name was taken meanwhile, the deleted document stays deleted (its history keeps it).
                    with contextlib.suppress(DuplicateKeyError):
                        collection.insert_one(before)
                else:
                    # Only a document this batch changed: its event is among its recent ones.
                    collection.replace_one({"_id": entry["flag_id"], "recent_events": entry["event_id"]}, before)
            self._audit.delete_many({"batch": batch})
            self._batches.delete_many({"batch": batch})
            self._batches.delete_one({"_id": batch})

    def _finish(self, batch: ObjectId) -> None:
        with translated_errors():
            self._audit.update_many({"batch": batch}, {"$unset": {"state": "", "batch": ""}})
            self._batches.delete_many({"batch": batch})
            self._batches.delete_one({"_id": batch})

    def recover_flag_batches(self, grace: timedelta = BATCH_GRACE) -> int:
        """Roll back batches a crash left half-written, finish committed ones; return how many were settled."""
        settled = 0
        with translated_errors():
            headers = list(self._batches.find({"state": {"$exists": True}, "at": {"$lt": utcnow() - grace}}))
        for header in headers:
            if header["state"] == "committed":
                self._finish(header["_id"])
            else:
                self._roll_back(header["_id"])
            settled += 1
        return settled

"""Flags in MongoDB: conditional writes on the version read, each recorded with its audit event."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError

from ..audit import actions
from ..errors import (
    DatabaseUnavailable,
    FlagArchived,
    FlagNameTaken,
    FlagNotFound,
    ScheduleNotPending,
    VersionConflict,
)
from ..evaluation.engine import with_defaults
from .audit_log import RECENT_EVENT_IDS_KEPT
from .client import as_object_id, public_document, translated_errors, utcnow

# The writes allowed on an archived flag: the ones that archive or revive it.
LIFECYCLE_ACTIONS = frozenset({actions.FLAG_ARCHIVED, actions.FLAG_REVIVED})
# Schedule ids a flag remembers having applied: far more than can be retried within one lease.
APPLIED_SCHEDULES_KEPT = 50
# Optimistic writes retry when another writer got there first; this bounds the loop.
MAX_WRITE_ATTEMPTS = 200


@dataclass(frozen=True)
class Written:
    """A flag as a write left it (or as it was, for a delete), and the flags revision the write reached.

    The revision is None when nothing changed or the counter could not be bumped; whoever keeps a copy of the
    flags (the flag cache) publishes it, so other processes of this host read the write too.
    """

    flag: dict[str, Any]
    revision: int | None


class FlagStorage:
    """Reading and changing flags."""

    # -- flags -------------------------------------------------------------------------------

    def _find_flag_document(self, ident: str, projection: dict[str, Any]) -> dict[str, Any] | None:
        """The stored flag with this id, else with this name: two point look-ups on unique indexes.

        Not one $or of both, which the embedded database answers by reading every flag (200 ms at 10,000).
        A name never has an id's shape (validation refuses it), but a stored one may predate that rule.
        """
        object_id = as_object_id(ident)
        if object_id is not None:
            document = self._flags.find_one({"_id": object_id}, projection)
            if document is not None:
                return document
        return self._flags.find_one({"name": ident}, projection)

    def _flag_out(self, document: dict[str, Any]) -> dict[str, Any]:
        flag = public_document(document)
        stored = document.get("environments") or {}
        flag["environments"] = {env: bool(stored.get(env, False)) for env in self.environments}
        # Flags stored before these fields existed read back with their defaults.
        flag.setdefault("tags", [])
        flag.setdefault("type", "release")
        flag.setdefault("archived_at", None)
        flag.setdefault("marked_stale", False)
        # And before variants and targeting existed, as plain booleans.
        return with_defaults(flag)

    def find_flag(self, ident: str) -> dict[str, Any]:
        """Return the flag with this id or name, or raise FlagNotFound."""
        with translated_errors():
            document = self._find_flag_document(ident, {"recent_events": 0})
        if document is None:
            raise FlagNotFound()
        return self._flag_out(document)

    def count_flags(self) -> int:
        """Return how many flags exist, from the collection's metadata (no scan; exact once writes settle)."""
        with translated_errors():
            return self._flags.estimated_document_count()

    def _new_flag(
        self, fields: dict[str, Any], actor: str, request_id: str | None, now: datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return a new flag's document and its created event, linked to each other."""
        given = fields.get("environments") or {}
        document = {
            "_id": ObjectId(),
            "name": fields["name"],
            "description": fields.get("description", ""),
            "environments": {env: bool(given.get(env, False)) for env in self.environments},
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "created_by": actor,
            "updated_by": actor,
            "tags": fields.get("tags", []),
            "type": fields.get("type", "release"),
            "archived_at": None,
            "marked_stale": False,
        }
        extra = {key: value for key, value in fields.items() if key not in document and key != "environments"}
        document.update(extra)
        event = self._event(
            actions.FLAG_CREATED,
            actor,
            request_id,
            flag_id=str(document["_id"]),
            flag_name=document["name"],
            before=None,
            after=self._snapshot(document),
        )
        document["recent_events"] = [event["_id"]]
        return document, event

    def create_flag(self, fields: dict[str, Any], actor: str, request_id: str | None = None) -> Written:
        """Insert a new flag with its created event; raise FlagNameTaken on a clash."""
        document, event = self._new_flag(fields, actor, request_id, utcnow())
        with translated_errors():
            try:
                self._insert_recorded(self._flags, document, event)
            except DuplicateKeyError:
                raise FlagNameTaken() from None
        return Written(self._flag_out(document), self._bump_flags_revision())

    def create_flags(self, many: list[dict[str, Any]], actor: str, batch: int = 1000) -> int:
        """Insert many new flags with their created events, a batch at a time; return how many.

        The pending-event protocol of a standalone server, in bulk: events are written pending, then the
        flags, then the events confirmed, so recovery settles a crash in between. Raise FlagNameTaken (the
        batch's earlier flags stay, with their events) on a clash.
        """
        created = 0
        with translated_errors():
            for start in range(0, len(many), batch):
                now = utcnow()
                pairs = [self._new_flag(fields, actor, None, now) for fields in many[start : start + batch]]
                events = [event for _, event in pairs]
                self._audit.insert_many([{**event, "state": "pending"} for event in events])
                try:
                    self._flags.insert_many([document for document, _ in pairs], ordered=True)
                except DuplicateKeyError:
                    # The flags before the clash were inserted: their events stay, the others go.
                    self._settle(events)
                    raise FlagNameTaken() from None
                self._audit.update_many({"_id": {"$in": [event["_id"] for event in events]}}, {"$unset": {"state": ""}})
                created += len(pairs)
        self._bump_flags_revision()
        return created

    @staticmethod
    def _snapshot(document: dict[str, Any]) -> dict[str, Any]:
        keep = (
            "name",
            "description",
            "environments",
            "variants",
            "off_variant",
            "targeting",
            "stickiness",
            "tags",
            "type",
            "marked_stale",
            "archived_at",
            "version",
        )
        return {key: document[key] for key in keep if key in document}

    def update_flag(
        self,
        ident: str,
        changes: Callable[[dict[str, Any]], dict[str, Any]] | dict[str, Any],
        actor: str,
        request_id: str | None = None,
        expected_version: int | None = None,
        action: str = actions.FLAG_UPDATED,
        environment: str | None = None,
        once: str | None = None,
        event_fields: dict[str, Any] | None = None,
        also: Callable[[ClientSession | None], bool] | None = None,
    ) -> Written:
        """Apply changes (a dict, or a function of the current flag) atomically and record the event.

        ``environments`` in the changes merges key by key. Without ``expected_version`` a write
        that loses a race is retried on the fresh document; with it, a race is a VersionConflict.
        ``once`` names the write (a schedule id): a flag that already carries it is left as it is.
        ``also`` runs after the flag write, in its transaction where there is one; False there undoes both.
        """
        for attempt in range(MAX_WRITE_ATTEMPTS):
            current = self.find_flag(ident)
            # Checked after the read: if the name lands later, the version read is gone and the write fails.
            if once is not None and self._carries(current["_id"], once):
                return Written(current, None)
            if expected_version is not None and current["version"] != expected_version:
                raise VersionConflict(current_version=current["version"])
            # Checked on the document the conditional write is made against, so an archive racing in is seen.
            if current["archived_at"] is not None and action not in LIFECYCLE_ACTIONS:
                raise FlagArchived()
            wanted = changes(current) if callable(changes) else changes
            updates: dict[str, Any] = {}
            before: dict[str, Any] = {}
            after: dict[str, Any] = {}
            for key, value in wanted.items():
                if key == "environments":
                    for env, enabled in value.items():
                        if current["environments"].get(env) != enabled:
                            updates[f"environments.{env}"] = enabled
                            before.setdefault("environments", {})[env] = current["environments"].get(env)
                            after.setdefault("environments", {})[env] = enabled
                elif current.get(key) != value:
                    updates[key] = value
                    before[key] = current.get(key)
                    after[key] = value
            if not updates:
                return Written(current, None)
            now = utcnow()
            version = current["version"]
            event = self._event(
                action,
                actor,
                request_id,
                flag_id=current["_id"],
                flag_name=current["name"],
                environment=environment,
                before=before,
                after={**after, "version": version + 1},
                **(event_fields or {}),
            )
            if "name" in updates:
                event["new_flag_name"] = updates["name"]

            update = {
                "$set": {**updates, "updated_at": now, "updated_by": actor},
                "$inc": {"version": 1},
                "$push": {"recent_events": {"$each": [event["_id"]], "$slice": -RECENT_EVENT_IDS_KEPT}},
            }
            if once is not None:
                update["$push"]["applied_schedules"] = {"$each": [once], "$slice": -APPLIED_SCHEDULES_KEPT}
            write = self._conditional(self._flags.update_one, current, update)
            if also is not None:
                write = self._followed_by(write, also)
            with translated_errors():
                try:
                    applied = self._record(write, event)
                except DuplicateKeyError:
                    raise FlagNameTaken() from None
            if applied:
                return Written(self._merged(current, updates, now, actor), self._bump_flags_revision())
            if expected_version is not None:
                raise VersionConflict()
            time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
        raise DatabaseUnavailable("The flag is changing too fast to apply this change; retry.")

    def _carries(self, flag_id: str, once: str) -> bool:
        with translated_errors():
            return self._flags.count_documents({"_id": ObjectId(flag_id), "applied_schedules": once}, limit=1) == 1

    @staticmethod
    def _followed_by(
        write: Callable[[ClientSession | None], bool], also: Callable[[ClientSession | None], bool]
    ) -> Callable[[ClientSession | None], bool]:
        """Return write, then also in the same session; also's False aborts a transaction (ScheduleNotPending)."""

        def both(session: ClientSession | None) -> bool:
            if not write(session):
                return False
            # Without a transaction the flag write has landed already: its event must be confirmed regardless.
            if not also(session) and session is not None:
                raise ScheduleNotPending()
            return True

        return both

    @staticmethod
    def _conditional(operation: Callable[..., Any], current: dict[str, Any], *args: Any) -> Callable:
        """Return a write that applies only if the flag is still at the version we read."""

        def write(session: ClientSession | None) -> bool:
            result = operation({"_id": ObjectId(current["_id"]), "version": current["version"]}, *args, session=session)
            return (getattr(result, "modified_count", None) or getattr(result, "deleted_count", 0)) == 1

        return write

    def _merged(self, current: dict[str, Any], updates: dict[str, Any], now: datetime, actor: str) -> dict[str, Any]:
        flag = {**current, "environments": dict(current["environments"])}
        for key, value in updates.items():
            if key.startswith("environments."):
                flag["environments"][key.split(".", 1)[1]] = value
            else:
                flag[key] = value
        flag.update(version=current["version"] + 1, updated_at=now, updated_by=actor)
        return flag

    def toggle_flag(
        self,
        ident: str,
        environment: str,
        actor: str,
        request_id: str | None = None,
        expected_version: int | None = None,
    ) -> Written:
        """Flip the flag in one environment; concurrent toggles are each applied exactly once."""
        return self.update_flag(
            ident,
            lambda current: {"environments": {environment: not current["environments"][environment]}},
            actor,
            request_id,
            expected_version,
            action=actions.FLAG_TOGGLED,
            environment=environment,
        )

    def archive_flag(
        self,
        ident: str,
        actor: str,
        request_id: str | None = None,
        expected_version: int | None = None,
        check: Callable[[dict[str, Any]], None] | None = None,
        event_fields: dict[str, Any] | None = None,
    ) -> Written:
        """Archive the flag (evaluation stops serving it, its name stays taken); an archived flag is left as it is.

        check(flag), called with the flag as the write finds it, may refuse; event_fields go on the event.
        """
        return self._set_archived(True, ident, actor, request_id, expected_version, check, event_fields)

    def revive_flag(
        self,
        ident: str,
        actor: str,
        request_id: str | None = None,
        expected_version: int | None = None,
        check: Callable[[dict[str, Any]], None] | None = None,
    ) -> Written:
        """Bring an archived flag back as it was; a live flag is left as it is. check(flag) may refuse first."""
        return self._set_archived(False, ident, actor, request_id, expected_version, check)

    def _set_archived(
        self,
        archived: bool,
        ident: str,
        actor: str,
        request_id: str | None,
        expected_version: int | None,
        check: Callable[[dict[str, Any]], None] | None,
        event_fields: dict[str, Any] | None = None,
    ) -> Written:
        def changed(current: dict[str, Any]) -> dict[str, Any]:
            if check is not None:
                check(current)
            # An archived flag keeps the moment it was first archived.
            return {"archived_at": (current["archived_at"] or utcnow()) if archived else None}

        action = actions.FLAG_ARCHIVED if archived else actions.FLAG_REVIVED
        return self.update_flag(
            ident, changed, actor, request_id, expected_version, action=action, event_fields=event_fields
        )

    def _deleted_event(self, flag: dict[str, Any], actor: str, request_id: str | None, **fields: Any) -> dict:
        """Return the audit event of a flag's deletion: the flag as it was, and nothing after."""
        return self._event(
            actions.FLAG_DELETED,
            actor,
            request_id,
            flag_id=flag["_id"],
            flag_name=flag["name"],
            before=self._snapshot(flag),
            after=None,
            **fields,
        )

    def delete_flag(
        self,
        ident: str,
        actor: str,
        request_id: str | None = None,
        expected_version: int | None = None,
        check: Callable[[dict[str, Any]], None] | None = None,
        event_fields: dict[str, Any] | None = None,
    ) -> Written:
        """Delete the flag and record the event; check(flag) may refuse first. Return what was deleted."""
        for _ in range(MAX_WRITE_ATTEMPTS):
            current = self.find_flag(ident)
            if expected_version is not None and current["version"] != expected_version:
                raise VersionConflict(current_version=current["version"])
            if check is not None:
                check(current)
            event = self._deleted_event(current, actor, request_id, **(event_fields or {}))

            write = self._conditional(self._flags.delete_one, current)

            with translated_errors():
                if self._record(write, event):
                    return Written(current, self._bump_flags_revision())
            if expected_version is not None:
                raise VersionConflict()
        raise DatabaseUnavailable("The flag is changing too fast to delete it; retry.")

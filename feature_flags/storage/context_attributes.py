"""Context fields: the attribute names applications send in their evaluation contexts, per environment, and the
ones admins describe (what a field means, its type, its known values); both are what rule editors offer.

Counted in each process where usage is counted and added here with its flush. A client controls the names it
sends, so the collection is bounded: each environment keeps its MAX_KEPT most frequent names, and a name not seen
for a month expires (a TTL index). Counts are approximate by design (a flush lost with a database outage is not
sent again): they rank names, nothing is billed or alerted on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError

from ..audit import actions
from ..errors import ContextFieldNameTaken, ContextFieldNotFound, TooManyContextFields
from .audit_log import RECENT_EVENT_IDS_KEPT
from .client import public_document, translated_errors, utcnow

MAX_KEPT = 200
KEPT_UNSEEN = timedelta(days=30)
# Described fields: a deployment describes the fields its rules use, tens of them; the bound keeps lists cheap.
MAX_DESCRIBED = 500
DESCRIBED_FIELDS = ("description", "type", "values")


class ContextAttributeStorage:
    """Attribute names seen per environment, with how often and when last."""

    def _context_attribute_indexes(self) -> None:
        self._context_fields.create_index([("name", ASCENDING)], unique=True, name="name_unique")
        self._context_attributes.create_index(
            [("environment", ASCENDING), ("count", DESCENDING)], name="by_environment_and_count"
        )
        self._context_attributes.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expiry")
        # Fields described before they carried a version (an import writes on the version it read) start at 1.
        self._context_fields.update_many({"version": {"$exists": False}}, {"$set": {"version": 1}})

    def note_context_attributes(self, counts: Mapping[tuple[str, str], int], at: datetime | None = None) -> None:
        """Add (environment, name) -> times seen; then keep each environment's MAX_KEPT most frequent names."""
        if not counts:
            return
        now = at or utcnow()
        writes = [
            UpdateOne(
                {"_id": f"{environment}\n{name}"},
                {
                    "$inc": {"count": n},
                    "$set": {"last_seen_at": now, "expires_at": now + KEPT_UNSEEN},
                    "$setOnInsert": {"environment": environment, "name": name},
                },
                upsert=True,
            )
            for (environment, name), n in counts.items()
        ]
        with translated_errors():
            self._context_attributes.bulk_write(writes, ordered=False)
            for environment in {environment for environment, _ in counts}:
                beyond = self._context_attributes.find({"environment": environment}, {"_id": 1})
                extra = [document["_id"] for document in beyond.sort("count", DESCENDING).skip(MAX_KEPT)]
                if extra:
                    self._context_attributes.delete_many({"_id": {"$in": extra}})

    def context_attributes(self, environment: str | None = None) -> list[dict[str, Any]]:
        """The names seen, most frequent first (of one environment, or of each), as the API shows them."""
        query = {} if environment is None else {"environment": environment}
        with translated_errors():
            found = self._context_attributes.find(query, {"_id": 0, "expires_at": 0}).sort("count", DESCENDING)
            return list(found.limit(MAX_KEPT * 20))

    # -- described fields --------------------------------------------------------------------

    @staticmethod
    def _field_out(document: dict[str, Any]) -> dict[str, Any]:
        return public_document(document)

    def context_fields(self) -> list[dict[str, Any]]:
        """Every described field, by name."""
        with translated_errors():
            return [self._field_out(d) for d in self._context_fields.find({}).sort("name", ASCENDING)]

    def _new_context_field(
        self, fields: dict[str, Any], actor: str, request_id: str | None, now: datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return a described field's new document and its created event (shared with imports' batches)."""
        document = {
            "_id": ObjectId(),
            "name": fields["name"],
            **{name: fields[name] for name in DESCRIBED_FIELDS},
            "version": 1,
            "created_at": now,
            "created_by": str(actor),
            "updated_at": now,
            "updated_by": str(actor),
        }
        event = self._event(
            actions.CONTEXT_FIELD_CREATED,
            actor,
            request_id,
            context_field_id=str(document["_id"]),
            context_field_name=document["name"],
            before=None,
            after={name: document[name] for name in DESCRIBED_FIELDS},
        )
        document["recent_events"] = [event["_id"]]
        return document, event

    def create_context_field(self, fields: dict[str, Any], actor: str, request_id: str | None = None) -> dict[str, Any]:
        """Describe a field, with its event; raise ContextFieldNameTaken or TooManyContextFields."""
        with translated_errors():
            # Counted before the insert: two racing creates may pass one over the bound, which stays bounded.
            if self._context_fields.count_documents({}) >= MAX_DESCRIBED:
                raise TooManyContextFields(
                    f"At most {MAX_DESCRIBED} context fields are described; remove some first.",
                    details=[
                        {"field": "(body)", "message": "too many context fields", "type": "too_many_context_fields"}
                    ],
                )
        document, event = self._new_context_field(fields, actor, request_id, utcnow())
        with translated_errors():
            try:
                self._insert_recorded(self._context_fields, document, event)
            except DuplicateKeyError:
                raise ContextFieldNameTaken() from None
        return self._field_out(document)

    def _find_field(self, name: str) -> dict[str, Any]:
        with translated_errors():
            document = self._context_fields.find_one({"name": name})
        if document is None:
            raise ContextFieldNotFound()
        return document

    def update_context_field(
        self, name: str, changes: dict[str, Any], actor: str, request_id: str | None = None
    ) -> dict[str, Any]:
        """Change a described field's description, type or values, with its event; raise ContextFieldNotFound."""
        current = self._find_field(name)
        before = {field: current[field] for field in changes}
        event = self._event(
            actions.CONTEXT_FIELD_UPDATED,
            actor,
            request_id,
            context_field_id=str(current["_id"]),
            context_field_name=name,
            before=before,
            after=dict(changes),
        )
        update = {
            "$set": {**changes, "updated_at": utcnow(), "updated_by": str(actor)},
            "$inc": {"version": 1},
            "$push": {"recent_events": {"$each": [event["_id"]], "$slice": -RECENT_EVENT_IDS_KEPT}},
        }

        def write(session: ClientSession | None) -> bool:
            return self._context_fields.update_one({"_id": current["_id"]}, update, session=session).matched_count == 1

        with translated_errors():
            if not self._record(write, event):
                raise ContextFieldNotFound()
        return self._field_out(self._find_field(name))

    def delete_context_field(self, name: str, actor: str, request_id: str | None = None) -> None:
        """Remove a field's description, with its event (what applications send is still counted)."""
        current = self._find_field(name)
        event = self._event(
            actions.CONTEXT_FIELD_DELETED,
            actor,
            request_id,
            context_field_id=str(current["_id"]),
            context_field_name=name,
            before={field: current[field] for field in DESCRIBED_FIELDS},
            after=None,
        )

        def write(session: ClientSession | None) -> bool:
            return self._context_fields.delete_one({"_id": current["_id"]}, session=session).deleted_count == 1

        with translated_errors():
            if not self._record(write, event):
                raise ContextFieldNotFound()

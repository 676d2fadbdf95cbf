"""The attribute names applications send in their evaluation contexts, per environment: what rule editors offer.

Counted in each process where usage is counted and added here with its flush. A client controls the names it
sends, so the collection is bounded: each environment keeps its MAX_KEPT most frequent names, and a name not seen
for a month expires (a TTL index). Counts are approximate by design (a flush lost with a database outage is not
sent again): they rank names, nothing is billed or alerted on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne

from .client import translated_errors, utcnow

MAX_KEPT = 200
KEPT_UNSEEN = timedelta(days=30)


class ContextAttributeStorage:
    """Attribute names seen per environment, with how often and when last."""

    def _context_attribute_indexes(self) -> None:
        self._context_attributes.create_index(
            [("environment", ASCENDING), ("count", DESCENDING)], name="by_environment_and_count"
        )
        self._context_attributes.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expiry")

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

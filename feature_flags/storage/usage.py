"""Evaluation counts in MongoDB: one bucket per flag and hour, and when each environment last asked for a flag.

A flush from one process is one unordered bulk write per collection (one round trip each): per flag and hour
touched, one `$inc` of its bucket; per flag touched, one `$max` of its last-seen stamps. However many
evaluations it carries, a flush costs one update per flag touched, not one per evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.errors import BulkWriteError

from .client import translated_errors

# A bucket outlives the 24 hours the usage answer shows by a margin, then the TTL index removes it.
BUCKET_KEPT = timedelta(hours=26)
DUPLICATE_KEY = 11000


def hour_of(moment: datetime) -> datetime:
    """Return the start of moment's hour (the bucket it counts in)."""
    return moment.replace(minute=0, second=0, microsecond=0)


def _bucket_id(flag_id: str, hour: datetime) -> str:
    return f"{flag_id}/{hour.strftime('%Y-%m-%dT%H')}"


class UsageStorage:
    """Adding, reading and deleting evaluation counts."""

    # -- usage -------------------------------------------------------------------------------

    def _usage_indexes(self) -> None:
        self._usage_hours.create_index([("flag_id", ASCENDING), ("hour", ASCENDING)], name="by_flag_hour")
        self._usage_hours.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expiry")
        self._flag_usage.create_index([("updated_at", ASCENDING)], name="by_update")

    def add_usage(
        self,
        counts: Mapping[tuple[str, datetime], Mapping[str, Mapping[str, int]]],
        last_seen: Mapping[str, Mapping[str, datetime]],
        writer: str,
        sequence: int,
    ) -> None:
        """Add counts ((flag id, hour) -> environment -> variant -> n) and last-seen stamps (flag id -> environment
        -> when): one bulk write per collection.

        A batch sent again with the same writer and sequence (its answer was lost) is added once: each bucket
        remembers the last sequence each writer added to it.
        """
        buckets = []
        for (flag_id, hour), by_environment in counts.items():
            increments = {
                f"counts.{environment}.{variant}": n
                for environment, variants in by_environment.items()
                for variant, n in variants.items()
            }
            stamps = {
                f"last.{environment}": moment
                for environment, moment in last_seen.get(flag_id, {}).items()
                if environment in by_environment and hour_of(moment) == hour
            }
            buckets.append(
                UpdateOne(
                    {"_id": _bucket_id(flag_id, hour), f"writers.{writer}": {"$not": {"$gte": sequence}}},
                    {
                        "$inc": increments,
                        "$max": {**stamps, f"writers.{writer}": sequence},
                        "$setOnInsert": {"flag_id": flag_id, "hour": hour, "expires_at": hour + BUCKET_KEPT},
                    },
                    upsert=True,
                )
            )
        stamps = [
            UpdateOne(
                {"_id": flag_id},
                {
                    "$max": {f"last_evaluated_at.{environment}": moment for environment, moment in by_env.items()},
                    # The server's clock, so readers of different hosts page through updated_at alike.
                    "$currentDate": {"updated_at": True},
                },
                upsert=True,
            )
            for flag_id, by_env in last_seen.items()
            if by_env
        ]
        with translated_errors():
            self._bulk_upsert(self._usage_hours, buckets)
            self._bulk_upsert(self._flag_usage, stamps)

    @staticmethod
    def _bulk_upsert(collection: Any, operations: list[UpdateOne]) -> None:
        """Apply upserts unordered; an upsert that meets a duplicate key is tried once more.

        The first duplicate may be another writer creating the same document at the same moment; on the second
        try the document exists, so a duplicate again means the filter refused it: this batch is already in.
        """
        for _attempt in range(2):
            if not operations:
                return
            try:
                collection.bulk_write(operations, ordered=False)
                return
            except BulkWriteError as error:
                failed = error.details.get("writeErrors", [])
                if any(failure["code"] != DUPLICATE_KEY for failure in failed) or error.details.get(
                    "writeConcernErrors"
                ):
                    raise
                operations = [operations[failure["index"]] for failure in failed]

    def find_usage(self, flag_id: str, since: datetime) -> list[dict[str, Any]]:
        """Return a flag's hourly buckets from since on, oldest first: {hour, counts: {env: {variant: n}}, last}."""
        with translated_errors():
            cursor = self._usage_hours.find(
                {"flag_id": flag_id, "hour": {"$gte": since}}, {"_id": 0, "hour": 1, "counts": 1, "last": 1}
            )
            # Bounded by the TTL: at most 26 buckets a flag.
            return list(cursor.sort("hour", ASCENDING).limit(48))

    def find_last_evaluated(self, flag_id: str) -> dict[str, datetime]:
        """Return when each environment last evaluated a flag (an environment that never did is absent)."""
        with translated_errors():
            document = self._flag_usage.find_one({"_id": flag_id}, {"last_evaluated_at": 1})
        return dict((document or {}).get("last_evaluated_at") or {})

    def last_evaluated_since(self, updated_after: datetime | None) -> list[dict[str, Any]]:
        """Return the last-seen stamps of flags updated at or after updated_after (every flag for None).

        Each is {flag_id, last_evaluated_at: {env: when}, updated_at}, in updated_at order.
        """
        query = {} if updated_after is None else {"updated_at": {"$gte": updated_after}}
        with translated_errors():
            cursor = self._flag_usage.find(query).sort("updated_at", ASCENDING)
            return [
                {
                    "flag_id": document["_id"],
                    "last_evaluated_at": dict(document.get("last_evaluated_at") or {}),
                    "updated_at": document["updated_at"],
                }
                for document in cursor
            ]

    def delete_usage(self, flag_id: str) -> None:
        """Forget a flag's counts and last-seen stamps (its flag is deleted)."""
        with translated_errors():
            self._usage_hours.delete_many({"flag_id": flag_id})
            self._flag_usage.delete_one({"_id": flag_id})

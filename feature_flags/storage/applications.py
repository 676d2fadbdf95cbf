"""Applications that evaluate flags in process (Unleash SDKs): who registered, and which flags each reported.

Every collection here is bounded: instances and reports expire a week after they were last heard of (TTL
indexes), a flag remembers at most MAX_APPLICATIONS_PER_FLAG applications per environment, and a metrics report
is remembered (to add it once however often it is sent) for a day.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.errors import DuplicateKeyError

from .client import translated_errors, utcnow

KEPT = timedelta(days=7)
REPORT_KEPT = timedelta(days=1)
MAX_APPLICATIONS_PER_FLAG = 20
# The list admins read: the most recently heard of first, this many at most.
MAX_LISTED = 500


class ApplicationStorage:
    """Registered application instances, the flags each reported, and the reports already added."""

    def _application_indexes(self) -> None:
        self._applications.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expiry")
        self._applications.create_index([("last_seen_at", DESCENDING)], name="by_last_seen")
        self._flag_applications.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expiry")
        self._metric_reports.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expiry")

    def note_application(self, key: str, fields: Mapping[str, Any], environment: str, registered: bool) -> None:
        """Record an instance as heard of now (registered: from its register call, which also sets its details)."""
        now = utcnow()
        changes: dict[str, Any] = {"last_seen_at": now, "expires_at": now + KEPT, "environment": environment}
        if registered:
            changes.update(fields)
        with translated_errors():
            self._applications.update_one(
                {"_id": key},
                {"$set": changes, "$setOnInsert": {"first_seen_at": now, **({} if registered else fields)}},
                upsert=True,
            )

    def find_applications(self) -> list[dict[str, Any]]:
        """Return the instances heard of within a week, most recently heard of first."""
        with translated_errors():
            found = self._applications.find({}, {"expires_at": 0}).sort("last_seen_at", DESCENDING).limit(MAX_LISTED)
            return [{**document, "_id": str(document["_id"])} for document in found]

    def first_report(self, report: str) -> bool:
        """Remember a metrics report by its key; False if it was added already (an SDK sending it again)."""
        now = utcnow()
        with translated_errors():
            try:
                self._metric_reports.insert_one({"_id": report, "expires_at": now + REPORT_KEPT})
            except DuplicateKeyError:
                return False
        return True

    def note_flag_applications(self, environment: str, app_name: str, flag_ids: list[str]) -> None:
        """Record that an application reported evaluating these flags in the environment, now."""
        if not flag_ids:
            return
        now = utcnow()
        operations = [
            UpdateOne(
                {"_id": flag_id},
                {"$set": {f"applications.{environment}.{_field(app_name)}": now, "expires_at": now + KEPT}},
                upsert=True,
            )
            for flag_id in flag_ids
        ]
        with translated_errors():
            self._flag_applications.bulk_write(operations, ordered=False)
            # Bounded: a flag keeps the applications heard of most recently.
            for document in self._flag_applications.find({"_id": {"$in": flag_ids}}):
                heard = (document.get("applications") or {}).get(environment) or {}
                if len(heard) > MAX_APPLICATIONS_PER_FLAG:
                    oldest = sorted(heard, key=heard.get)[: len(heard) - MAX_APPLICATIONS_PER_FLAG]
                    self._flag_applications.update_one(
                        {"_id": document["_id"]},
                        {"$unset": {f"applications.{environment}.{name}": "" for name in oldest}},
                    )

    def find_flag_applications(self, flag_id: str) -> dict[str, list[dict[str, Any]]]:
        """Return, per environment, the applications that reported the flag, most recently heard of first."""
        with translated_errors():
            document = self._flag_applications.find_one({"_id": flag_id}) or {}
        return {
            environment: [
                {"name": _name(field), "last_seen_at": when}
                for field, when in sorted(heard.items(), key=lambda item: item[1], reverse=True)
            ]
            for environment, heard in (document.get("applications") or {}).items()
        }

    def delete_flag_applications(self, flag_id: str) -> None:
        """Forget which applications reported a deleted flag."""
        with translated_errors():
            self._flag_applications.delete_one({"_id": flag_id})


def _field(app_name: str) -> str:
    # An application's name as a field name: MongoDB refuses dots and a leading '$' in field names.
    return app_name.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def _name(field: str) -> str:
    return field.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


def report_key(*parts: str) -> str:
    """The key of one metrics report (who sent it, the bucket it covers, and its environment): a fixed-size hash."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

"""The MongoDB client and the translation of driver errors into the project's own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import MongoClient
from pymongo.errors import ConnectionFailure, InvalidOperation, PyMongoError

from ..errors import DatabaseUnavailable


def utcnow() -> datetime:
    """Return the current time in UTC at the millisecond precision MongoDB stores."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def create_client(uri: str, timeout_ms: int) -> MongoClient:
    """Build a client that fails fast when the database is away and never loses acknowledged writes."""
    return MongoClient(
        uri,
        tz_aware=True,
        # timeoutMS bounds each operation including the driver's own retries; the rest bound the steps.
        timeoutMS=timeout_ms,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        w="majority",
        journal=True,
        appname="feature-flags",
    )


class StoreClosed(Exception):
    """The store's client was closed: nothing more will come from it."""


@contextmanager
def translated_errors() -> Iterator[None]:
    """Turn a database that does not answer (or answers too late) into DatabaseUnavailable."""
    try:
        yield
    except InvalidOperation as error:
        # What pymongo raises once its client is closed (the app shut down): no database will answer again.
        raise StoreClosed(str(error)) from None
    except PyMongoError as error:
        if isinstance(error, ConnectionFailure) or getattr(error, "timeout", False):
            raise DatabaseUnavailable() from error
        raise


def as_object_id(value: str) -> ObjectId | None:
    """Return value as an ObjectId, or None when it is not one."""
    return ObjectId(value) if ObjectId.is_valid(value) else None


# Never shown: recovery's event ids, secrets' hashes, the audit trail's delivery order (storage/webhooks.py).
BOOKKEEPING_FIELDS = frozenset({"recent_events", "applied_schedules", "hash", "seq", "unsequenced"})


def public_document(document: dict[str, Any]) -> dict[str, Any]:
    """Return a stored document as the API shows it: string id, no bookkeeping fields, no hash."""
    out = {key: value for key, value in document.items() if key not in BOOKKEEPING_FIELDS}
    out["_id"] = str(document["_id"])
    return out

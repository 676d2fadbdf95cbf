"""The Store: flags, schedules, tokens, the audit trail, the change feed and evaluation counts in one database."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pymongo
from flask import Flask
from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError
from pymongo.write_concern import WriteConcern

from ..errors import DatabaseUnavailable
from ..extensions import EMBEDDED_DATABASE_KEY, STORE_KEY
from .applications import ApplicationStorage
from .audit_log import AuditLog
from .batches import FlagBatches
from .change_requests import ChangeRequestStorage
from .changes import ChangeFeed
from .client import create_client, translated_errors, utcnow
from .context_attributes import ContextAttributeStorage
from .flags import FlagStorage
from .people import PeopleStorage
from .schedules import ScheduleStorage
from .segments import SegmentStorage
from .tokens import TokenStorage
from .usage import UsageStorage
from .webhooks import WebhookStorage


def init_app(app: Flask) -> None:
    """Attach the app's Store: configured MongoDB, or the embedded database when none is configured.

    The client connects lazily in background threads, so this is safe before gunicorn's workers serve.
    """
    config = app.config["FF"]
    uri = config.mongo_uri
    if uri is None:
        from .embedded import start_embedded_database

        uri, app.extensions[EMBEDDED_DATABASE_KEY] = start_embedded_database(config.data_dir)
    client = create_client(uri, config.db_timeout_ms)
    app.extensions[STORE_KEY] = Store(client, config.mongo_db, config.environments, uri)


class Store(
    ApplicationStorage,
    ContextAttributeStorage,
    FlagStorage,
    FlagBatches,
    SegmentStorage,
    ScheduleStorage,
    ChangeRequestStorage,
    TokenStorage,
    AuditLog,
    ChangeFeed,
    UsageStorage,
    WebhookStorage,
    PeopleStorage,
):
    """Flags, segments, schedules, tokens, the audit trail and evaluation counts in one MongoDB database."""

    def __init__(
        self, client: MongoClient, db_name: str, environments: tuple[str, ...], uri: str | None = None
    ) -> None:
        self.client = client
        # Where the database is (the embedded one's too), for what keeps state beside the store (rate limits).
        self.uri = uri
        self.db = client.get_database(db_name, write_concern=WriteConcern(w="majority", j=True))
        self.environments = environments
        self._flags = self.db.flags
        self._segments = self.db.segments
        self._tokens = self.db.tokens
        self._audit = self.db.audit
        self._meta = self.db.meta
        self._usage_hours = self.db.usage_hours
        self._flag_usage = self.db.flag_usage
        self._schedules = self.db.schedules
        self._change_requests = self.db.change_requests
        self._batches = self.db.flag_batches
        self._webhooks = self.db.webhooks
        self._deliveries = self.db.webhook_deliveries
        self._users = self.db.users
        self._sessions = self.db.sessions
        self._oidc_flows = self.db.oidc_flows
        self._applications = self.db.applications
        self._flag_applications = self.db.flag_applications
        self._metric_reports = self.db.metric_reports
        self._context_attributes = self.db.context_attributes
        self._context_fields = self.db.context_fields
        self._supports_transactions: bool | None = None
        # Called with the new flags revision after each flag write of this process (the flag cache listens).

    # -- lifecycle -----------------------------------------------------------------------------

    @contextmanager
    def bounded(self, seconds: float | None) -> Iterator[None]:
        """Bound the operations inside by seconds instead of the ordinary timeout (None keeps it)."""
        if seconds is None:
            yield
            return
        with pymongo.timeout(seconds):
            yield

    def ping(self) -> None:
        """Raise DatabaseUnavailable unless the database answers."""
        with translated_errors():
            self.client.admin.command("ping")

    def ensure_indexes(self) -> None:
        """Create the indexes that uniqueness, the audit and usage queries and the usage buckets' expiry rely on."""
        with translated_errors():
            self._flags.create_index([("name", ASCENDING)], unique=True, name="name_unique")
            self._segments.create_index([("name", ASCENDING)], unique=True, name="name_unique")
            self._tokens.create_index([("name", ASCENDING)], unique=True, name="name_unique")
            self._tokens.create_index([("hash", ASCENDING)], unique=True, name="hash_unique")
            self._audit.create_index([("flag_id", ASCENDING), ("_id", DESCENDING)], name="by_flag")
            self._audit.create_index([("flag_name", ASCENDING), ("_id", DESCENDING)], name="by_flag_name")
            # A deleted flag's history is found by its name or a name it was renamed to: each $or clause indexed.
            self._audit.create_index(
                [("new_flag_name", ASCENDING), ("_id", DESCENDING)], sparse=True, name="by_new_flag_name"
            )
            # Segment changes list the flags they changed: a flag's history finds them by this (multikey) index.
            self._audit.create_index([("flag_ids", ASCENDING), ("_id", DESCENDING)], sparse=True, name="by_flag_ids")
            self._audit.create_index([("state", ASCENDING)], sparse=True, name="pending")
            # What GET /audit filters on, each with the newest-first order it pages in.
            self._audit.create_index([("actor", ASCENDING), ("_id", DESCENDING)], name="by_actor")
            self._audit.create_index([("action", ASCENDING), ("_id", DESCENDING)], name="by_action")
            self._audit.create_index([("at", DESCENDING)], name="by_time")
            self._usage_indexes()
            self._schedule_indexes()
            self._change_request_indexes()
            self._webhook_indexes()
            self._people_indexes()
            self._application_indexes()
            self._context_attribute_indexes()
            self._batches.create_index([("batch", ASCENDING)], sparse=True, name="by_batch")

    def claim_once(self, marker: str) -> bool:
        """Return True for exactly one caller, ever, per marker (across processes and restarts)."""
        with translated_errors():
            try:
                self._meta.insert_one({"_id": marker, "at": utcnow()})
            except DuplicateKeyError:
                return False
        return True

    def shared_secret(self, name: str) -> str:
        """Return the random secret stored under name, creating it on first use (the same for every instance)."""
        key = {"_id": f"secret:{name}"}
        with translated_errors():
            try:
                # One atomic upsert: instances starting together all read the value the first one wrote.
                document = self._meta.find_one_and_update(
                    key,
                    {"$setOnInsert": {"value": secrets.token_urlsafe(32), "at": utcnow()}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                document = None
            if document is None:
                # Two upserts raced to insert, and this one lost: MongoDB raises a duplicate key, the embedded
                # database answers nothing. Either way the other one's value is there now.
                document = self._meta.find_one(key)
        if document is None:
            raise DatabaseUnavailable("the shared secret could not be read back")
        return document["value"]

    @property
    def supports_transactions(self) -> bool:
        """Whether the deployment is a replica set or sharded cluster, where transactions exist."""
        if self._supports_transactions is None:
            with translated_errors():
                hello = self.client.admin.command("hello")
            self._supports_transactions = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
        return self._supports_transactions

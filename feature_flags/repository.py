"""Storage over PyMongo: the only module that imports it. Speaks plain dicts and the project's errors."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
from bson import ObjectId
from flask import Flask
from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.errors import ConnectionFailure, DuplicateKeyError, InvalidOperation, OperationFailure, PyMongoError
from pymongo.write_concern import WriteConcern

from .errors import (
    DatabaseUnavailable,
    FlagNameTaken,
    FlagNotFound,
    NameTaken,
    TokenNameTaken,
    TokenNotFound,
    VersionConflict,
)
from .evaluation import with_defaults
from .extensions import STORE_KEY

logger = logging.getLogger(__name__)

# Optimistic writes retry when another writer got there first; this bounds the loop.
MAX_WRITE_ATTEMPTS = 200
# A pending event younger than this may belong to a request still in flight elsewhere.
PENDING_EVENT_GRACE = timedelta(seconds=30)
LAST_USED_RESOLUTION = timedelta(seconds=60)
RECENT_EVENT_IDS_KEPT = 20
# The meta document whose counter every flag write bumps, so a reader can tell cheaply whether anything changed.
FLAGS_REVISION_ID = "flags-revision"
# How long one wait on the change stream blocks before it reports "nothing new", proving the stream alive.
CHANGE_WAIT_MS = 200
FULL_READ_TIMEOUT_SECONDS = 30
# An abort gets its own short deadline: the request's has often run out by then, and a failed abort costs
# only time (the server reaps the transaction later), so it must not hold the answer up for long.
ABORT_TIMEOUT_SECONDS = 0.5


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


def init_app(app: Flask) -> None:
    """Attach the app's Store: configured MongoDB, or the embedded database when none is configured.

    The client connects lazily in background threads, so this is safe before gunicorn's workers serve.
    """
    config = app.config["FF"]
    uri = config.mongo_uri
    if uri is None:
        from .embedded import start_embedded_database

        uri, app.extensions["feature_flags.embedded"] = start_embedded_database(config.data_dir)
    client = create_client(uri, config.db_timeout_ms)
    app.extensions[STORE_KEY] = Store(client, config.mongo_db, config.environments)


@contextmanager
def _translated_errors() -> Iterator[None]:
    try:
        yield
    except PyMongoError as error:
        if isinstance(error, ConnectionFailure) or getattr(error, "timeout", False):
            raise DatabaseUnavailable() from error
        raise


class ChangesLost(Exception):
    """The change stream or the database went away; whoever follows changes must catch up another way."""


class ChangesUnsupported(ChangesLost):
    """The deployment has no change streams (a standalone server)."""


class StoreClosed(Exception):
    """The store's client was closed: nothing more will come from it."""


@contextmanager
def _translated_changes() -> Iterator[None]:
    try:
        yield
    except InvalidOperation as error:
        raise StoreClosed(str(error)) from None
    except (PyMongoError, DatabaseUnavailable) as error:
        raise ChangesLost(str(error)) from error


class FlagChanges:
    """A change stream over the flags, in the project's terms.

    Changes are ("upsert", flag), ("delete", id), ("revision", n) when the flags revision reached n (every
    change it counts came before it in the stream), and ("reload", None) when only a full read will do.
    """

    def __init__(self, store: Store, stream: Any) -> None:
        self._store = store
        self._stream = stream

    def next_changes(self) -> list[tuple[str, Any]]:
        """Wait up to CHANGE_WAIT_MS for changes and return them (often none); raise ChangesLost if the stream is."""
        changes: list[tuple[str, Any]] = []
        with _translated_changes():
            while True:
                event = self._stream.try_next()
                if event is None:
                    if not self._stream.alive:
                        raise ChangesLost("the change stream was closed by the server")
                    return changes
                kind = event["operationType"]
                if event.get("ns", {}).get("coll") == self._store._meta.name:
                    revision = _revision_of(event)
                    if revision is not None:
                        changes.append(("revision", revision))
                elif kind in {"insert", "update", "replace"}:
                    document = event.get("fullDocument")
                    # No document: it was deleted since, and its delete event follows.
                    if document is not None:
                        changes.append(("upsert", self._store._flag_out(document)))
                elif kind == "delete":
                    changes.append(("delete", str(event["documentKey"]["_id"])))
                else:
                    # drop, rename, dropDatabase, invalidate: start again from a full read.
                    changes.append(("reload", None))
                    return changes
                if len(changes) >= 1000:
                    return changes

    def close(self) -> None:
        """Close the stream, ignoring a database that is already gone."""
        with suppress(PyMongoError):
            self._stream.close()


def _revision_of(event: dict[str, Any]) -> int | None:
    """Return the flags revision an event on the meta collection set, or None if it is about something else."""
    if event.get("documentKey", {}).get("_id") != FLAGS_REVISION_ID:
        return None
    # The value this very update wrote, not the looked-up document, which may already be later than the
    # flag changes the stream has delivered so far.
    updated = (event.get("updateDescription") or {}).get("updatedFields") or {}
    if "n" in updated:
        return int(updated["n"])
    if event["operationType"] in {"insert", "replace"} and event.get("fullDocument"):
        return int(event["fullDocument"].get("n", 0))
    return None


class _StaleWrite(Exception):
    """The document changed between our read and our conditional write."""


def _object_id(value: str) -> ObjectId | None:
    return ObjectId(value) if ObjectId.is_valid(value) else None


def _public(document: dict[str, Any]) -> dict[str, Any]:
    out = {key: value for key, value in document.items() if key not in {"recent_events", "hash"}}
    out["_id"] = str(document["_id"])
    return out


class Store:
    """Flags, tokens and the audit trail in one MongoDB database."""

    def __init__(self, client: MongoClient, db_name: str, environments: tuple[str, ...]) -> None:
        self.client = client
        self.db = client.get_database(db_name, write_concern=WriteConcern(w="majority", j=True))
        self.environments = environments
        self._flags = self.db.flags
        self._tokens = self.db.tokens
        self._audit = self.db.audit
        self._meta = self.db.meta
        self._supports_transactions: bool | None = None
        # Called with the new flags revision after each flag write of this process (the flag cache listens).
        self.revision_listeners: list[Callable[[int], None]] = []

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
        with _translated_errors():
            self.client.admin.command("ping")

    def ensure_indexes(self) -> None:
        """Create the indexes that uniqueness and the audit queries rely on."""
        with _translated_errors():
            self._flags.create_index([("name", ASCENDING)], unique=True, name="name_unique")
            self._tokens.create_index([("name", ASCENDING)], unique=True, name="name_unique")
            self._tokens.create_index([("hash", ASCENDING)], unique=True, name="hash_unique")
            self._audit.create_index([("flag_id", ASCENDING), ("_id", DESCENDING)], name="by_flag")
            self._audit.create_index([("flag_name", ASCENDING), ("_id", DESCENDING)], name="by_flag_name")
            # A deleted flag's history is found by its name or a name it was renamed to: each $or clause indexed.
            self._audit.create_index(
                [("new_flag_name", ASCENDING), ("_id", DESCENDING)], sparse=True, name="by_new_flag_name"
            )
            self._audit.create_index([("state", ASCENDING)], sparse=True, name="pending")
            # What GET /audit filters on, each with the newest-first order it pages in.
            self._audit.create_index([("actor", ASCENDING), ("_id", DESCENDING)], name="by_actor")
            self._audit.create_index([("action", ASCENDING), ("_id", DESCENDING)], name="by_action")
            self._audit.create_index([("at", DESCENDING)], name="by_time")

    def claim_once(self, marker: str) -> bool:
        """Return True for exactly one caller, ever, per marker (across processes and restarts)."""
        with _translated_errors():
            try:
                self._meta.insert_one({"_id": marker, "at": utcnow()})
            except DuplicateKeyError:
                return False
        return True

    @property
    def supports_transactions(self) -> bool:
        """Whether the deployment is a replica set or sharded cluster, where transactions exist."""
        if self._supports_transactions is None:
            with _translated_errors():
                hello = self.client.admin.command("hello")
            self._supports_transactions = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
        return self._supports_transactions

    # -- the write path shared by every change -------------------------------------------------

    def _record(self, write: Callable[[ClientSession | None], bool], event: dict[str, Any]) -> bool:
        """Apply a conditional write together with its audit event; False if the write was stale.

        With transactions both land or neither does. Without them the event is written first as
        pending, then the change, then the event is confirmed; recover_pending_events() settles
        what a crash in between leaves behind.
        """
        if self.supports_transactions:

            def apply(session: ClientSession) -> None:
                if not write(session):
                    raise _StaleWrite()
                self._audit.insert_one(event, session=session)

            try:
                self._in_transaction(apply)
            except _StaleWrite:
                return False
            return True
        self._audit.insert_one({**event, "state": "pending"})
        try:
            applied = write(None)
        except BaseException:
            self._audit.delete_one({"_id": event["_id"], "state": "pending"})
            raise
        if applied:
            self._audit.update_one({"_id": event["_id"]}, {"$unset": {"state": ""}})
        else:
            self._audit.delete_one({"_id": event["_id"]})
        return applied

    def _in_transaction(self, apply: Callable[[ClientSession], None]) -> None:
        """Run apply in a transaction, retried on transient errors within the operation timeout.

        Whatever happens, a transaction this started is aborted before returning. pymongo's with_transaction
        does not do that once the deadline has passed (its abort runs under the expired timeout and is never
        sent), and the server then holds the flag's document for its whole transaction lifetime (60 s by
        default), refusing every other write to it.
        """
        session = self.client.start_session()
        try:
            # Without this bound transient errors would be retried for as long as the server keeps failing.
            with pymongo.timeout(self.client.options.timeout):
                while True:
                    session.start_transaction()
                    try:
                        apply(session)
                        self._commit(session)
                        return
                    except PyMongoError as error:
                        if not error.has_error_label("TransientTransactionError") or getattr(error, "timeout", False):
                            raise
                        self._abort(session)
        finally:
            self._abort(session)
            session.end_session()

    @staticmethod
    def _commit(session: ClientSession) -> None:
        while True:
            try:
                session.commit_transaction()
                return
            except PyMongoError as error:
                # The commit may or may not have landed; committing again is safe and tells which.
                if error.has_error_label("UnknownTransactionCommitResult") and not getattr(error, "timeout", False):
                    continue
                raise

    @staticmethod
    def _abort(session: ClientSession) -> None:
        """Abort the session's transaction if one is open, in a deadline of its own (errors are swallowed)."""
        if session.in_transaction:
            with pymongo.timeout(ABORT_TIMEOUT_SECONDS):
                session.abort_transaction()

    def recover_pending_events(self, grace: timedelta = PENDING_EVENT_GRACE) -> int:
        """Confirm or drop audit events left pending by a crash; return how many were settled."""
        settled = 0
        with _translated_errors():
            for event in self._audit.find({"state": "pending", "at": {"$lt": utcnow() - grace}}):
                if self._event_applied(event):
                    self._audit.update_one({"_id": event["_id"]}, {"$unset": {"state": ""}})
                else:
                    self._audit.delete_one({"_id": event["_id"]})
                settled += 1
        return settled

    def _event_applied(self, event: dict[str, Any]) -> bool:
        subject = self._tokens if event["action"].startswith("token.") else self._flags
        target_id = event.get("token_id") or event.get("flag_id")
        document = subject.find_one({"_id": _object_id(target_id)}, {"recent_events": 1})
        if event["action"] in {"flag.deleted", "token.revoked"}:
            return document is None
        return document is not None and event["_id"] in document.get("recent_events", [])

    @staticmethod
    def _event(action: str, actor: str, request_id: str | None, **fields: Any) -> dict[str, Any]:
        return {"_id": ObjectId(), "at": utcnow(), "actor": actor, "action": action, "request_id": request_id, **fields}

    # -- flags -------------------------------------------------------------------------------

    def _flag_filter(self, ident: str) -> dict[str, Any]:
        object_id = _object_id(ident)
        if object_id is None:
            return {"name": ident}
        return {"$or": [{"_id": object_id}, {"name": ident}]}

    def _flag_out(self, document: dict[str, Any]) -> dict[str, Any]:
        flag = _public(document)
        stored = document.get("environments") or {}
        flag["environments"] = {env: bool(stored.get(env, False)) for env in self.environments}
        # Flags stored before variants and targeting existed read back as plain booleans.
        return with_defaults(flag)

    def find_flag(self, ident: str) -> dict[str, Any]:
        """Return the flag with this id or name, or raise FlagNotFound."""
        with _translated_errors():
            document = self._flags.find_one(self._flag_filter(ident), {"recent_events": 0})
        if document is None:
            raise FlagNotFound()
        return self._flag_out(document)

    # -- watching flags change ---------------------------------------------------------------

    def _bump_flags_revision(self) -> int | None:
        """Tell followers without a change stream that flags changed; called after the change is committed.

        Outside the change's transaction on purpose: inside, every pair of concurrent flag writes would
        conflict on this one document. After the commit, a follower that sees the new revision reads the
        change. A failure here must not fail a write that already happened; followers also re-read
        everything periodically, which covers a bump lost that way.
        """
        try:
            with _translated_errors():
                document = self._meta.find_one_and_update(
                    {"_id": FLAGS_REVISION_ID}, {"$inc": {"n": 1}}, upsert=True, return_document=ReturnDocument.AFTER
                )
        except (DatabaseUnavailable, PyMongoError):
            logger.warning("could not bump the flags revision after a write")
            return None
        revision = int(document["n"])
        for listener in self.revision_listeners:
            listener(revision)
        return revision

    def flags_revision(self) -> int:
        """Return the flags revision: it grows with every flag write, so an unchanged value means no change."""
        with _translated_changes():
            document = self._meta.find_one({"_id": FLAGS_REVISION_ID})
        return int(document["n"]) if document else 0

    def load_flags(self) -> list[dict[str, Any]]:
        """Return every flag, for a full read by a change follower (raises ChangesLost, not DatabaseUnavailable)."""
        # The client's timeout bounds a cursor's whole life; reading 10,000 flags can take longer than that.
        with _translated_changes(), pymongo.timeout(FULL_READ_TIMEOUT_SECONDS):
            return [self._flag_out(d) for d in self._flags.find({}, {"recent_events": 0}, batch_size=1000)]

    def watch_flags(self) -> FlagChanges:
        """Open a change stream on the flags; raise ChangesUnsupported where the deployment has none."""
        with _translated_changes():
            try:
                # The flags and the revision counter, in one stream: a revision event follows the changes it counts.
                stream = self.db.watch(
                    [{"$match": {"ns.coll": {"$in": [self._flags.name, self._meta.name]}}}],
                    full_document="updateLookup",
                    max_await_time_ms=CHANGE_WAIT_MS,
                )
            except OperationFailure as error:
                # Standalone servers refuse $changeStream (code 40573); some say so only in words.
                if error.code in {40573, 40324, 115} or "replica set" in str(error).lower():
                    raise ChangesUnsupported(str(error)) from None
                raise
        return FlagChanges(self, stream)

    def count_flags(self) -> int:
        """Return how many flags exist."""
        with _translated_errors():
            return self._flags.count_documents({})

    def create_flag(self, fields: dict[str, Any], actor: str, request_id: str | None = None) -> dict[str, Any]:
        """Insert a new flag with its created event; raise FlagNameTaken on a clash."""
        now = utcnow()
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
        }
        extra = {key: value for key, value in fields.items() if key not in document and key != "environments"}
        document.update(extra)
        event = self._event(
            "flag.created",
            actor,
            request_id,
            flag_id=str(document["_id"]),
            flag_name=document["name"],
            before=None,
            after=self._snapshot(document),
        )
        document["recent_events"] = [event["_id"]]

        def write(session: ClientSession | None) -> bool:
            self._flags.insert_one(document, session=session)
            return True

        with _translated_errors():
            try:
                self._record(write, event)
            except DuplicateKeyError:
                raise FlagNameTaken() from None
        self._bump_flags_revision()
        return self._flag_out(document)

    @staticmethod
    def _snapshot(document: dict[str, Any]) -> dict[str, Any]:
        keep = ("name", "description", "environments", "variants", "off_variant", "targeting", "stickiness", "version")
        return {key: document[key] for key in keep if key in document}

    def update_flag(
        self,
        ident: str,
        changes: Callable[[dict[str, Any]], dict[str, Any]] | dict[str, Any],
        actor: str,
        request_id: str | None = None,
        expected_version: int | None = None,
        action: str = "flag.updated",
        environment: str | None = None,
    ) -> dict[str, Any]:
        """Apply changes (a dict, or a function of the current flag) atomically and record the event.

        ``environments`` in the changes merges key by key. Without ``expected_version`` a write
        that loses a race is retried on the fresh document; with it, a race is a VersionConflict.
        """
        for attempt in range(MAX_WRITE_ATTEMPTS):
            current = self.find_flag(ident)
            if expected_version is not None and current["version"] != expected_version:
                raise VersionConflict(current_version=current["version"])
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
                return current
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
            )
            if "name" in updates:
                event["new_flag_name"] = updates["name"]

            update = {
                "$set": {**updates, "updated_at": now, "updated_by": actor},
                "$inc": {"version": 1},
                "$push": {"recent_events": {"$each": [event["_id"]], "$slice": -RECENT_EVENT_IDS_KEPT}},
            }
            write = self._conditional(self._flags.update_one, current, update)
            with _translated_errors():
                try:
                    applied = self._record(write, event)
                except DuplicateKeyError:
                    raise FlagNameTaken() from None
            if applied:
                self._bump_flags_revision()
                return self._merged(current, updates, now, actor)
            if expected_version is not None:
                raise VersionConflict()
            time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
        raise DatabaseUnavailable("The flag is changing too fast to apply this change; retry.")

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
    ) -> dict[str, Any]:
        """Flip the flag in one environment; concurrent toggles are each applied exactly once."""
        return self.update_flag(
            ident,
            lambda current: {"environments": {environment: not current["environments"][environment]}},
            actor,
            request_id,
            expected_version,
            action="flag.toggled",
            environment=environment,
        )

    def delete_flag(
        self, ident: str, actor: str, request_id: str | None = None, expected_version: int | None = None
    ) -> dict[str, Any]:
        """Delete the flag and record the event; return what was deleted."""
        for _ in range(MAX_WRITE_ATTEMPTS):
            current = self.find_flag(ident)
            if expected_version is not None and current["version"] != expected_version:
                raise VersionConflict(current_version=current["version"])
            event = self._event(
                "flag.deleted",
                actor,
                request_id,
                flag_id=current["_id"],
                flag_name=current["name"],
                before=self._snapshot(current),
                after=None,
            )

            write = self._conditional(self._flags.delete_one, current)

            with _translated_errors():
                if self._record(write, event):
                    self._bump_flags_revision()
                    return current
            if expected_version is not None:
                raise VersionConflict()
        raise DatabaseUnavailable("The flag is changing too fast to delete it; retry.")

    # -- tokens ------------------------------------------------------------------------------

    def create_token(
        self, fields: dict[str, Any], token_hash: str, actor: str, request_id: str | None = None
    ) -> dict[str, Any]:
        """Store a token by its hash with its created event; raise TokenNameTaken on a clash."""
        document = {
            "_id": ObjectId(),
            "name": fields["name"],
            "role": fields["role"],
            "environment": fields.get("environment"),
            "hash": token_hash,
            "created_at": utcnow(),
            "created_by": actor,
            "last_used_at": None,
        }
        public = _public(document)
        event = self._event(
            "token.created",
            actor,
            request_id,
            token_id=public["_id"],
            token_name=fields["name"],
            before=None,
            after={k: public[k] for k in ("name", "role", "environment")},
        )
        document["recent_events"] = [event["_id"]]

        def write(session: ClientSession | None) -> bool:
            self._tokens.insert_one(document, session=session)
            return True

        with _translated_errors():
            try:
                self._record(write, event)
            except DuplicateKeyError as error:
                if "hash" in str(error.details or {}).split("keyPattern", 1)[-1]:
                    raise NameTaken("That token already exists.") from None
                raise TokenNameTaken() from None
        return public

    def find_all_tokens(self) -> list[dict[str, Any]]:
        """Return every token without its hash, oldest first."""
        with _translated_errors():
            return [_public(d) for d in self._tokens.find({}, {"hash": 0, "recent_events": 0}).sort("_id", 1)]

    def count_tokens(self) -> int:
        """Return how many tokens exist."""
        with _translated_errors():
            return self._tokens.count_documents({})

    def find_token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        """Return the token stored under this hash (hash included, for a constant-time check)."""
        with _translated_errors():
            document = self._tokens.find_one({"hash": token_hash}, {"recent_events": 0})
        return None if document is None else {**document, "_id": str(document["_id"])}

    def touch_token(self, token_id: str) -> None:
        """Record that a token was used, at most once a minute so reads stay cheap."""
        now = utcnow()
        # Usage stamps are a convenience, not a change: they need no majority round trip.
        quick = self._tokens.with_options(write_concern=WriteConcern(w=1))
        stale = [{"last_used_at": None}, {"last_used_at": {"$lt": now - LAST_USED_RESOLUTION}}]
        with _translated_errors():
            quick.update_one({"_id": ObjectId(token_id), "$or": stale}, {"$set": {"last_used_at": now}})

    def revoke_token(self, token_id: str, actor: str, request_id: str | None = None) -> dict[str, Any]:
        """Delete a token and record the event; raise TokenNotFound if it does not exist."""
        object_id = _object_id(token_id)
        if object_id is None:
            raise TokenNotFound()
        with _translated_errors():
            document = self._tokens.find_one({"_id": object_id}, {"hash": 0, "recent_events": 0})
            if document is None:
                raise TokenNotFound()
            public = _public(document)
            event = self._event(
                "token.revoked",
                actor,
                request_id,
                token_id=token_id,
                token_name=public["name"],
                before={k: public[k] for k in ("name", "role", "environment")},
                after=None,
            )

            def write(session: ClientSession | None) -> bool:
                return self._tokens.delete_one({"_id": object_id}, session=session).deleted_count == 1

            if not self._record(write, event):
                raise TokenNotFound()
        return public

    # -- audit -------------------------------------------------------------------------------

    def find_events(
        self,
        *,
        flag: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        before: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Return confirmed audit events, newest first, filtered and paginated by event id."""
        query: dict[str, Any] = {"state": {"$exists": False}}
        if flag is not None:
            query["flag_id"] = {"$in": self._flag_ids_for(flag)}
        if actor is not None:
            query["actor"] = actor
        if action is not None:
            query["action"] = action
        if since is not None:
            query["at"] = {"$gte": since}
        if before is not None:
            before_id = _object_id(before)
            if before_id is None:
                return []
            query["_id"] = {"$lt": before_id}
        with _translated_errors():
            cursor = self._audit.find(query).sort("_id", DESCENDING).limit(limit)
            return [_public(d) for d in cursor]

    def _flag_ids_for(self, ident: str) -> list[str]:
        """Resolve a flag id or name, live or deleted, to the flag ids whose history it names."""
        with _translated_errors():
            live = self._flags.find_one(self._flag_filter(ident), {"_id": 1})
            if live is not None:
                return [str(live["_id"])]
            if _object_id(ident) is not None and self._audit.find_one({"flag_id": ident}, {"_id": 1}):
                return [ident]
            # A deleted flag by name: the last flag that carried it, under that name or renamed to it. Two
            # indexed look-ups rather than one $or, which not every server answers from indexes.
            found = [
                self._audit.find_one({field: ident}, {"flag_id": 1}, sort=[("_id", DESCENDING)])
                for field in ("flag_name", "new_flag_name")
            ]
        found = [event for event in found if event is not None]
        return [max(found, key=lambda event: event["_id"])["flag_id"]] if found else []

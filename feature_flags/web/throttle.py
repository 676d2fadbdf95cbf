"""Throttling per client address with Flask-Limiter, counted in the database every instance shares.

Two things are throttled: failed authentication (a wrong or unknown token, an ended session) and starting a
sign-in (each start stores a flow document until it expires). Neither touches the evaluation path: a request
with a good credential costs nothing here, since the shared count is read only when authentication has already
failed. An address past its failures is then refused at once, before any token is looked at, by every worker
that has seen it fail (each keeps the end of the block in memory), with 429 and Retry-After.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from flask import Flask, current_app, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse
from limits.storage import MongoDBStorage

from ..errors import ApiError
from ..extensions import THROTTLE_KEY, get_metrics, get_store

logger = logging.getLogger(__name__)

# Blocks remembered per worker; past this the oldest are forgotten (the shared count still refuses them).
MAX_BLOCKED_ADDRESSES = 10_000


# The scheme under which limits finds SharedCounts (limits registers every storage class by its schemes).
SCHEME_PREFIX = "feature-flags+"


class SharedCounts(MongoDBStorage):
    """limits' MongoDB storage, which connects only when a count is first made, and does nothing when collected.

    limits' own closes its client on garbage collection, reading its lazy property first, which connects (and
    makes indexes) just to close again; and closing a client from a finalizer starts threads, which can deadlock
    the collector. The client (made only once someone failed to authenticate) lives as long as the process.
    """

    STORAGE_SCHEME = [f"{SCHEME_PREFIX}mongodb", f"{SCHEME_PREFIX}mongodb+srv"]

    def __init__(self, uri: str, **options: int | str | bool) -> None:
        super().__init__(uri.removeprefix(SCHEME_PREFIX), **options)

    def __del__(self) -> None:
        pass


class TooManyAttempts(ApiError):
    status_code = 429
    code = "too_many_requests"
    message = "Too many failed attempts from this address; wait before trying again."

    def __init__(self, message: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


def client_address() -> str:
    """The caller's address (the proxy's client, once FF_TRUSTED_PROXIES trusts its X-Forwarded-For)."""
    return request.remote_addr or "unknown"


class Throttle:
    """Flask-Limiter over the shared database, and each worker's memory of the addresses it refuses."""

    def __init__(self, app: Flask) -> None:
        config = app.config["FF"]
        self.failures: RateLimitItem = parse(config.auth_failure_limit)
        self.sign_ins = config.sign_in_limit
        store = get_store(app)
        timeout_ms = config.db_timeout_ms
        self.limiter = Limiter(
            client_address,
            app=app,
            storage_uri=f"{SCHEME_PREFIX}{store.uri}",
            storage_options={
                # The service's own database: no second place to secure, back up or connect to.
                "database_name": config.mongo_db,
                "counter_collection_name": "rate_counters",
                "window_collection_name": "rate_windows",
                "serverSelectionTimeoutMS": timeout_ms,
                "timeoutMS": timeout_ms,
            },
            strategy="fixed-window",
            headers_enabled=True,
            # The database not answering must not lock everybody out: a count that cannot be made is let through.
            swallow_errors=True,
        )
        self._blocked: dict[str, float] = {}
        self._lock = threading.Lock()

    def refuse_if_blocked(self) -> None:
        """Raise TooManyAttempts if this address ran out of failures, as this worker knows (no database read)."""
        if not self._blocked:
            return
        address = client_address()
        with self._lock:
            until = self._blocked.get(address)
            if until is not None and until <= time.time():
                del self._blocked[address]
                until = None
        if until is not None:
            raise self._refusal(until)

    def failed(self) -> None:
        """Count a failed authentication from this address; raise TooManyAttempts once it is past the limit."""
        address = client_address()
        strategy = self.limiter.limiter
        try:
            allowed = strategy.hit(self.failures, "auth-failures", address)
            if allowed:
                return
            until = strategy.get_window_stats(self.failures, "auth-failures", address).reset_time
        except strategy.storage.base_exceptions:
            # Uncounted rather than refused: a database outage must not read as an attack.
            return
        with self._lock:
            first = address not in self._blocked
            if len(self._blocked) >= MAX_BLOCKED_ADDRESSES:
                self._blocked.pop(next(iter(self._blocked)))
            self._blocked[address] = until
        if first:
            # Once per block, not once per attempt: a flood of wrong tokens must not become a flood of log lines.
            logger.warning("authentication throttled", extra={"client": address, "seconds": round(until - time.time())})
            get_metrics().auth_failures.labels(reason="throttled").inc()
        raise self._refusal(until)

    def _refusal(self, until: float) -> TooManyAttempts:
        seconds = max(1, math.ceil(until - time.time()))
        return TooManyAttempts(
            f"Too many failed attempts from this address; try again in {seconds} s.", retry_after=seconds
        )


def throttle(app: Flask | None = None) -> Throttle:
    """Return the app's throttle."""
    return (app or current_app).extensions[THROTTLE_KEY]


def init_app(app: Flask) -> None:
    """Give the app its throttle (after storage: it counts in the same database)."""
    app.extensions[THROTTLE_KEY] = Throttle(app)

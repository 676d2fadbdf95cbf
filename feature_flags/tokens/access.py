"""Who is calling: bearer tokens, their roles, and the checks routes ask for."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from dataclasses import dataclass

from flask import Flask, current_app, g, request

from ..errors import DatabaseUnavailable, Forbidden, Unauthorized, UnknownEnvironment
from ..extensions import TOKEN_ACTIVE_KEY, TOKEN_LOOKUP_LOCKS_KEY, TOKEN_USE_KEY, get_metrics, get_store
from ..storage.tokens import LAST_USED_EVERY_SECONDS
from .service import BOOTSTRAP_ACTOR, hash_secret

logger = logging.getLogger(__name__)

# How long a "still active" answer is trusted: a revoked token's event streams stop within this of the revocation.
TOKEN_ACTIVE_SECONDS = 1.0
# Answers remembered at most; past it, the expired ones are dropped (a ticket names only real tokens).
TOKEN_ACTIVE_KEPT = 10000
TOKEN_LOOKUP_LOCKS = 64


@dataclass(frozen=True)
class Principal:
    """The caller of a request, as its token describes it."""

    name: str
    role: str
    environment: str | None = None
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        """Whether this caller may change things."""
        return self.role == "admin"


def _presented_secret() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    api_key = request.headers.get("X-API-Key", "").strip()
    return api_key or None


def _fail(reason: str) -> Unauthorized:
    # The presented secret is never logged: only why it failed and where.
    get_metrics(current_app).auth_failures.labels(reason=reason).inc()
    logger.warning("authentication failed", extra={"reason": reason, "auth_path": request.path})
    return Unauthorized()


def authenticate() -> Principal:
    """Identify the caller from its token, or raise Unauthorized; the result is kept on g."""
    if "principal" in g:
        return g.principal
    config = current_app.config["FF"]
    if not config.auth_enabled:
        g.principal = Principal(name="anonymous", role="admin")
        return g.principal
    secret = _presented_secret()
    if secret is None:
        raise _fail("missing")
    if config.admin_token and hmac.compare_digest(secret.encode(), config.admin_token.encode()):
        g.principal = Principal(name=BOOTSTRAP_ACTOR, role="admin")
        return g.principal
    digest = hash_secret(secret)
    token = get_store().find_token_by_hash(digest)
    if token is None or not hmac.compare_digest(token["hash"], digest):
        raise _fail("unknown")
    _note_use(token["_id"])
    g.principal = Principal(token["name"], token["role"], token.get("environment"), token["_id"])
    return g.principal


def _note_use(token_id: str) -> None:
    # Remember locally when this instance last stamped the token, so a busy client costs one
    # database write a minute, not one per request.
    stamped = current_app.extensions.setdefault(TOKEN_USE_KEY, {})
    now = time.monotonic()
    if now - stamped.get(token_id, -LAST_USED_EVERY_SECONDS) >= LAST_USED_EVERY_SECONDS:
        stamped[token_id] = now
        get_store().touch_token(token_id)


def token_active(token_id: str) -> bool:
    """Return whether the token still exists, asking the store at most once a second per token."""
    answers: dict[str, tuple[float, bool | None]] = current_app.extensions.setdefault(TOKEN_ACTIVE_KEY, {})
    held = _fresh(answers, token_id)
    if held is None:
        # One lookup at a time: thousands of streams of one token wake together at an event, and the first
        # lookup answers them all rather than each sending its own.
        with _lookup_lock(token_id):
            held = _fresh(answers, token_id)
            if held is None:
                try:
                    active = get_store().token_exists(token_id)
                except DatabaseUnavailable:
                    # Remembered too: the callers queued behind a failed lookup fail with it, not one timeout each.
                    _remember(answers, token_id, None)
                    raise
                _remember(answers, token_id, active)
                held = (time.monotonic(), active)
    if held[1] is None:
        raise DatabaseUnavailable()
    return held[1]


def _fresh(answers: dict[str, tuple[float, bool | None]], token_id: str) -> tuple[float, bool | None] | None:
    held = answers.get(token_id)
    return held if held is not None and time.monotonic() - held[0] < TOKEN_ACTIVE_SECONDS else None


def _remember(answers: dict[str, tuple[float, bool | None]], token_id: str, active: bool | None) -> None:
    now = time.monotonic()
    if len(answers) >= TOKEN_ACTIVE_KEPT:
        for stale in [key for key, (at, _) in answers.items() if now - at >= TOKEN_ACTIVE_SECONDS]:
            del answers[stale]
    answers[token_id] = (now, active)


def _lookup_lock(token_id: str) -> threading.Lock:
    # A small fixed set of locks, chosen by the token: bounded, and created after gunicorn's fork and patching.
    locks = current_app.extensions.get(TOKEN_LOOKUP_LOCKS_KEY)
    if locks is None:
        locks = current_app.extensions.setdefault(
            TOKEN_LOOKUP_LOCKS_KEY, [threading.Lock() for _ in range(TOKEN_LOOKUP_LOCKS)]
        )
    return locks[hash(token_id) % TOKEN_LOOKUP_LOCKS]


def require_admin() -> Principal:
    """Return the caller if it may change things, else raise Forbidden."""
    principal = authenticate()
    if not principal.is_admin:
        raise Forbidden("This token can only read flags; changes need an admin token.")
    return principal


def environment_for_read(requested: str | None) -> str:
    """Resolve the environment a read is about, checking it exists and the caller may see it."""
    config = current_app.config["FF"]
    principal = authenticate()
    if requested is None:
        return principal.environment or config.default_environment
    if requested not in config.environments:
        raise UnknownEnvironment(
            f"Unknown environment {requested!r}; known: {', '.join(config.environments)}.",
            environments=list(config.environments),
        )
    if principal.environment is not None and requested != principal.environment:
        raise Forbidden(f"This token is bound to the {principal.environment!r} environment.")
    return requested


def actor_name() -> str:
    """Return the name recorded in the audit trail for the current caller."""
    return authenticate().name


def init_app(app: Flask) -> None:
    """Warn on every start while checks are off, so it is never left that way unnoticed."""
    if not app.config["FF"].auth_enabled:
        logger.warning("FF_AUTH is off: every request is treated as an admin. Never run it like this in production.")

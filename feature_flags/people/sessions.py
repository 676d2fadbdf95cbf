"""Server-side sessions behind an HttpOnly cookie, for people signed in through the identity provider.

The cookie holds a random secret; the database holds its hash, the person and the CSRF token. Every request reads
the session from the database, so signing out or deactivating someone ends their sessions on every instance at once.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Any

from flask import Response, current_app, request

from ..errors import CsrfRejected
from ..extensions import get_store
from ..storage.client import utcnow
from ..tokens.service import hash_secret

COOKIE = "ff_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# last_seen_at is written at most this often: a busy page costs a write a minute, and idle expiry is this coarse.
TOUCH_EVERY = timedelta(seconds=60)
# A cookie's secret is this long (token_urlsafe of 32 bytes); anything longer is not one of ours.
MAX_COOKIE_CHARS = 100


def secure_cookies() -> bool:
    """Whether cookies are sent over HTTPS only: the service's public address is https."""
    return (current_app.config["FF"].public_url or "").startswith("https://")


def begin(response: Response, user_id: str) -> None:
    """Start a session for the user and set its cookie on the response."""
    config = current_app.config["FF"]
    secret = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(hours=config.session_max_hours)
    get_store().create_session(hash_secret(secret), user_id, secrets.token_urlsafe(32), expires_at)
    response.set_cookie(
        COOKIE,
        secret,
        max_age=config.session_max_hours * 3600,
        path="/",
        secure=secure_cookies(),
        httponly=True,
        samesite="Lax",
    )


def end(response: Response) -> None:
    """End the request's session, if any, and clear its cookie."""
    secret = request.cookies.get(COOKIE)
    if secret and len(secret) <= MAX_COOKIE_CHARS:
        get_store().end_session(hash_secret(secret))
    response.delete_cookie(COOKIE, path="/", secure=secure_cookies(), httponly=True, samesite="Lax")


def current() -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Return the request's live session and its active user, or None (no cookie, unknown, expired, deactivated)."""
    secret = request.cookies.get(COOKIE)
    if not secret or len(secret) > MAX_COOKIE_CHARS:
        return None
    return live(hash_secret(secret))


def live(digest: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Return the session with this id (its secret's hash) and its active user while it lasts, else None.

    Read from the database each time: signing out or being deactivated ends it everywhere, streams included.
    """
    config = current_app.config["FF"]
    store = get_store()
    found = store.find_session(digest)
    if found is None:
        return None
    session, user = found
    now = utcnow()
    created = session["created_at"].replace(tzinfo=now.tzinfo)
    seen = session["last_seen_at"].replace(tzinfo=now.tzinfo)
    expired = now - created > timedelta(hours=config.session_max_hours) or now - seen > timedelta(
        minutes=config.session_idle_minutes
    )
    if expired or not user["active"]:
        store.end_session(digest)
        return None
    if now - seen > TOUCH_EVERY:
        store.touch_session(digest, now)
    return session, user


def check_csrf(session: dict[str, Any]) -> None:
    """Refuse a state-changing request made with the session's cookie but without its CSRF token."""
    if request.method in SAFE_METHODS:
        return
    presented = request.headers.get(CSRF_HEADER, "")
    if not presented or not hmac.compare_digest(presented.encode(), session["csrf"].encode()):
        raise CsrfRejected()

"""Event stream tickets: what a bulk evaluation's eventStreams URL carries instead of the caller's token.

A browser's EventSource cannot send headers, so the URL must admit the connection by itself. The ticket is signed
(itsdangerous, HMAC-SHA256) over what the caller holds (a token's id, a person's session id, or the role's name
for FF_ADMIN_TOKEN and an anonymous caller), the environment, the configuration ETag the bulk answer reflected
and an expiry. The payload is signed, not hidden, and a URL ends up in proxies' and browsers' logs: it holds no
secret and nothing personal (never the token, never a name or address; a session's id is the hash of its cookie's
secret, which admits nobody). Its expiry is rounded up to a half-lifetime step, so bulk answers within one step
carry the same ticket and their ETag stays comparable.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from flask import Flask, current_app
from itsdangerous import BadData, URLSafeSerializer

from ..cache.notices import ALL_CHANGES
from ..errors import ApiError, Unauthorized
from ..extensions import get_store
from ..tokens.access import Principal

# A ticket is about 200 characters; anything much longer was not made here.
MAX_TICKET_CHARS = 512
SALT = "ofrep-event-stream-ticket-v1"
SECRET_NAME = "event-stream-tickets"
TICKET_SECRET_KEY = "feature_flags.stream_ticket_secret"


class TicketRefused(Unauthorized):
    code = "invalid_ticket"
    message = "The event stream ticket is missing, expired or not valid: evaluate the flags again (bulk) for a new one."


class TicketTooLong(ApiError):
    code = "ticket_too_long"
    message = f"The ticket is over {MAX_TICKET_CHARS} characters; use the URL of a bulk evaluation's eventStreams."


@dataclass(frozen=True)
class Ticket:
    """Who may connect to which environment's stream (or ALL_CHANGES'), and what configuration they last saw."""

    environment: str
    token_id: str | None
    session_id: str | None
    config_etag: str
    expires_at: float


def _serializer(app: Flask) -> URLSafeSerializer:
    secret = app.extensions.get(TICKET_SECRET_KEY)
    if secret is None:
        # The same key on every instance: the setting, or one made once and kept in the database.
        secret = app.config["FF"].stream_secret or get_store(app).shared_secret(SECRET_NAME)
        app.extensions[TICKET_SECRET_KEY] = secret
    return URLSafeSerializer(secret, salt=SALT)


def issue(environment: str, principal: Principal, config_etag: str) -> str:
    """Return a signed ticket for one environment's event stream, valid for at least the configured lifetime."""
    lifetime = current_app.config["FF"].stream_ticket_seconds
    step = lifetime / 2
    expires_at = round((math.floor(time.time() / step) + 3) * step, 3)
    payload = {"e": environment, "c": config_etag, "x": expires_at}
    if principal.token_id is not None:
        payload["t"] = principal.token_id
    elif principal.session_id is not None:
        payload["s"] = principal.session_id
    else:
        # FF_ADMIN_TOKEN or FF_AUTH=off: nothing to revoke, and a role's name, not a person's.
        payload["p"] = principal.role
    return _serializer(current_app).dumps(payload)


def verify(ticket: str | None) -> Ticket:
    """Return what a ticket grants; raise TicketRefused (401) if it is absent, forged or expired."""
    if not ticket:
        raise TicketRefused()
    if len(ticket) > MAX_TICKET_CHARS:
        raise TicketTooLong()
    try:
        payload = _serializer(current_app).loads(ticket)
    except BadData:
        raise TicketRefused() from None
    try:
        granted = Ticket(
            environment=str(payload["e"]),
            token_id=str(payload["t"]) if "t" in payload else None,
            session_id=str(payload["s"]) if "s" in payload else None,
            config_etag=str(payload["c"]),
            expires_at=float(payload["x"]),
        )
    except (KeyError, TypeError, ValueError):
        raise TicketRefused() from None
    scopes = current_app.config["FF"].environments
    if granted.expires_at <= time.time() or (granted.environment not in scopes and granted.environment != ALL_CHANGES):
        raise TicketRefused()
    return granted

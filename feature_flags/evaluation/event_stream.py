"""OFREP event streams (ADR-0008): Server-Sent Events telling a static-context provider to evaluate again.

The bulk answer's eventStreams URL carries a ticket (stream_tickets), not the token. The stream sends
`refetchEvaluation` whenever the environment's configuration ETag (cache.notices) moves; the event id is that
ETag, the same on every worker and instance, so a reconnect with Last-Event-ID (or a ticket) naming an older one
is told at once. Nothing here reads the database per stream: every worker's flag cache follows the changes and
wakes the streams it holds. A revoked token's stream ends before its next event or heartbeat.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Iterator

from flask import Blueprint, Flask, Response, current_app, jsonify, request, url_for

from ..cache import ConfigState, change_notices, current_snapshot, flag_cache
from ..cache.notices import ALL_CHANGES
from ..errors import ApiError, DatabaseUnavailable, Unauthorized
from ..extensions import STREAMS_KEY, get_metrics
from ..people import sessions
from ..tokens.access import authenticate, token_active
from ..web.openapi import documented
from . import stream_tickets
from .models import ChangeStream
from .stream_tickets import Ticket, verify

logger = logging.getLogger(__name__)

# How long EventSource waits before reconnecting after the connection drops.
RETRY_MILLISECONDS = 2000
# What an id of ours can be: a configuration ETag (32 hex digits).
MAX_LAST_EVENT_ID_CHARS = 64
# Seconds of a hidden tab or backgrounded app after which the provider closes its stream (ADR-0008's default).
INACTIVITY_DELAY_SECONDS = 120

bp = Blueprint("ofrep_events", __name__, url_prefix="/ofrep/v1")
changes_bp = Blueprint("changes", __name__)


class StreamsFull(ApiError):
    status_code = 503
    code = "too_many_streams"
    message = "This worker holds as many event streams as it may; retry shortly (or poll meanwhile)."


class ClientStreamsFull(ApiError):
    status_code = 429
    code = "too_many_streams"
    message = "This client holds as many event streams here as one client may; close some (or poll meanwhile)."


class LastEventIdTooLong(ApiError):
    code = "last_event_id_too_long"
    message = f"Last-Event-ID is over {MAX_LAST_EVENT_ID_CHARS} characters; it is not an id this service sent."


class TokenRevoked(Unauthorized):
    message = "The token this stream was opened for is revoked."


class SessionEnded(Unauthorized):
    message = "The sign-in this stream was opened for has ended: sign in again."


class OpenStreams:
    """The event streams one worker process holds: its bound, each client's, and a way to end them all."""

    def __init__(self, limit: int, per_client: int) -> None:
        self.limit = limit
        self.per_client = per_client
        self.count = 0
        self.by_client: dict[str, int] = {}
        self.stopping = False
        self._lock = threading.Lock()

    def acquire(self, client: str) -> None:
        """Take a slot for one more stream of this client; raise StreamsFull or ClientStreamsFull if none is left."""
        with self._lock:
            if self.stopping or self.count >= self.limit:
                raise StreamsFull()
            held = self.by_client.get(client, 0)
            if held >= self.per_client:
                raise ClientStreamsFull()
            self.count += 1
            self.by_client[client] = held + 1

    def release(self, client: str) -> None:
        """Give a stream's slot back."""
        with self._lock:
            self.count -= 1
            held = self.by_client.pop(client, 1) - 1
            if held > 0:
                self.by_client[client] = held


def open_streams(app: Flask | None = None) -> OpenStreams:
    """Return this process's open streams of the app."""
    app = app or current_app
    held = app.extensions.get(STREAMS_KEY)
    if held is None:
        config = app.config["FF"]
        held = app.extensions[STREAMS_KEY] = OpenStreams(config.stream_max_per_worker, config.stream_max_per_client)
    return held


def end_streams(app: Flask) -> None:
    """End every stream of this process now (a stopping worker), and accept no more; clients reconnect elsewhere."""
    if STREAMS_KEY not in getattr(app, "extensions", {}):
        return
    open_streams(app).stopping = True
    change_notices(app).wake_all()


def stream_entry(url: str) -> dict:
    """Return a bulk answer's eventStreams entry for a stream URL."""
    return {"type": "sse", "url": url, "inactivityDelaySec": INACTIVITY_DELAY_SECONDS}


def _event(state: ConfigState) -> str:
    return _event_text(state.etag, state.last_modified)


# One change's event is the same text for every stream a worker holds (thousands): made once.
@functools.lru_cache(maxsize=64)
def _event_text(etag: str, last_modified: int) -> str:
    data = json.dumps({"type": "refetchEvaluation", "etag": etag, "lastModified": last_modified})
    return f"id: {etag}\nevent: message\ndata: {data}\n\n"


def token_still_active(app: Flask, token_id: str | None) -> bool:
    """Whether a stream's token may go on (FF_ADMIN_TOKEN and the anonymous caller have nothing to revoke)."""
    if token_id is None:
        return True
    try:
        return token_active(token_id, flag_cache(app).recent())
    except DatabaseUnavailable:
        # Unconfirmed is not allowed: the client reconnects, and is admitted again once the database answers.
        return False


def _still_allowed(app: Flask, ticket: Ticket) -> bool:
    if ticket.session_id is None:
        return token_still_active(app, ticket.token_id)
    try:
        # From the database, as every request of the person's is: a sign-out or deactivation ends it.
        with app.app_context():
            return sessions.live(ticket.session_id) is not None
    except DatabaseUnavailable:
        return False


def _events(app: Flask, ticket: Ticket, known: str, slots: OpenStreams) -> Iterator[str]:
    """Yield the stream: the retry delay, then an event whenever the configuration differs from what was sent."""
    notices = change_notices(app)
    metrics = get_metrics(app)
    heartbeat = app.config["FF"].stream_heartbeat_seconds
    sent = known
    held = notices.peek(ticket.environment)
    # An id with no data sets the client's Last-Event-ID without an event: a reconnect says what it had. Only
    # ours is written, never the client's: an event is due at once otherwise, and carries the id.
    yield f"retry: {RETRY_MILLISECONDS}\n" + (f"id: {sent}\n\n" if held.etag == sent else "\n")
    while not slots.stopping:
        held = notices.peek(ticket.environment)
        if held.etag != sent:
            if not _still_allowed(app, ticket):
                return
            yield _event(held)
            metrics.stream_events[ticket.environment].inc()
            sent = held.etag
            continue
        if not held.changed.wait(heartbeat) and not slots.stopping:
            if not _still_allowed(app, ticket):
                return
            # A comment: proxies see traffic and keep the connection; EventSource ignores it.
            yield ": ping\n\n"


def stream_client(token_id: str | None) -> str:
    """Whom a stream counts against: a server-side token (many servers may share one address) by itself, anyone
    else by address (a client token is shared by every visitor of a site, so it says nothing of who is asking)."""
    token = current_snapshot().tokens.get(token_id) if token_id is not None else None
    if token is not None and token["role"] != "client":
        return f"token:{token_id}"
    return f"address:{request.remote_addr}"


@bp.get("/flag-changes")
@documented(
    "Event stream of one environment's flag changes (OFREP ADR-0008, Server-Sent Events)",
    description=(
        "Connect to the URL of a bulk evaluation's eventStreams: its ticket is the credential (no token header). "
        "Answers text/event-stream: `retry:`, then `event: message` with data "
        '{"type": "refetchEvaluation", "etag": ..., "lastModified": ...} whenever a change can alter the '
        "environment's answers, and `: ping` comments in between. The event id is the configuration ETag; "
        "a Last-Event-ID naming an older one gets an event at once. An expired or forged ticket answers 401: "
        "evaluate (bulk) again for a new URL. One client (an address; a server-side token by itself) holds at most "
        "FF_STREAM_MAX_PER_CLIENT streams per worker (429 too_many_streams beyond), and a worker "
        "FF_STREAM_MAX_PER_WORKER (503)."
    ),
    params={"ticket": "From the eventStreams URL of a bulk evaluation"},
    public=True,
    errors=(400, 401, 429, 503),
)
def flag_changes():
    ticket = verify(request.args.get("ticket"))
    last_event_id = request.headers.get("Last-Event-ID")
    if last_event_id is not None and len(last_event_id) > MAX_LAST_EVENT_ID_CHARS:
        raise LastEventIdTooLong()
    app = current_app._get_current_object()
    # Asked directly: a database that does not answer is a 503 here, not a revoked token.
    if ticket.token_id is not None and not token_active(ticket.token_id):
        raise TokenRevoked()
    if ticket.session_id is not None and sessions.live(ticket.session_id) is None:
        raise SessionEnded()
    # What the client holds: the id of the last event it saw, else the configuration its bulk answer reflected.
    known = last_event_id or ticket.config_etag
    return held_stream(ticket.environment, ticket.token_id, lambda slots: _events(app, ticket, known, slots))


def held_stream(environment: str, token_id: str | None, events: Callable[[OpenStreams], Iterator[str]]) -> Response:
    """A stream's response, holding one of this worker's slots (and of its client's) until it closes.

    Raises StreamsFull or ClientStreamsFull when none is left.
    """
    # Read before taking a slot: a database that does not answer is a 503 with nothing to give back.
    change_notices().state(environment)
    slots = open_streams()
    client = stream_client(token_id)
    slots.acquire(client)
    metrics = get_metrics()
    metrics.streams_open.inc()
    response = Response(events(slots), mimetype="text/event-stream")

    @response.call_on_close
    def _closed() -> None:
        # Here rather than in the generator: one never started (the client left first) runs no finally.
        slots.release(client)
        metrics.streams_open.dec()

    response.headers["Cache-Control"] = "no-cache"
    # nginx passes each event on at once rather than filling its buffer first.
    response.headers["X-Accel-Buffering"] = "no"
    return response


@changes_bp.get("/changes")
@documented(
    "Where to hear of every change this token can see (the admin UI's live view)",
    description=(
        "Answers the current etag of everything a person could see (every flag in every environment, descriptions "
        "and tags included, archived flags, segments and tokens) and the path of a stream: the same Server-Sent "
        "Events stream as OFREP's, whose ticket covers all of it. Each `refetchEvaluation` event means: read again "
        "what is shown (with If-None-Match, an unchanged list costs a 304). The path is relative to the API's base "
        "URL, which the caller knows, so no proxy setting decides where it points."
    ),
    response=ChangeStream,
    errors=(401, 503),
)
def changes():
    principal = authenticate()
    etag = change_notices().state(ALL_CHANGES).etag
    ticket = stream_tickets.issue(ALL_CHANGES, principal, etag)
    stream = url_for("ofrep_events.flag_changes", ticket=ticket).removeprefix(request.script_root)
    response = jsonify({"etag": etag, "stream": stream})
    response.headers["Cache-Control"] = "no-store"
    return response

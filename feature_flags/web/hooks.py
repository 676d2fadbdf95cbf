"""What every request gets: a request id, request metrics, an access log line, security headers and CORS.

One hook before and one after the view do it all, each reading the request once: every hook Flask runs costs a
lookup and a coroutine check, and every `request.` or `g.` a context-local lookup, on a path where a flag read
itself takes tens of microseconds. Headers that never change are built once. What each stage costs is measured
by `make bench` (bench/stages.py).
"""

from __future__ import annotations

import itertools
import os
import re
import time

from flask import Flask, Response, g, request

from ..extensions import METRICS_KEY
from ..logging_setup import AccessLog
from ..metrics import counted
from ..process import current_pid

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HTML_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)
CORS_HEADERS = (
    ("Vary", "Origin"),
    ("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match, If-None-Match, X-API-Key, X-Request-ID"),
    ("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS"),
    ("Access-Control-Expose-Headers", "ETag, Link, X-Request-ID, X-Total-Count"),
)
USER_AGENT_LENGTH = 200


class RequestIds:
    """Fresh request ids, 32 hexadecimal digits: 80 random bits drawn once per process, then a counter.

    Unique across processes and restarts as uuid4's are, without a system call for random bytes per request
    (a request id names a request in the logs; it guards nothing).
    """

    def __init__(self) -> None:
        self._pid = -1
        self._prefix = ""
        self._counter = itertools.count()

    def new(self) -> str:
        """Return the next request id."""
        if self._pid != current_pid():
            # A forked worker draws its own prefix: it must not repeat its parent's ids.
            self._pid, self._prefix, self._counter = current_pid(), os.urandom(10).hex(), itertools.count()
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012x}"


_REQUEST_IDS = RequestIds()


def new_request_id() -> str:
    """Return a fresh request id."""
    return _REQUEST_IDS.new()


def request_id_for(supplied: str | None) -> str:
    """Return the caller's X-Request-ID if it is safe to log and echo, else a fresh one."""
    return supplied if supplied and REQUEST_ID.match(supplied) else new_request_id()


def add_security_headers(response: Response, origin: str | None, origins: frozenset[str]) -> None:
    """Add the headers every answer carries, the HTML page's own, and CORS for an allowed origin."""
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":
        for name, value in HTML_HEADERS:
            headers[name] = value
    if origin and origin in origins:
        headers["Access-Control-Allow-Origin"] = origin
        for name, value in CORS_HEADERS:
            headers[name] = value


def init_app(app: Flask) -> None:
    """Install the per-request hooks."""
    config = app.config["FF"]
    origins = frozenset(config.cors_origins)
    access_log = AccessLog(config.service_name)

    @app.before_request
    def start_request():
        context = g._get_current_object()
        context.started = time.perf_counter()
        incoming = request._get_current_object()
        context.request_id = request_id_for(incoming.headers.get("X-Request-ID"))
        if incoming.method == "OPTIONS" and incoming.headers.get("Origin") in origins:
            return Response(status=204)
        return None

    @app.after_request
    def finish_request(response: Response) -> Response:
        context = g._get_current_object()
        incoming = request._get_current_object()
        request_id = getattr(context, "request_id", "")
        response.headers["X-Request-ID"] = request_id
        headers = incoming.headers
        add_security_headers(response, headers.get("Origin"), origins)
        # Before the body is sent: an event stream is timed to its opening, not to its end hours later.
        seconds = time.perf_counter() - getattr(context, "started", time.perf_counter())
        path, status = incoming.path, response.status_code
        if counted(path):
            app.extensions[METRICS_KEY].requests.observe(incoming.method, incoming.url_rule, status, seconds)
        access_log.write(
            {
                "method": incoming.method,
                "path": path,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "client": incoming.remote_addr,
                "user_agent": headers.get("User-Agent", "")[:USER_AGENT_LENGTH],
            },
            request_id,
        )
        return response

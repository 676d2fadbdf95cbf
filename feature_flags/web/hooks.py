"""What every request gets: a request id, an access log line, security headers and CORS."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

access_log = logging.getLogger("feature_flags.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    """Install the per-request hooks."""
    origins = set(app.config["FF"].cors_origins)

    @app.before_request
    def start_request():
        g.started = time.perf_counter()
        supplied = request.headers.get("X-Request-ID", "")
        g.request_id = supplied if REQUEST_ID.match(supplied) else uuid.uuid4().hex
        if request.method == "OPTIONS" and request.headers.get("Origin") in origins:
            return Response(status=204)
        return None

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers["X-Content-Type-Options"] = "nosniff"
        if response.mimetype == "text/html":
            response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["Referrer-Policy"] = "no-referrer"
        origin = request.headers.get("Origin")
        if origin and origin in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = (
                "Authorization, Content-Type, If-Match, If-None-Match, X-API-Key, X-Request-ID"
            )
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE, OPTIONS"
            response.headers["Access-Control-Expose-Headers"] = "ETag, X-Request-ID"
        duration_ms = round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2)
        access_log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "client": request.remote_addr,
                "user_agent": request.user_agent.string[:200],
            },
        )
        return response

"""What each stage of the request pipeline costs, in-process: `python -m bench.stages` (run by `make bench`).

Whole requests go straight to the WSGI callable with a prebuilt environ (no HTTP, no test client), for the
service and for a bare Flask app returning the same bytes: their difference is what the service adds. Each
stage (request id, access-log line, Prometheus, security headers, authentication, body parsing) is then timed
alone, inside a request context, so the figures say where that difference goes. The access line is written to
/dev/null: the write itself is the kernel's, and is counted.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g
from werkzeug.test import EnvironBuilder

from tests.support import DatabaseServer

ADMIN_TOKEN = "ff_admin_bench-token-0123456789abcdef"
FLAG = "flag-00001"
CONTEXT_BODY = json.dumps({"context": {"targetingKey": "user-1234", "plan": "pro", "country": "NZ"}}).encode()
CALLS = int(os.environ.get("BENCH_STAGE_CALLS", "3000"))
ROUNDS = 5


def _wsgi_caller(app: Flask, path: str, method: str, body: bytes | None, token: str) -> Callable[[], bytes]:
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "bench/1", "Content-Type": "application/json"}
    base = EnvironBuilder(path=path, method=method, data=body or b"", headers=headers).get_environ()
    payload = body or b""

    def call() -> bytes:
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(payload)
        answer = app.wsgi_app(environ, lambda status, headers, exc_info=None: None)
        try:
            return b"".join(answer)
        finally:
            getattr(answer, "close", lambda: None)()

    return call


def microseconds(call: Callable[[], Any], calls: int = CALLS) -> float:
    """Return the median over ROUNDS of call()'s mean time in µs."""
    for _ in range(min(calls, 300)):
        call()
    means = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        means.append((time.perf_counter() - started) / calls * 1e6)
    return round(statistics.median(means), 1)


def _bare_app(bodies: dict[str, bytes]) -> Flask:
    bare = Flask("bare")

    @bare.route("/<name>", methods=["GET", "POST"])
    def constant(name: str) -> Response:
        return Response(bodies[name], mimetype="application/json")

    return bare


def measure(uri: str) -> dict[str, Any]:
    """Measure whole requests (service and bare app) and each stage alone; return the figures."""
    from feature_flags import create_app
    from feature_flags.config import Config
    from feature_flags.evaluation.ofrep import _context
    from feature_flags.extensions import METRICS_KEY
    from feature_flags.logging_setup import AccessLog
    from feature_flags.tokens.access import authenticate
    from feature_flags.web.hooks import add_security_headers, request_id_for

    app = create_app(Config(mongo_uri=uri, mongo_db="bench_stages", seed_demo=False, admin_token=ADMIN_TOKEN))
    admin = app.test_client()
    admin.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {ADMIN_TOKEN}"
    admin.post("/flags", json={"name": FLAG, "environments": {"production": True}})
    for index in range(2, 51):
        admin.post("/flags", json={"name": f"flag-{index:05d}", "description": f"Benchmark flag number {index}"})
    token = admin.post("/tokens", json={"name": "stages", "role": "client", "environment": "production"}).json
    client = token["token"]
    requests = {
        "ofrep_single (client token)": (f"/ofrep/v1/evaluate/flags/{FLAG}", "POST", CONTEXT_BODY, client),
        "flag (admin token)": (f"/flags/{FLAG}", "GET", None, ADMIN_TOKEN),
        "list of 50 (admin token)": ("/flags?environment=production", "GET", None, ADMIN_TOKEN),
    }
    callers = {name: _wsgi_caller(app, *spec) for name, spec in requests.items()}
    bodies = {name: call() for name, call in callers.items()}
    bare = _bare_app({str(index): body for index, body in enumerate(bodies.values())})
    bare_callers = {
        name: _wsgi_caller(bare, f"/{index}", requests[name][1], requests[name][2], "x")
        for index, name in enumerate(callers)
    }

    figures: dict[str, Any] = {"requests": [], "stages": []}
    saved, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115 (closed below)
    try:
        for name, call in callers.items():
            ours, theirs = microseconds(call), microseconds(bare_callers[name])
            figures["requests"].append({"request": name, "service_us": ours, "bare_us": theirs,
                                        "added_us": round(ours - theirs, 1)})  # fmt: skip

        path, method, body, secret = requests["ofrep_single (client token)"]
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json", "User-Agent": "bench/1"}
        origins = frozenset(app.config["FF"].cors_origins)
        access_log = AccessLog(app.config["FF"].service_name)
        metrics = app.extensions[METRICS_KEY].requests
        fields = {"method": "POST", "path": path, "status": 200, "duration_ms": 0.12, "client": "127.0.0.1",
                  "user_agent": "bench/1"}  # fmt: skip
        with app.test_request_context(path, method=method, data=body, headers=headers):
            rule = app.url_map.bind("localhost").match(path, method=method, return_rule=True)[0]
            response = Response(b"{}", mimetype="application/json")

            def authenticated() -> None:
                g.pop("principal", None)
                authenticate()

            def parsed() -> None:
                from flask import request

                request.environ["wsgi.input"] = io.BytesIO(body)
                request.__dict__.pop("_cached_data", None)
                _context()

            stages = {
                "request id": lambda: request_id_for(None),
                "access-log line": lambda: access_log.write(fields, "0123456789abcdef0123456789abcdef"),
                "Prometheus (latency and count)": lambda: metrics.observe("POST", rule, 200, 0.0001),
                "security headers": lambda: add_security_headers(response, None, origins),
                "authentication (client token)": authenticated,
                "body parsing (context)": parsed,
            }
            for name, stage in stages.items():
                figures["stages"].append({"stage": name, "us": microseconds(stage)})
    finally:
        sys.stdout.close()
        sys.stdout = saved
        app.extensions["feature_flags.store"].client.close()
    return figures


def print_figures(figures: dict[str, Any]) -> None:
    """Print the whole-request and per-stage figures."""
    print(f"\n{'in-process request (WSGI, no HTTP)':<34} {'service µs':>11} {'bare µs':>9} {'added µs':>9}")
    for row in figures["requests"]:
        print(f"{row['request']:<34} {row['service_us']:>11} {row['bare_us']:>9} {row['added_us']:>9}")
    print(f"\n{'pipeline stage, alone':<34} {'µs':>11}")
    for row in figures["stages"]:
        print(f"{row['stage']:<34} {row['us']:>11}")


def main() -> int:
    """Start a throwaway database, measure, print."""
    server = DatabaseServer(":memory:").start()
    try:
        print_figures(measure(server.uri))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

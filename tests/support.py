"""What the tests and the benchmarks share: a database server of their own, free ports, tools, tokens, receivers."""

from __future__ import annotations

import http.client
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pymongo import MongoClient

from feature_flags import PROJECT_ROOT, create_app
from feature_flags.config import Config

ROOT = PROJECT_ROOT
# Debian's Chromium, with the settings headless runs need here (no sandbox as root, nothing fetched).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN_TOKEN = "ff_admin_test-bootstrap-token-0123456789"
IN_CI = os.environ.get("CI", "").lower() == "true"
# The production image's environment, requirements.txt alone (`make test` builds it as the Dockerfile does).
IMAGE_VENV = Path(os.environ.get("FF_IMAGE_VENV", ROOT / ".venv-image")).resolve()


@contextmanager
def serving(app, port: int = 0) -> Iterator[str]:
    """Serve the app on a real threaded HTTP server on loopback (any free port, or this one); yield its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def npm_installed(source: Path, build: Path, files: tuple[str, ...]) -> Path:
    """Copy files from source to build and npm ci there from the pinned lock file, again only when it changes."""
    npm = require_tool("npm")
    build.mkdir(parents=True, exist_ok=True)
    for name in files:
        shutil.copyfile(source / name, build / name)
    lock = (source / "package-lock.json").read_bytes()
    # npm ci costs ~10 s; the packages are reinstalled only when the lock file changes.
    installed = build / "node_modules" / ".installed-lock"
    if not installed.exists() or installed.read_bytes() != lock:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=build, check=True, timeout=600)
        installed.write_bytes(lock)
    return build


def require_tool(path_or_name: str) -> str:
    """Return a tool's path; skip the test without it, but fail in CI, where it must be installed."""
    found = shutil.which(path_or_name)
    if found is None:
        if IN_CI:
            pytest.fail(f"{path_or_name} is required in CI but is not installed (see .ci/run)")
        pytest.skip(f"{path_or_name} is not installed")
    return found


def image_bin() -> Path:
    """Return the bin folder of the image's environment; skip without it, but fail in CI, where make builds it.

    Servers that stand for the image start from here, not from the test environment: pytest and the test tools
    bring packages of their own, which once hid a runtime dependency the image lacked.
    """
    if not (IMAGE_VENV / "bin" / "gunicorn").exists():
        message = f"{IMAGE_VENV} has no gunicorn: build it with `make {IMAGE_VENV.name}/.installed` (make test does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return IMAGE_VENV / "bin"


class DatabaseServer:
    """A SecantusDB daemon in its own process, which a test can stop and start again on the same port."""

    def __init__(self, storage: Path | str = ":memory:", port: int | None = None, *extra: str) -> None:
        self.storage = str(storage)
        self.port = port or free_port()
        self.extra = extra
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> DatabaseServer:
        command = [
            str(Path(sys.executable).with_name("secantusd-py")),
            "--host", "127.0.0.1", "--port", str(self.port), "--storage-path", self.storage,
            "--log-level", "WARNING", *self.extra,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("the database server exited at start-up") from None
                time.sleep(0.05)
        client = MongoClient(self.uri, serverSelectionTimeoutMS=10000)
        client.admin.command("ping")
        client.close()
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def app_on(server: DatabaseServer, db_name: str = "app", **changes):
    """Build an app over a test's own database server."""
    config = Config(
        mongo_uri=server.uri,
        mongo_db=db_name,
        seed_demo=False,
        admin_token=ADMIN_TOKEN,
        webhook_allowed_networks=("127.0.0.0/8",),
        auth_failure_limit="10000/minute",
    )
    return create_app(replace(config, **changes))


def auth(token: str = ADMIN_TOKEN) -> dict[str, str]:
    """Return the Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


class Receiver:
    """A webhook receiver on 127.0.0.1 that records what it is sent; it can stop, and start again on its port."""

    def __init__(self, port: int | None = None, status: int = 204, delay: float = 0.0) -> None:
        self.port = port or free_port()
        self.status = status
        self.delay = delay
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay)
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the listening socket: connections are refused until start() again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self) -> list[dict]:
        """The audit events of the json deliveries received, in arrival order."""
        return [json.loads(body)["event"] for _, body in self.received]

    def unique_events(self) -> list[dict]:
        """The audit events received, de-duplicated by delivery id as a receiver would, in first-arrival order."""
        seen: dict[str, dict] = {}
        for headers, body in self.received:
            seen.setdefault(headers["X-Webhook-Delivery"], json.loads(body)["event"])
        return list(seen.values())

    def unique_actions(self) -> list[tuple[str, str]]:
        """The (flag name, action) of each delivery, de-duplicated by delivery id as a receiver would."""
        seen: dict[str, tuple[str, str]] = {}
        for headers, body in self.received:
            event = json.loads(body)["event"]
            seen.setdefault(headers["X-Webhook-Delivery"], (event.get("flag_name"), event["action"]))
        return list(seen.values())


def wait_for(condition, seconds: float = 10.0):
    """Return condition()'s first true result, polling until the deadline; fail the test past it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError("the condition did not hold in time")


class EventStream:
    """An SSE connection read on a thread of its own: what arrives is queued, each wait is bounded."""

    def __init__(self, url: str, last_event_id: str | None = None) -> None:
        parts = urlsplit(url)
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_event_id} if last_event_id else {})}
        self._connection.request("GET", f"{parts.path}?{parts.query}", headers=headers)
        self.response = self._connection.getresponse()
        self.status = self.response.status
        self.received: queue.Queue = queue.Queue()
        self.last_id: str | None = None
        self.ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            while line := self.response.readline():
                line = line.decode().rstrip("\r\n")
                if line.startswith(":"):
                    self.received.put(("comment", line))
                elif line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                    if name == "id":
                        self.last_id = fields["id"]
                elif "data" in fields:
                    self.received.put(("event", fields))
                    fields = {}
                else:
                    fields = {}
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            # Closed by the test, or cut by the server.
            pass
        finally:
            self.ended.set()

    def next(self, kind: str, seconds: float = 5.0) -> dict | str | None:
        """Return the next item of this kind ("event" or "comment") within seconds, or None."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got, value = self.received.get(timeout=left)
            except queue.Empty:
                return None
            if got == kind:
                return value
        return None

    def close(self) -> None:
        """Hang up."""
        if self._connection.sock is not None:
            # Shut down first: the reader thread is blocked in a read, which this ends at once.
            self._connection.sock.shutdown(socket.SHUT_RDWR)
        self._connection.close()


SEED_TAGS = ["checkout", "search", "billing", "mobile", "reports"]
SEED_TYPES = ["release", "experiment", "operational", "kill-switch", "permission"]


def seed_flags(app, count: int, actor: str = "seed", audited: bool = True) -> None:
    """Store count flags straight through the storage layer (bulk inserts, not one API call each).

    flag-00007 and the like: every 5th carries "billing" (as its tag), every 2nd is on in staging, types rotate.
    audited=False writes the flags' documents alone, without their created events: 10,000 flags in seconds
    rather than minutes on the embedded database, for tests about many flags, not about their history.
    """
    from feature_flags.extensions import get_store
    from feature_flags.storage.client import utcnow

    many = [
        {
            "name": f"flag-{i:05d}",
            "description": f"Flag number {i}",
            "environments": {"staging": i % 2 == 0},
            "tags": [SEED_TAGS[i % len(SEED_TAGS)]],
            "type": SEED_TYPES[i % len(SEED_TYPES)],
        }
        for i in range(count)
    ]
    store = get_store(app)
    if audited:
        store.create_flags(many, actor)
        return
    now = utcnow()
    # One bulk insert of thousands outlasts an ordinary operation's timeout on a loaded machine.
    with store.bounded(120):
        store.db.flags.insert_many([store._new_flag(fields, actor, None, now)[0] for fields in many])
    store._bump_flags_revision()

"""Fixtures: a real MongoDB wire server for the run, a fresh database and app per test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pymongo import MongoClient
from werkzeug.serving import make_server

from feature_flags import create_app
from feature_flags.config import Config

ADMIN_TOKEN = "ff_admin_test-bootstrap-token-0123456789"
IN_CI = os.environ.get("CI", "").lower() == "true"


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_tool(path_or_name: str) -> str:
    """Return a tool's path; skip the test without it, but fail in CI, where it must be installed."""
    found = shutil.which(path_or_name)
    if found is None:
        if IN_CI:
            pytest.fail(f"{path_or_name} is required in CI but is not installed (see .ci/run)")
        pytest.skip(f"{path_or_name} is not installed")
    return found


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


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    """A real MongoDB: MONGO_URI when set (CI's mongod), otherwise a SecantusDB daemon for the run."""
    if os.environ.get("MONGO_URI"):
        yield os.environ["MONGO_URI"]
        return
    server = DatabaseServer().start()
    yield server.uri
    server.stop()


@pytest.fixture
def database_server(tmp_path):
    """Start database servers of this test's own (SecantusDB flags as arguments), stopped at the end."""
    started: list[DatabaseServer] = []

    def start(*flags: str) -> DatabaseServer:
        server = DatabaseServer(tmp_path / f"db{len(started)}", None, *flags).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def app_on(server: DatabaseServer, db_name: str = "app", **changes):
    """Build an app over a test's own database server."""
    config = Config(mongo_uri=server.uri, mongo_db=db_name, seed_demo=False, admin_token=ADMIN_TOKEN)
    return create_app(replace(config, **changes))


@pytest.fixture
def config(mongo_uri: str) -> Iterator[Config]:
    """Settings for one test: its own database, demo flags off, a known admin token."""
    db_name = f"test_{uuid.uuid4().hex[:12]}"
    yield Config(mongo_uri=mongo_uri, mongo_db=db_name, seed_demo=False, admin_token=ADMIN_TOKEN)
    client = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    client.drop_database(db_name)
    client.close()


@pytest.fixture
def app(config: Config):
    """The application over this test's database."""
    application = create_app(config)
    yield application
    application.extensions["feature_flags.store"].client.close()


@pytest.fixture
def make_app(config: Config):
    """Build more apps over the same database (other instances), with settings changed."""
    made = []

    def build(**changes):
        application = create_app(replace(config, **changes))
        made.append(application)
        return application

    yield build
    for application in made:
        application.extensions["feature_flags.store"].client.close()


@pytest.fixture
def client(app):
    """A test client that sends the admin token."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {ADMIN_TOKEN}"
    return test_client


@pytest.fixture
def anonymous(app):
    """A test client that sends no token."""
    return app.test_client()


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app on a real threaded HTTP server on loopback; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def auth(token: str = ADMIN_TOKEN) -> dict[str, str]:
    """Return the Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}

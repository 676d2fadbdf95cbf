"""Fixtures only: a real MongoDB wire server for the run, a fresh database and app per test (helpers: support.py)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from playwright.sync_api import Browser, sync_playwright
from pymongo import MongoClient
from pymongo.errors import InvalidOperation

from feature_flags import create_app
from feature_flags.config import Config
from tests.support import ADMIN_TOKEN, CHROMIUM, CHROMIUM_ARGS, DatabaseServer, require_tool, serving


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


@pytest.fixture
def config(mongo_uri: str) -> Iterator[Config]:
    """Settings for one test: its own database, demo flags off, a known admin token."""
    db_name = f"test_{uuid.uuid4().hex[:12]}"
    yield Config(
        mongo_uri=mongo_uri,
        mongo_db=db_name,
        seed_demo=False,
        admin_token=ADMIN_TOKEN,
        # The tests' webhook receivers listen on loopback, which deliveries are otherwise refused.
        webhook_allowed_networks=("127.0.0.0/8",),
        # Tests ask again and again with a token another instance has not seen yet; throttling has tests of its own.
        auth_failure_limit="10000/minute",
    )
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
        # A test may have closed one already (an instance's death): closing it again can find cursors to kill.
        with contextlib.suppress(InvalidOperation):
            application.extensions["feature_flags.store"].client.close()


@pytest.fixture
def client(app):
    """A test client that sends the admin token."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {ADMIN_TOKEN}"
    return test_client


@pytest.fixture
def runner(app):
    """The app's command line (`flask …`), as flaskr's tests have it."""
    return app.test_cli_runner()


@pytest.fixture
def anonymous(app):
    """A test client that sends no token."""
    return app.test_client()


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app on a real threaded HTTP server on loopback; yields its base URL."""
    with serving(app) as base:
        yield base


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole run (skipped without it, a failure in CI)."""
    require_tool(CHROMIUM)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()

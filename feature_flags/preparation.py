"""Getting the database ready: indexes, pending events, demo flags and the first token, once it answers.

A database that is down at start-up must not stop the process (Kubernetes would restart it in a loop), and
a large collection can take far longer to index than one request may wait. So the first attempt is made
at start with the ordinary timeout; if it does not finish, a background thread keeps trying with a bound
of its own. Until preparation is done, readiness says so and API requests answer 503.
"""

from __future__ import annotations

import logging
import threading

import click
from flask import Flask, request
from flask.cli import AppGroup

from .errors import DatabaseUnavailable
from .extensions import PREPARATION_KEY, get_store
from .flags.demo import seed_demo_flags
from .storage import StoreClosed
from .tokens.service import bootstrap_admin_token
from .transfer import bootstrap_import

logger = logging.getLogger(__name__)

# Index builds on a large audit collection take minutes on a slow disk; each attempt may take this long.
PREPARE_TIMEOUT_SECONDS = 600.0
RETRY_SECONDS = 1.0
# A request that arrives while preparation is finishing waits this long before it answers 503.
REQUEST_WAIT_SECONDS = 1.0
# The parts of the API that read or write the database; probes, metrics, the UI page and OpenAPI do not wait.
PREPARED_BLUEPRINTS = frozenset({"flags", "schedules", "usage", "ofrep", "audit", "tokens", "transfer", "webhooks"})


class DatabaseNotPrepared(DatabaseUnavailable):
    code = "database_not_ready"
    message = "The database is being prepared (indexes are being built); try again shortly."


class Preparation:
    """The state of one app's database preparation, and the thread that finishes it."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        """Whether the database is ready for the API."""
        return self._done.is_set()

    def attempt(self, timeout_seconds: float | None = None, again: bool = False) -> None:
        """Prepare the database now (the ordinary timeout unless one is given); raise DatabaseUnavailable.

        Every step is idempotent; again=True runs them even when this process has done so already.
        """
        config = self._app.config["FF"]
        store = get_store(self._app)
        with self._lock:
            if self.done and not again:
                return
            with store.bounded(timeout_seconds):
                store.ensure_indexes()
                store.recover_flag_batches()
                store.recover_pending_events()
                # Before the demo flags: a bootstrap document makes the database non-empty, so they are not seeded.
                bootstrap_import(self._app)
                if config.seed_demo:
                    seed_demo_flags(self._app)
                if config.auth_enabled and not config.admin_token:
                    bootstrap_admin_token(store)
            self._done.set()
        logger.info("database prepared")

    def start(self) -> None:
        """Try once now; if that does not finish, keep trying in the background until it does."""
        try:
            self.attempt()
        except DatabaseUnavailable:
            logger.warning("database not prepared at start-up; preparing it in the background")
            self._thread = threading.Thread(target=self._keep_trying, name="prepare-database", daemon=True)
            self._thread.start()

    def _keep_trying(self) -> None:
        while not self.done:
            try:
                self.attempt(PREPARE_TIMEOUT_SECONDS)
            except DatabaseUnavailable:
                self._done.wait(RETRY_SECONDS)
            except StoreClosed:
                return  # the app was shut down
            except Exception:
                logger.exception("database preparation stopped")
                return

    def require(self) -> None:
        """Raise DatabaseNotPrepared unless preparation finishes within REQUEST_WAIT_SECONDS."""
        if not self._done.wait(REQUEST_WAIT_SECONDS):
            raise DatabaseNotPrepared()


def init_app(app: Flask) -> None:
    """Prepare the database (now or in the background) and hold API requests until it is; add `flask db prepare`."""
    preparation = app.extensions[PREPARATION_KEY] = Preparation(app)
    app.cli.add_command(_cli(preparation))
    preparation.start()

    @app.before_request
    def prepared_before_use():
        if not preparation.done and request.blueprint in PREPARED_BLUEPRINTS:
            preparation.require()


def _cli(preparation: Preparation) -> click.Group:
    group = AppGroup("db", help="The database: indexes, pending audit events, demo flags, the first token.")

    @group.command("prepare")
    def prepare_command() -> None:
        """Prepare the database now, waiting as long as index builds take (the service does this at start)."""
        try:
            preparation.attempt(PREPARE_TIMEOUT_SECONDS, again=True)
        except DatabaseUnavailable as error:
            raise click.ClickException(error.message) from None
        click.echo("database prepared")

    return group


def preparation_of(app: Flask) -> Preparation:
    """Return the app's database preparation."""
    return app.extensions[PREPARATION_KEY]

"""A small, fast feature-flag service: flags per environment over HTTP, stored in MongoDB."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

__version__ = "0.1.0"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger(__name__)


def create_app(config=None) -> Flask:
    """Build the application; config defaults to the environment's settings."""
    from .config import Config

    config = config or Config.from_env()
    from .logging_setup import configure_logging

    # Logging first, so everything the rest of start-up says comes out as JSON.
    configure_logging(config.log_level, config.service_name, secrets=(config.admin_token, config.metrics_token))

    from . import (
        audit,
        auth,
        errors,
        flags,
        health,
        metrics,
        middleware,
        ofrep,
        openapi,
        repository,
        snapshot,
        tokens,
        ui,
    )
    from .bodies import JSONProvider

    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config["FF"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json = JSONProvider(app)
    if config.trusted_proxies:
        # Behind nginx or an ingress the peer is the proxy; trust only as many X-Forwarded-* hops as configured.
        n = config.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    errors.init_app(app)
    middleware.init_app(app)
    metrics.init_app(app)

    repository.init_app(app)
    snapshot.init_app(app)

    for blueprint in (health.bp, openapi.bp, flags.bp, ofrep.bp, audit.bp, tokens.bp, ui.bp):
        app.register_blueprint(blueprint)
    auth.init_app(app)
    tokens.init_cli(app)
    ui.init_cli(app)
    _prepare_database_when_reachable(app)
    return app


def _prepare_database_when_reachable(app: Flask) -> None:
    """Create indexes, settle pending events, seed demo flags and the first token, once the database answers.

    A database that is down at start-up must not stop the process: Kubernetes would restart it
    in a loop. The work is retried before each request until it succeeds.
    """
    from .demo import seed_demo_flags
    from .errors import DatabaseUnavailable
    from .extensions import get_store
    from .snapshot import FAILURE_MEMORY_SECONDS
    from .tokens import bootstrap_admin_token

    config = app.config["FF"]
    lock = threading.Lock()
    state = {"done": False, "failed_at": -FAILURE_MEMORY_SECONDS}

    def prepare() -> None:
        with lock:
            if state["done"]:
                return
            if time.monotonic() - state["failed_at"] < FAILURE_MEMORY_SECONDS:
                # The attempt that just failed for the request ahead of this one would fail again. Trying anyway
                # would queue every request behind one database timeout each, far past the 2-second promise.
                raise DatabaseUnavailable()
            try:
                store = get_store(app)
                store.ensure_indexes()
                store.recover_pending_events()
                if config.seed_demo:
                    seed_demo_flags(store)
                if config.auth_enabled and not config.admin_token:
                    bootstrap_admin_token(store)
            except DatabaseUnavailable:
                state["failed_at"] = time.monotonic()
                raise
            state["done"] = True

    try:
        prepare()
    except DatabaseUnavailable:
        logger.warning("database unavailable at start-up; will prepare it when it answers")

    @app.before_request
    def prepare_before_first_use():
        if not state["done"] and request.endpoint not in {"health.healthz", "health.readyz"}:
            prepare()

"""A small, fast feature-flag service: flags per environment over HTTP, stored in MongoDB."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
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
        preparation,
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
    preparation.init_app(app)
    return app

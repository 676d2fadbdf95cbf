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
    configure_logging(
        config.log_level,
        config.service_name,
        secrets=(config.admin_token, config.metrics_token, config.oidc_client_secret),
    )

    from . import cache, flags, metrics, preparation, schedules, storage, transfer, ui, usage, web, webhooks
    from .audit.routes import bp as audit_bp
    from .change_requests.routes import bp as change_requests_bp
    from .context_fields.routes import bp as context_fields_bp
    from .evaluation.event_stream import bp as ofrep_events_bp
    from .evaluation.event_stream import changes_bp
    from .evaluation.ofrep import bp as ofrep_bp
    from .flags.routes import bp as flags_bp
    from .people import oidc
    from .people.routes import bp as people_bp
    from .schedules.routes import bp as schedules_bp
    from .segments.routes import bp as segments_bp
    from .tokens import access, cli
    from .tokens.routes import bp as tokens_bp
    from .unleash.routes import applications_bp
    from .unleash.routes import bp as unleash_bp
    from .usage.routes import bp as usage_bp
    from .web import throttle
    from .web.bodies import JSONProvider
    from .web.health import bp as health_bp
    from .web.openapi import bp as openapi_bp

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

    web.init_app(app)
    metrics.init_app(app)
    storage.init_app(app)
    throttle.init_app(app)
    cache.init_app(app)
    flags.init_app(app)
    usage.init_app(app)
    schedules.init_app(app)
    webhooks.init_app(app)

    for blueprint in (
        health_bp,
        openapi_bp,
        flags_bp,
        schedules_bp,
        change_requests_bp,
        segments_bp,
        transfer.bp,
        usage_bp,
        context_fields_bp,
        ofrep_bp,
        ofrep_events_bp,
        changes_bp,
        audit_bp,
        tokens_bp,
        webhooks.bp,
        people_bp,
        unleash_bp,
        applications_bp,
        ui.bp,
    ):
        app.register_blueprint(blueprint)
    access.init_app(app)
    oidc.init_app(app)
    cli.init_app(app)
    ui.init_cli(app)
    transfer.init_app(app)
    preparation.init_app(app)
    return app

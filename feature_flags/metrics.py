"""Prometheus metrics: request counts and latency per endpoint, plus the service's own counters."""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from functools import wraps

from flask import Flask, request
from prometheus_client import CollectorRegistry, Counter
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

from . import __version__
from .extensions import METRICS_KEY

# Buckets around what a flag read costs (sub-millisecond) up to the database timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class Metrics:
    """The counters the service updates itself."""

    exporter: PrometheusMetrics
    auth_failures: Counter
    flag_changes: Counter
    database_errors: Counter


def _metrics_guard(token: str | None):
    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if token:
                presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                if not hmac.compare_digest(presented.encode(), token.encode()):
                    return {"error": "unauthorized", "message": "This endpoint needs FF_METRICS_TOKEN."}, 401
            return view(*args, **kwargs)

        return guarded

    return decorate


def init_app(app: Flask) -> Metrics:
    """Expose /metrics; multiprocess-aware when PROMETHEUS_MULTIPROC_DIR is set (gunicorn)."""
    config = app.config["FF"]
    registry = CollectorRegistry()
    options = {
        "group_by": "url_rule",
        "buckets": LATENCY_BUCKETS,
        "defaults_prefix": "flask",
        "metrics_decorator": _metrics_guard(config.metrics_token),
        # /readyz stays counted: its 503s are how Prometheus sees readiness failing (deploy/prometheus/alerts.yaml).
        "excluded_paths": ["^/metrics$", "^/healthz$", "^/static/"],
    }
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        exporter = GunicornInternalPrometheusMetrics(app, registry=registry, **options)
    else:
        exporter = PrometheusMetrics(app, registry=registry, **options)
    exporter.info("feature_flags_info", "Version of the running service", version=__version__)
    metrics = Metrics(
        exporter=exporter,
        auth_failures=Counter(
            "feature_flags_auth_failures",
            "Requests refused for a missing or unknown token",
            ["reason"],
            registry=registry,
        ),
        flag_changes=Counter("feature_flags_flag_changes", "Flag changes by action", ["action"], registry=registry),
        database_errors=Counter(
            "feature_flags_database_errors",
            "Requests that failed because the database was unavailable",
            registry=registry,
        ),
    )
    app.extensions[METRICS_KEY] = metrics
    return metrics

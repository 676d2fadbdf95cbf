"""Prometheus metrics: request counts and latency per endpoint, plus the service's own counters."""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Flask, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics
from werkzeug.routing import Rule

from . import __version__
from .cache.notices import ALL_CHANGES
from .evaluation.engine import REASONS
from .extensions import METRICS_KEY

# Buckets around what a flag read costs (sub-millisecond) up to the database timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Every label value comes from a closed set, whatever a client sends: a made-up method is "other", a path
# no route matches is "unmatched". A label taken from the request would grow the metrics without bound.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
UNMATCHED_RULE = "unmatched"
# Not counted: the scrape itself, liveness probes and static files. /readyz stays counted: its 503s are how
# Prometheus sees readiness failing (deploy/prometheus/alerts.yaml).
UNCOUNTED_PATHS = frozenset({"/metrics", "/healthz"})
UNCOUNTED_PREFIX = "/static/"
# The closed sets of the service's own labels. Each of their series exists from the start, at 0, so a rate over one
# is defined before its first event; the metrics reference lists them from the registry.
FLAG_CHANGE_ACTIONS = ("created", "updated", "toggled", "archived", "revived", "deleted", "scheduled")
AUTH_FAILURE_REASONS = ("missing", "unknown", "session", "throttled")
WEBHOOK_OUTCOMES = ("delivered", "retried", "failed")


@dataclass
class Metrics:
    """The counters the service updates itself."""

    exporter: PrometheusMetrics
    requests: RequestMetrics
    auth_failures: Counter
    flag_changes: Counter
    database_errors: Counter
    # One child per (environment, reason), resolved at start: evaluation is the hot path, .labels() is a lookup
    # with a lock. Both label sets are closed (configured environments, the engine's reasons); no flag label.
    evaluations: dict[tuple[str, str], Counter]
    # One child per outcome of a delivery attempt: delivered, retried (another attempt is due) or failed for good.
    webhook_deliveries: dict[str, Counter]
    # OFREP event streams held open, and refetchEvaluation events sent, per (configured) environment.
    streams_open: Gauge
    stream_events: dict[str, Counter]


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


def method_label(method: str) -> str:
    """Return a method as a metric label: one the app knows, else 'other'."""
    return method if method in KNOWN_METHODS else OTHER_METHOD


def counted(path: str) -> bool:
    """Whether requests to this path are counted in the request metrics."""
    return path not in UNCOUNTED_PATHS and not path.startswith(UNCOUNTED_PREFIX)


class RequestMetrics:
    """Requests and their latency by method, route and status, under the names dashboards query.

    The labelled children are kept per (method label, route, status), all closed sets: `.labels()` is a lookup
    under a lock with label checks, paid once per combination instead of twice per request.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "flask_http_request_duration_seconds",
            "Flask HTTP request duration in seconds",
            ("method", "url_rule", "status"),
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self.total = Counter(
            "flask_http_request_total", "Total number of HTTP requests", ("method", "status"), registry=registry
        )
        self.exceptions = Counter(
            "flask_http_request_exceptions_total",
            "Total number of HTTP requests which resulted in an exception",
            ("method", "status"),
            registry=registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, rule: Rule | None, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        key = (method_label(method), rule.rule if rule is not None else UNMATCHED_RULE, status)
        children = self._children.get(key)
        if children is None:
            label, route, code = key[0], key[1], str(status)
            children = self._children[key] = (self.duration.labels(label, route, code), self.total.labels(label, code))
        children[0].observe(max(seconds, 0.0))
        children[1].inc()

    def exception(self, method: str) -> None:
        """Count a request that ended in an exception no handler turned into a response."""
        self.exceptions.labels(method_label(method), "500").inc()


def init_app(app: Flask) -> None:
    """Expose /metrics; multiprocess-aware when PROMETHEUS_MULTIPROC_DIR is set (gunicorn)."""
    config = app.config["FF"]
    registry = CollectorRegistry()
    # The exporter serves /metrics (merging gunicorn's worker files); the request metrics are ours, so that
    # their labels come from closed sets.
    options = {"export_defaults": False, "metrics_decorator": _metrics_guard(config.metrics_token)}
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        exporter = GunicornInternalPrometheusMetrics(app, registry=registry, **options)
    else:
        exporter = PrometheusMetrics(app, registry=registry, **options)
    requests = RequestMetrics(registry)

    @app.teardown_request
    def count_exception(error: BaseException | None) -> None:
        # Only exceptions no error handler turned into a response arrive here; answered requests are counted
        # by the request hooks (web/hooks.py), which time them.
        if error is not None and counted(request.path):
            requests.exception(request.method)

    exporter.info("feature_flags_info", "Version of the running service", version=__version__)
    evaluations = Counter(
        "feature_flags_evaluations",
        "Flag evaluations (OFREP single and bulk entries) by environment and reason",
        ["environment", "reason"],
        registry=registry,
    )
    deliveries = Counter(
        "feature_flags_webhook_deliveries", "Webhook delivery attempts by outcome", ["outcome"], registry=registry
    )
    stream_events = Counter(
        "feature_flags_event_stream_events",
        "refetchEvaluation events sent on OFREP event streams, by environment (all: the admin UI's streams)",
        ["environment"],
        registry=registry,
    )
    auth_failures = Counter(
        "feature_flags_auth_failures",
        "Requests refused for a missing or unknown token",
        ["reason"],
        registry=registry,
    )
    flag_changes = Counter("feature_flags_flag_changes", "Flag changes by action", ["action"], registry=registry)
    for reason in AUTH_FAILURE_REASONS:
        auth_failures.labels(reason)
    for action in FLAG_CHANGE_ACTIONS:
        flag_changes.labels(action)
    app.extensions[METRICS_KEY] = Metrics(
        exporter=exporter,
        requests=requests,
        auth_failures=auth_failures,
        flag_changes=flag_changes,
        database_errors=Counter(
            "feature_flags_database_errors",
            "Requests that failed because the database was unavailable",
            registry=registry,
        ),
        evaluations={
            (environment, reason): evaluations.labels(environment, reason)
            for environment in config.environments
            for reason in REASONS
        },
        webhook_deliveries={outcome: deliveries.labels(outcome) for outcome in WEBHOOK_OUTCOMES},
        # Summed over the live workers; a dead worker's streams went with it.
        streams_open=Gauge(
            "feature_flags_event_streams_open",
            "OFREP event streams open",
            registry=registry,
            multiprocess_mode="livesum",
        ),
        stream_events={
            **{environment: stream_events.labels(environment) for environment in config.environments},
            # The admin UI's stream of every change, a closed label beside the environments.
            ALL_CHANGES: stream_events.labels("all"),
        },
    )

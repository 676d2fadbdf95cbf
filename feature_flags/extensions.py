"""Where the app keeps its per-app objects, so no module holds a global instance: every key is here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from .metrics import Metrics
    from .storage import Store

STORE_KEY = "feature_flags.store"
METRICS_KEY = "feature_flags.metrics"
CACHE_KEY = "feature_flags.flag_cache"
NOTICES_KEY = "feature_flags.change_notices"
PREPARATION_KEY = "feature_flags.preparation"
EMBEDDED_DATABASE_KEY = "feature_flags.embedded"
TOKEN_USE_KEY = "feature_flags.token_use"
STREAMS_KEY = "feature_flags.streams"
USAGE_KEY = "feature_flags.usage"
LAST_SEEN_KEY = "feature_flags.last_seen"
SCHEDULER_KEY = "feature_flags.scheduler"
DELIVERER_KEY = "feature_flags.webhook_deliverer"
THROTTLE_KEY = "feature_flags.throttle"


def get_store(app: Flask | None = None) -> Store:
    """Return the app's store (the current app's when none is given)."""
    return (app or current_app).extensions[STORE_KEY]


def get_metrics(app: Flask | None = None) -> Metrics:
    """Return the app's metrics."""
    return (app or current_app).extensions[METRICS_KEY]

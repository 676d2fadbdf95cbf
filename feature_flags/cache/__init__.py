"""The flags in memory: one FlagCache per process, kept fresh from the database, serving every read."""

from __future__ import annotations

import logging

from flask import Flask, current_app

from ..errors import DatabaseUnavailable
from ..extensions import CACHE_KEY, NOTICES_KEY, get_store
from .flag_cache import FRESHNESS_SECONDS, FlagCache
from .notices import ChangeNotices, ConfigState
from .shared_revision import SharedRevision, shared_revision_path
from .siblings import siblings_directory
from .snapshot import Snapshot

logger = logging.getLogger(__name__)

__all__ = [
    "FRESHNESS_SECONDS",
    "ChangeNotices",
    "ConfigState",
    "FlagCache",
    "SharedRevision",
    "Snapshot",
    "change_notices",
    "current_snapshot",
    "flag_cache",
    "init_app",
    "shared_revision_path",
    "warm_up",
]


def warm_up(app: Flask) -> None:
    """Load the flags and start following changes now, in this process (gunicorn's post_worker_init, say).

    Otherwise a new worker's first requests wait while it reads every flag (seconds at 10,000 flags).
    A database that does not answer is logged, not raised: the first request will try again. An app
    without a flag cache (the bench's bare baseline under the same gunicorn.conf.py) has nothing to load.
    """
    if CACHE_KEY not in getattr(app, "extensions", {}):
        return
    try:
        flag_cache(app).get()
    except DatabaseUnavailable:
        logger.warning("could not load the flags at worker start; the first request will")


def init_app(app: Flask) -> None:
    """Give the app its flag cache; nothing is read or started until the first request needs it."""
    path = shared_revision_path(app.config["FF"])
    app.extensions[CACHE_KEY] = FlagCache(get_store(app), SharedRevision(path), siblings_directory(path))
    app.extensions[NOTICES_KEY] = ChangeNotices(app.extensions[CACHE_KEY], app.config["FF"].environments)


def flag_cache(app: Flask | None = None) -> FlagCache:
    """Return the app's flag cache."""
    return (app or current_app).extensions[CACHE_KEY]


def current_snapshot(app: Flask | None = None) -> Snapshot:
    """Return the flags as they are now (within the freshness bound)."""
    return flag_cache(app).get()


def change_notices(app: Flask | None = None) -> ChangeNotices:
    """Return the app's per-environment change notices (configuration ETags, and events to wait on)."""
    return (app or current_app).extensions[NOTICES_KEY]

"""Usage: which flags applications really ask for, counted per flag, environment and variant, hour by hour."""

from __future__ import annotations

from flask import Flask, current_app

from ..extensions import LAST_SEEN_KEY, USAGE_KEY, get_metrics, get_store
from .last_seen import LastSeen
from .recorder import UsageRecorder

__all__ = ["LastSeen", "UsageRecorder", "init_app", "last_seen", "shutdown", "usage_recorder"]


def init_app(app: Flask) -> None:
    """Give the app its usage recorder and last-seen stamps; the flusher starts with the first evaluation."""
    config = app.config["FF"]
    seen = app.extensions[LAST_SEEN_KEY] = LastSeen()
    app.extensions[USAGE_KEY] = UsageRecorder(
        get_store(app),
        seen,
        get_metrics(app).evaluations,
        enabled=config.usage_tracking,
        flush_seconds=config.usage_flush_seconds,
    )


def usage_recorder(app: Flask | None = None) -> UsageRecorder:
    """Return the app's usage recorder."""
    return (app or current_app).extensions[USAGE_KEY]


def last_seen(app: Flask | None = None) -> LastSeen:
    """Return when each flag was last evaluated, kept fresh in the background from the first call on."""
    app = app or current_app
    # The flusher refreshes it, also in a process that evaluates nothing itself.
    usage_recorder(app).start()
    return app.extensions[LAST_SEEN_KEY]


def shutdown(app: Flask) -> None:
    """Stop the app's flusher and write the counts it still holds (gunicorn's worker_exit, atexit)."""
    recorder = getattr(app, "extensions", {}).get(USAGE_KEY)
    if recorder is not None:
        recorder.close()

"""Scheduled changes: a flag switched or retargeted in one environment at a given moment, exactly once."""

from __future__ import annotations

from flask import Flask, current_app

from ..extensions import SCHEDULER_KEY
from .scheduler import Scheduler

__all__ = ["Scheduler", "init_app", "scheduler", "shutdown", "start"]


def init_app(app: Flask) -> None:
    """Give the app its scheduler; the thread starts with the process's first request or start()."""
    scheduler = app.extensions[SCHEDULER_KEY] = Scheduler(app)

    @app.before_request
    def scheduler_running():
        # A check of the process id: the thread is started in the process that serves, never before a fork.
        scheduler.start()


def scheduler(app: Flask | None = None) -> Scheduler:
    """Return the app's scheduler."""
    return (app or current_app).extensions[SCHEDULER_KEY]


def start(app: Flask) -> None:
    """Start the app's scheduler in this process (gunicorn's post_worker_init, `python app.py`)."""
    extension = getattr(app, "extensions", {}).get(SCHEDULER_KEY)
    if extension is not None:
        extension.start()


def shutdown(app: Flask) -> None:
    """Stop the app's scheduler (gunicorn's worker_exit, atexit)."""
    extension = getattr(app, "extensions", {}).get(SCHEDULER_KEY)
    if extension is not None:
        extension.stop()

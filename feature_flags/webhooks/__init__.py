"""Webhooks: audited changes POSTed to receivers at least once, in order per webhook, by one process at a time."""

from __future__ import annotations

from flask import Flask, current_app

from ..extensions import DELIVERER_KEY
from .deliverer import Deliverer
from .routes import bp

__all__ = ["Deliverer", "bp", "deliverer", "init_app", "shutdown", "start"]


def init_app(app: Flask) -> None:
    """Give the app its deliverer; the thread starts with the process's first request or start()."""
    extension = app.extensions[DELIVERER_KEY] = Deliverer(app)

    @app.before_request
    def deliverer_running():
        # A check of the process id: the thread is started in the process that serves, never before a fork.
        extension.start()


def deliverer(app: Flask | None = None) -> Deliverer:
    """Return the app's deliverer."""
    return (app or current_app).extensions[DELIVERER_KEY]


def start(app: Flask) -> None:
    """Start the app's deliverer in this process (gunicorn's post_worker_init, `python app.py`)."""
    extension = getattr(app, "extensions", {}).get(DELIVERER_KEY)
    if extension is not None:
        extension.start()


def shutdown(app: Flask) -> None:
    """Stop the app's deliverer and give its lease up (gunicorn's worker_exit, atexit)."""
    extension = getattr(app, "extensions", {}).get(DELIVERER_KEY)
    if extension is not None:
        extension.stop()

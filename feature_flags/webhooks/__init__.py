"""Webhooks: audited changes POSTed to receivers at least once, in order per webhook, by one process at a time."""

from __future__ import annotations

from flask import Flask, current_app

from .. import background
from ..extensions import DELIVERER_KEY
from .deliverer import Deliverer
from .routes import bp

__all__ = ["Deliverer", "bp", "deliverer", "init_app", "shutdown", "start"]


def init_app(app: Flask) -> None:
    """Give the app its deliverer; the thread starts with the process's first request or start()."""
    background.install(app, DELIVERER_KEY, Deliverer(app))


def deliverer(app: Flask | None = None) -> Deliverer:
    """Return the app's deliverer."""
    return (app or current_app).extensions[DELIVERER_KEY]


def start(app: Flask) -> None:
    """Start the app's deliverer in this process (gunicorn's post_worker_init, `python app.py`)."""
    background.start(app, DELIVERER_KEY)


def shutdown(app: Flask) -> None:
    """Stop the app's deliverer and give its lease up (gunicorn's worker_exit, atexit)."""
    background.shutdown(app, DELIVERER_KEY)

"""Scheduled changes: a flag switched or retargeted in one environment at a given moment, exactly once."""

from __future__ import annotations

from flask import Flask, current_app

from .. import background
from ..extensions import SCHEDULER_KEY
from .scheduler import Scheduler

__all__ = ["Scheduler", "init_app", "scheduler", "shutdown", "start"]


def init_app(app: Flask) -> None:
    """Give the app its scheduler; the thread starts with the process's first request or start()."""
    background.install(app, SCHEDULER_KEY, Scheduler(app))


def scheduler(app: Flask | None = None) -> Scheduler:
    """Return the app's scheduler."""
    return (app or current_app).extensions[SCHEDULER_KEY]


def start(app: Flask) -> None:
    """Start the app's scheduler in this process (gunicorn's post_worker_init, `python app.py`)."""
    background.start(app, SCHEDULER_KEY)


def shutdown(app: Flask) -> None:
    """Stop the app's scheduler (gunicorn's worker_exit, atexit)."""
    background.shutdown(app, SCHEDULER_KEY)

"""The HTTP layer every route shares: request hooks, JSON bodies, conditional responses, errors, OpenAPI, probes."""

from __future__ import annotations

from flask import Flask

from . import error_handlers, hooks


def init_app(app: Flask) -> None:
    """Render every error as JSON and install the per-request hooks."""
    error_handlers.init_app(app)
    hooks.init_app(app)

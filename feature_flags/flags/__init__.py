"""Flags: the API to create, read, change, toggle and delete them, their models, rules and write path."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Keep the list's order and index up to date as the flag cache changes, off the path of list requests."""
    from ..cache import flag_cache
    from .listing import warm

    cache = flag_cache(app)
    cache.add_listener(lambda: warm(cache.loaded))

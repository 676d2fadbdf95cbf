"""The flags as the read paths see them: one immutable snapshot at a time."""

from __future__ import annotations

from typing import Any

from flask import Flask

from .errors import FlagNotFound
from .extensions import get_store


class Snapshot:
    """Every flag at one moment, indexed by id and by name."""

    def __init__(self, flags: list[dict[str, Any]]) -> None:
        self.ordered = sorted(flags, key=lambda flag: flag["name"])
        self.by_id = {flag["_id"]: flag for flag in self.ordered}
        self.by_name = {flag["name"]: flag for flag in self.ordered}

    def find(self, ident: str) -> dict[str, Any]:
        """Return the flag with this id or name, or raise FlagNotFound."""
        flag = self.by_id.get(ident) or self.by_name.get(ident)
        if flag is None:
            raise FlagNotFound()
        return flag


def current_snapshot(app: Flask | None = None) -> Snapshot:
    """Return the flags as they are now."""
    return Snapshot(get_store(app).find_all_flags())

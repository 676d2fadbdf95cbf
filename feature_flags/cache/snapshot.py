"""A Snapshot: every flag at one moment, indexed by id and name, with answers memoised per snapshot."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from ..errors import FlagNotFound


class Snapshot:
    """Every flag at one moment, indexed by id and by name; derived answers are memoised per snapshot."""

    def __init__(self, by_id: dict[str, dict[str, Any]]) -> None:
        self.by_id = by_id
        self.by_name = {flag["name"]: flag for flag in by_id.values()}
        self._memo: dict[Any, Any] = {}

    @cached_property
    def ordered(self) -> list[dict[str, Any]]:
        """The flags sorted by name."""
        return sorted(self.by_id.values(), key=lambda flag: flag["name"])

    def find(self, ident: str) -> dict[str, Any]:
        """Return the flag with this id or name, or raise FlagNotFound."""
        flag = self.by_id.get(ident) or self.by_name.get(ident)
        if flag is None:
            raise FlagNotFound()
        return flag

    def memo(self, key: Any, build: Callable[[], Any]) -> Any:
        """Return build()'s result, computed once per snapshot and key (a list body and its ETag, say)."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = build()
            return value


def newer(incoming: dict[str, Any], existing: dict[str, Any] | None) -> bool:
    """Whether incoming is a later version of a flag than existing (or existing is absent)."""
    return existing is None or incoming["version"] > existing["version"]

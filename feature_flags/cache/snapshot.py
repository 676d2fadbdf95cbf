"""A Snapshot: every flag and segment at one moment, indexed by id and name, with answers memoised per snapshot."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cached_property
from typing import Any

from ..errors import FlagNotFound, SegmentNotFound
from ..evaluation.engine import Lookup

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[Any, ...]:
    """Return a sort key under which feature-2 comes before feature-10, case-insensitively (ties by exact name).

    Runs alternate text and numbers, and each run is a pair whose first item says which it is, so a number and
    a text never meet in a comparison.
    """
    parts = _DIGITS.split(name.casefold())
    runs = tuple((0, int(part), "") if index % 2 else (1, 0, part) for index, part in enumerate(parts) if part)
    return (runs, name)


class Snapshot:
    """Every flag and segment at one moment, indexed by id and by name; derived answers are memoised per snapshot."""

    def __init__(
        self,
        by_id: dict[str, dict[str, Any]],
        segments: dict[str, dict[str, Any]] | None = None,
        tokens: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.by_id = by_id
        self.by_name = {flag["name"]: flag for flag in by_id.values()}
        # Segments by id; they change evaluation as flags do, so they live and change in the same snapshot.
        self.segments = segments or {}
        self.segments_by_name = {segment["name"]: segment for segment in self.segments.values()}
        # API tokens by id (name, role, environment, hash): every request is authenticated from memory.
        self.tokens = tokens or {}
        self._memo: dict[Any, Any] = {}

    def with_tokens(self, tokens: dict[str, dict[str, Any]]) -> Snapshot:
        """Return this snapshot with other tokens; the flags' memoised answers stay, since tokens change none."""
        changed = Snapshot.__new__(Snapshot)
        changed.__dict__.update({key: value for key, value in self.__dict__.items() if key != "tokens_by_hash"})
        changed.tokens = tokens
        return changed

    @cached_property
    def tokens_by_hash(self) -> dict[str, dict[str, Any]]:
        """The tokens by the hash of their secret."""
        return {token["hash"]: token for token in self.tokens.values()}

    @cached_property
    def ordered_segments(self) -> list[dict[str, Any]]:
        """Every segment, in natural name order."""
        return sorted(self.segments.values(), key=lambda segment: natural_key(segment["name"]))

    def find_segment(self, ident: str) -> dict[str, Any]:
        """Return the segment with this id or name, or raise SegmentNotFound."""
        segment = self.segments.get(ident) or self.segments_by_name.get(ident)
        if segment is None:
            raise SegmentNotFound()
        return segment

    def lookup(self) -> Lookup:
        """Return a fresh evaluation lookup over this snapshot: one per request's context."""
        return Lookup(self.segments_by_name, self.served_by_name)

    @cached_property
    def ordered(self) -> list[dict[str, Any]]:
        """Every flag, archived ones too, in natural name order."""
        return sorted(self.by_id.values(), key=lambda flag: natural_key(flag["name"]))

    @cached_property
    def served(self) -> list[dict[str, Any]]:
        """The flags evaluation serves (all but the archived), in natural name order."""
        return [flag for flag in self.ordered if not flag.get("archived_at")]

    @cached_property
    def served_by_name(self) -> dict[str, dict[str, Any]]:
        """The served flags by name: an archived flag is not found by evaluation, though its name stays taken."""
        return {flag["name"]: flag for flag in self.served}

    def find(self, ident: str) -> dict[str, Any]:
        """Return the flag with this id or name, or raise FlagNotFound."""
        flag = self.by_id.get(ident) or self.by_name.get(ident)
        if flag is None:
            raise FlagNotFound()
        return flag

    def memo_latest(self, key: Any, version: Any, build: Callable[[], Any]) -> Any:
        """Return build()'s result for this key and version; only the latest version's is kept.

        For answers that also depend on something besides the flags (the clock, usage): a snapshot can live for
        days, and keeping every version's answer would grow without bound.
        """
        held = self._memo.get(key)
        if held is not None and held[0] == version:
            return held[1]
        value = build()
        self._memo[key] = (version, value)
        return value

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

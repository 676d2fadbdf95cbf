"""A Snapshot: every flag and segment at one moment, indexed by id and name, with answers memoised per snapshot."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..errors import FlagNotFound, SegmentNotFound
from ..evaluation.engine import Lookup

_DIGITS = re.compile(r"(\d+)")
# A derived answer is updated from the previous snapshot's while fewer flags changed than this share of them;
# beyond it (an import, a reload) building it afresh costs no more.
DERIVE_SHARE = 0.125
DERIVE_MINIMUM = 64


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
        *,
        base: Snapshot | None = None,
        changed: Iterable[str] = (),
    ) -> None:
        """base: the snapshot this one replaces, of which only flags with the changed ids differ (None: unrelated)."""
        self.by_id = by_id
        self.by_name = {flag["name"]: flag for flag in by_id.values()}
        # Segments by id; they change evaluation as flags do, so they live and change in the same snapshot.
        self.segments = segments or {}
        self.segments_by_name = {segment["name"]: segment for segment in self.segments.values()}
        # API tokens by id (name, role, environment, hash): every request is authenticated from memory.
        self.tokens = tokens or {}
        self._memo: dict[Any, Any] = {}
        # Keys whose answers can be updated for a few changed flags rather than built afresh (see memo's derive).
        self._derivable: set[Any] = set()
        # Such answers of an earlier snapshot, each with the ids of the flags changed since it: the answer only,
        # never the snapshot, so no chain of old snapshots stays alive.
        self._inherited: dict[Any, tuple[Any, frozenset[str]]] = {}
        if base is not None:
            self._inherit(base, frozenset(changed))

    def _inherit(self, base: Snapshot, changed: frozenset[str]) -> None:
        limit = max(DERIVE_MINIMUM, int(len(self.by_id) * DERIVE_SHARE))
        self._derivable = set(base._derivable)
        for key in base._derivable:
            if key in base._memo:
                value, since = base._memo[key], changed
            elif key in base._inherited:
                value, earlier = base._inherited[key]
                since = earlier | changed
            else:
                continue
            if len(since) <= limit:
                self._inherited[key] = (value, since)

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
        by_id = self.by_id
        return [by_id[flag_id] for flag_id in self.name_order().ids]

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

    def memo(
        self, key: Any, build: Callable[[], Any], derive: Callable[[Any, frozenset[str]], Any] | None = None
    ) -> Any:
        """Return build()'s result, computed once per snapshot and key (a list body and its ETag, say).

        With derive (for answers that depend on the flags alone), the answer is carried to the next snapshots:
        derive(earlier answer, ids of the flags changed since) updates it there, so one toggle among 10,000 flags
        does not rebuild an index of all of them.
        """
        try:
            return self._memo[key]
        except KeyError:
            pass
        if derive is None:
            value = build()
        else:
            self._derivable.add(key)
            inherited = self._inherited.pop(key, None)
            value = build() if inherited is None else derive(*inherited)
        self._memo[key] = value
        return value

    def name_order(self) -> Order:
        """Every flag id, archived ones too, in natural name order."""
        return sorted_order(self, ("order", None), lambda flag: natural_key(flag["name"]))


@dataclass(frozen=True)
class Order:
    """Every flag id in ascending order of one sort key, with each id's position and the keys in that order."""

    ids: list[str]
    position: dict[str, int]
    keys: list[Any]


def sorted_order(snapshot: Snapshot, memo_key: Any, key: Callable[[dict[str, Any]], Any]) -> Order:
    """Return the snapshot's flag ids ordered by key (unique per flag), kept up to date across snapshots."""

    def build() -> Order:
        ranked = sorted((key(flag), flag_id) for flag_id, flag in snapshot.by_id.items())
        return _order_of([flag_id for _, flag_id in ranked], [rank for rank, _ in ranked])

    def derive(earlier: Order, changed: frozenset[str]) -> Order:
        kept = [
            (rank, flag_id) for rank, flag_id in zip(earlier.keys, earlier.ids, strict=True) if flag_id not in changed
        ]
        keys = [rank for rank, _ in kept]
        ids = [flag_id for _, flag_id in kept]
        for flag_id in changed:
            flag = snapshot.by_id.get(flag_id)
            if flag is None:
                continue
            rank = key(flag)
            at = bisect.bisect_left(keys, rank)
            keys.insert(at, rank)
            ids.insert(at, flag_id)
        return _order_of(ids, keys)

    return snapshot.memo(memo_key, build, derive)


def _order_of(ids: list[str], keys: list[Any]) -> Order:
    return Order(ids, {flag_id: index for index, flag_id in enumerate(ids)}, keys)


def newer(incoming: dict[str, Any], existing: dict[str, Any] | None) -> bool:
    """Whether incoming is a later version of a flag than existing (or existing is absent)."""
    return existing is None or incoming["version"] > existing["version"]

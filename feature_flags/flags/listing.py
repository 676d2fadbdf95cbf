"""What a flag's answers add to it (staleness, last evaluations) and how the flag list filters, sorts and pages.

All of it runs over the in-memory snapshot: no database query per list, however many flags there are.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, Protocol

from ..cache.snapshot import Order, Snapshot, natural_key, sorted_order
from ..errors import ValidationFailed
from .models import EXPECTED_LIFETIME_DAYS, ListQuery

# Staleness by age moves with the clock; answers are recomputed (and their memos rebuilt) at most this often.
STALE_CLOCK_SECONDS = 60


class LastEvaluations(Protocol):
    """When each flag was last evaluated, per environment, as this process last read it."""

    generation: int

    def of(self, flag_id: str) -> Mapping[str, datetime]:
        """Return environment name to when it last evaluated the flag (environments never evaluated are absent)."""


@dataclass(frozen=True)
class View:
    """What decorates the flags of one answer: the clock (to the minute) and the last evaluations."""

    now: datetime
    last_evaluations: LastEvaluations
    unused_after: timedelta | None
    # Flags that live flags require: evaluated on their behalf, so in use whatever their own counts say.
    required: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple[int, int]:
        """What memoised answers depend on beyond the snapshot."""
        return (self.last_evaluations.generation, int(self.now.timestamp()) // STALE_CLOCK_SECONDS)


def clock(seconds: float) -> datetime:
    """Return the moment staleness is judged at: the given Unix time rounded down to the stale clock's step."""
    return datetime.fromtimestamp(seconds // STALE_CLOCK_SECONDS * STALE_CLOCK_SECONDS, UTC)


def stale_reason(flag: dict[str, Any], view: View, seen: Mapping[str, datetime] | None = None) -> str | None:
    """Say why the flag is (potentially) stale: marked, lifetime or unused; None when it is not.

    seen is the flag's last evaluations when the caller has read them already.
    """
    if flag.get("marked_stale"):
        return "marked"
    lifetime = EXPECTED_LIFETIME_DAYS.get(flag.get("type", "release"))
    if lifetime is None:
        # Kill switches and permissions are meant to stay: only a person can call them stale.
        return None
    if flag.get("created_at") is None:
        # A flag stored before creation times were kept: its age is unknown, so it is not judged by it.
        return None
    age = view.now - flag["created_at"]
    if age > timedelta(days=lifetime):
        return "lifetime"
    if view.unused_after is not None and age > view.unused_after and flag["name"] not in view.required:
        if seen is None:
            seen = view.last_evaluations.of(flag["_id"])
        latest = max(seen.values(), default=None)
        if latest is None or view.now - latest > view.unused_after:
            return "unused"
    return None


def presented(flag: dict[str, Any], view: View) -> dict[str, Any]:
    """Return the flag as answers show it: its stored fields, staleness and last evaluation per environment."""
    seen = view.last_evaluations.of(flag["_id"])
    reason = stale_reason(flag, view, seen)
    shown = {key: value for key, value in flag.items() if key != "marked_stale"}
    shown.update(
        stale=reason is not None,
        stale_reason=reason,
        last_evaluated_at={environment: seen.get(environment) for environment in flag["environments"]},
    )
    return shown


def derived_tag(flag: dict[str, Any], view: View) -> str:
    """Return a short tag of what an answer adds to the flag, so the ETag changes when it does."""
    seen = view.last_evaluations.of(flag["_id"])
    text = repr((stale_reason(flag, view, seen), sorted((env, moment.isoformat()) for env, moment in seen.items())))
    return format(zlib.crc32(text.encode()), "08x")


def required_flags(snapshot: Snapshot) -> frozenset[str]:
    """Return the names of the flags that live flags name as prerequisites, in any environment."""

    def build() -> frozenset[str]:
        return frozenset(
            prerequisite["flag"]
            for flag in snapshot.served
            for settings in flag["targeting"].values()
            for prerequisite in settings.get("prerequisites") or ()
        )

    return snapshot.memo(("required",), build)


# -- the list -----------------------------------------------------------------------------------------------

NO_TIME = datetime.min.replace(tzinfo=UTC)
SORT_FIELDS = {"name": None, "updated_at": "updated_at", "created_at": "created_at"}


def _sort_key(field: str | None) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    if field is None:
        return lambda flag: natural_key(flag["name"])
    # Ties (flags created in one batch share a millisecond) go by name, so the order is total and pages are stable.
    # A flag stored before times were kept sorts as the oldest.
    return lambda flag: (flag.get(field) or NO_TIME, natural_key(flag["name"]))


def _order(snapshot: Snapshot, field: str | None) -> Order:
    return sorted_order(snapshot, ("order", field), _sort_key(field))


@dataclass(frozen=True)
class _Facts:
    """What the list filters one flag on."""

    archived: bool
    tags: frozenset[str]
    type: str
    on: frozenset[str]
    # Name and description, case-folded.
    text: str


@dataclass(frozen=True)
class _Index:
    """The snapshot's flag ids by what the list filters on, so a filter is a few set operations, not a scan."""

    facts: dict[str, _Facts]
    live: frozenset[str]
    archived: frozenset[str]
    by_tag: dict[str, frozenset[str]]
    by_type: dict[str, frozenset[str]]
    on_in: dict[str, frozenset[str]]
    # Every text in one string, NUL between them, with where each starts: one str.find pass answers a search.
    joined: str
    starts: list[int]
    text_ids: list[str]

    def containing(self, needle: str) -> set[str]:
        """Return the ids whose name or description (case-folded) contains the case-folded needle."""
        if "\x00" in needle:
            # Could span two texts in the joined string: ask each text instead.
            return {flag_id for flag_id, fact in self.facts.items() if needle in fact.text}
        found: set[str] = set()
        at = self.joined.find(needle)
        while at != -1:
            which = bisect.bisect_right(self.starts, at) - 1
            found.add(self.text_ids[which])
            following = which + 1
            if following == len(self.starts):
                break
            at = self.joined.find(needle, self.starts[following])
        return found


def _facts(flag: dict[str, Any]) -> _Facts:
    on = frozenset(environment for environment, enabled in flag["environments"].items() if enabled)
    text = f"{flag['name']}\n{flag['description']}".casefold()
    return _Facts(flag["archived_at"] is not None, frozenset(flag["tags"]), flag["type"], on, text)


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for name, flag_id in pairs:
        groups.setdefault(name, set()).add(flag_id)
    return groups


def _indexed(facts: dict[str, _Facts]) -> _Index:
    """Build the index from every flag's facts (the joined search text too)."""
    text_ids = list(facts)
    texts = [facts[flag_id].text for flag_id in text_ids]
    starts = list(accumulate((len(text) + 1 for text in texts[:-1]), initial=0)) if texts else []
    return _Index(
        facts,
        frozenset(flag_id for flag_id, fact in facts.items() if not fact.archived),
        frozenset(flag_id for flag_id, fact in facts.items() if fact.archived),
        _frozen(_grouped((tag, flag_id) for flag_id, fact in facts.items() for tag in fact.tags)),
        _frozen(_grouped((fact.type, flag_id) for flag_id, fact in facts.items())),
        _frozen(_grouped((environment, flag_id) for flag_id, fact in facts.items() for environment in fact.on)),
        "\x00".join(texts),
        starts,
        text_ids,
    )


def _frozen(groups: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    return {name: frozenset(ids) for name, ids in groups.items() if ids}


def _index(snapshot: Snapshot) -> _Index:
    def build() -> _Index:
        return _indexed({flag_id: _facts(flag) for flag_id, flag in snapshot.by_id.items()})

    def derive(earlier: _Index, changed: frozenset[str]) -> _Index:
        facts = dict(earlier.facts)
        before = {flag_id: facts.pop(flag_id, None) for flag_id in changed}
        after = {flag_id: _facts(snapshot.by_id[flag_id]) for flag_id in changed if flag_id in snapshot.by_id}
        facts.update(after)
        texts_kept = all(
            before.get(flag_id) is not None and before[flag_id].text == fact.text for flag_id, fact in after.items()
        )
        if texts_kept and len(after) == len(changed):
            # The texts stayed (a toggle, a tag): only the sets the changed flags were or are in are redone.
            return _with_sets(earlier, facts, before, after)
        return _indexed(facts)

    return snapshot.memo(("index",), build, derive)


def _with_sets(earlier: _Index, facts: dict[str, _Facts], before: dict, after: dict[str, _Facts]) -> _Index:
    """The earlier index with the changed flags moved between its sets; the search text is unchanged."""
    changed = frozenset(after)

    def regroup(
        groups: dict[str, frozenset[str]], names: Callable[[_Facts], Iterable[str]]
    ) -> dict[str, frozenset[str]]:
        touched = {name for fact in [*before.values(), *after.values()] for name in names(fact)}
        result = dict(groups)
        for name in touched:
            ids = (groups.get(name, frozenset()) - changed) | {i for i, fact in after.items() if name in names(fact)}
            if ids:
                result[name] = frozenset(ids)
            else:
                result.pop(name, None)
        return result

    archived = {flag_id for flag_id, fact in after.items() if fact.archived}
    return _Index(
        facts,
        (earlier.live - changed) | (changed - archived),
        (earlier.archived - changed) | archived,
        regroup(earlier.by_tag, lambda fact: fact.tags),
        regroup(earlier.by_type, lambda fact: (fact.type,)),
        regroup(earlier.on_in, lambda fact: fact.on),
        earlier.joined,
        earlier.starts,
        earlier.text_ids,
    )


def _stale_ids(snapshot: Snapshot, view: View) -> frozenset[str]:
    return snapshot.memo_latest(
        ("stale",),
        view.key,
        lambda: frozenset(flag_id for flag_id, flag in snapshot.by_id.items() if stale_reason(flag, view) is not None),
    )


def _matching(snapshot: Snapshot, query: ListQuery, environment: str, view: View) -> set[str] | frozenset[str]:
    """Return the ids of the flags the query's filters keep."""
    index = _index(snapshot)
    ids: set[str] | frozenset[str] = index.archived if query.archived else index.live
    empty: frozenset[str] = frozenset()
    for tag in query.tag:
        ids = ids & index.by_tag.get(tag, empty)
    if query.type is not None:
        ids = ids & index.by_type.get(query.type, empty)
    if query.state is not None:
        on = index.on_in.get(environment, empty)
        ids = ids & on if query.state == "on" else ids - on
    if query.stale is not None:
        stale = _stale_ids(snapshot, view)
        ids = ids & stale if query.stale else ids - stale
    if query.q:
        ids = ids & index.containing(query.q.casefold())
    return ids


@dataclass(frozen=True)
class Page:
    """One page of the list: its flags, how many match in all, and the cursor of the next page (None at the end)."""

    flags: list[dict[str, Any]]
    total: int
    next_cursor: str | None


def encode_cursor(sort: str, flag: dict[str, Any]) -> str:
    """Return the cursor that continues a list after this flag, in this order."""
    field = SORT_FIELDS[sort.lstrip("-")]
    position: dict[str, Any] = {"s": sort, "n": flag["name"]}
    if field is not None:
        position["t"] = (flag.get(field) or NO_TIME).isoformat()
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, ...]:
    """Return the sort key a cursor continues after; raise ValidationFailed for one this list did not give."""
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if position["s"] != sort:
            raise ValidationFailed(
                "cursor: the cursor continues a list in another order; keep the sort it was given with.",
                details=[{"field": "cursor", "message": "made for another sort", "type": "invalid_cursor"}],
            )
        name = position["n"]
        field = SORT_FIELDS[sort.lstrip("-")]
        if not isinstance(name, str):
            raise ValueError("name")
        if field is None:
            return natural_key(name)
        moment = datetime.fromisoformat(position["t"])
        if moment.tzinfo is None:
            raise ValueError("zone")
        return (moment, natural_key(name))
    except ValidationFailed:
        raise
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError, AttributeError, OverflowError):
        raise ValidationFailed(
            "cursor: not a cursor this list gave; take it from the Link header's next URL.",
            details=[{"field": "cursor", "message": "not a cursor this list gave", "type": "invalid_cursor"}],
        ) from None


def select(snapshot: Snapshot, query: ListQuery, environment: str, view: View) -> Page:
    """Filter, sort and page the snapshot's flags as the query asks."""
    descending = query.sort.startswith("-")
    order = _order(snapshot, SORT_FIELDS[query.sort.lstrip("-")])
    ids = _matching(snapshot, query, environment, view)
    total = len(ids)
    position = order.position.__getitem__
    # Few matches: sort them; many: walk the order once. Either way ascending here.
    ascending = sorted(ids, key=position) if total * 8 < len(order.ids) else [i for i in order.ids if i in ids]
    if query.cursor is not None:
        after = _decode_cursor(query.cursor, query.sort)
        if descending:
            # Everything before the cursor's place in the whole order, nearest first.
            cut = bisect.bisect_left(ascending, bisect.bisect_left(order.keys, after), key=position)
            ascending = ascending[:cut]
        else:
            cut = bisect.bisect_left(ascending, bisect.bisect_right(order.keys, after), key=position)
            ascending = ascending[cut:]
    limit = query.limit if query.limit is not None else len(ascending)
    # Descending: the last `limit` of the ascending run, largest first.
    chosen = list(reversed(ascending[len(ascending) - limit :])) if descending else ascending[:limit]
    page = [snapshot.by_id[flag_id] for flag_id in chosen]
    next_cursor = encode_cursor(query.sort, page[-1]) if page and len(ascending) > limit else None
    return Page(page, total, next_cursor)


def tag_counts(flags: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return every tag the flags carry with how many carry it, in natural order."""
    counts: dict[str, int] = {}
    for flag in flags:
        for tag in flag["tags"]:
            counts[tag] = counts.get(tag, 0) + 1
    return [{"tag": tag, "flags": counts[tag]} for tag in sorted(counts, key=natural_key)]


def warm(snapshot: Snapshot | None) -> None:
    """Build (or carry over from the previous snapshot) what the list filters and sorts by, before a request asks."""
    if snapshot is not None:
        _order(snapshot, None)
        _index(snapshot)

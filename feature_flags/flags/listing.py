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
from typing import Any, Protocol

from ..cache.snapshot import Snapshot, natural_key
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
    environments: tuple[str, ...]

    @property
    def key(self) -> tuple[int, int]:
        """What memoised answers depend on beyond the snapshot."""
        return (self.last_evaluations.generation, int(self.now.timestamp()) // STALE_CLOCK_SECONDS)


def clock(seconds: float) -> datetime:
    """Return the moment staleness is judged at: the given Unix time rounded down to the stale clock's step."""
    return datetime.fromtimestamp(seconds // STALE_CLOCK_SECONDS * STALE_CLOCK_SECONDS, UTC)


def stale_reason(flag: dict[str, Any], view: View) -> str | None:
    """Say why the flag is (potentially) stale: marked, lifetime or unused; None when it is not."""
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
    if view.unused_after is not None and age > view.unused_after:
        latest = max(view.last_evaluations.of(flag["_id"]).values(), default=None)
        if latest is None or view.now - latest > view.unused_after:
            return "unused"
    return None


def presented(flag: dict[str, Any], view: View) -> dict[str, Any]:
    """Return the flag as answers show it: its stored fields, staleness and last evaluation per environment."""
    reason = stale_reason(flag, view)
    seen = view.last_evaluations.of(flag["_id"])
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
    text = repr((stale_reason(flag, view), sorted((env, moment.isoformat()) for env, moment in seen.items())))
    return format(zlib.crc32(text.encode()), "08x")


# -- the list -----------------------------------------------------------------------------------------------

NO_TIME = datetime.min.replace(tzinfo=UTC)
SORT_FIELDS = {"name": None, "updated_at": "updated_at", "created_at": "created_at"}


def _sort_key(field: str | None) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    if field is None:
        return lambda flag: natural_key(flag["name"])
    # Ties (flags created in one batch share a millisecond) go by name, so the order is total and pages are stable.
    # A flag stored before times were kept sorts as the oldest.
    return lambda flag: (flag.get(field) or NO_TIME, natural_key(flag["name"]))


def _ordered(snapshot: Snapshot, field: str | None) -> tuple[list[dict[str, Any]], dict[str, tuple[Any, ...]]]:
    """Every flag in ascending order of one sort field, with each flag's key: once per snapshot."""

    def build() -> tuple[list[dict[str, Any]], dict[str, tuple[Any, ...]]]:
        key = _sort_key(field)
        keys = {flag["_id"]: key(flag) for flag in snapshot.by_id.values()}
        return sorted(snapshot.by_id.values(), key=lambda flag: keys[flag["_id"]]), keys

    return snapshot.memo(("ordered", field), build)


def _search_texts(snapshot: Snapshot) -> dict[str, str]:
    return snapshot.memo(
        ("search",),
        lambda: {flag["_id"]: f"{flag['name']}\n{flag['description']}".casefold() for flag in snapshot.ordered},
    )


def _stale_reasons(snapshot: Snapshot, view: View) -> dict[str, str | None]:
    return snapshot.memo_latest(
        ("stale",), view.key, lambda: {flag["_id"]: stale_reason(flag, view) for flag in snapshot.by_id.values()}
    )


def _matcher(snapshot: Snapshot, query: ListQuery, environment: str, view: View) -> Callable[[dict], bool]:
    tests: list[Callable[[dict[str, Any]], bool]] = []
    if query.archived:
        tests.append(lambda flag: flag["archived_at"] is not None)
    else:
        tests.append(lambda flag: flag["archived_at"] is None)
    if query.q:
        needle = query.q.casefold()
        texts = _search_texts(snapshot)
        tests.append(lambda flag: needle in texts[flag["_id"]])
    if query.tag:
        wanted = set(query.tag)
        tests.append(lambda flag: wanted.issubset(flag["tags"]))
    if query.type is not None:
        tests.append(lambda flag: flag["type"] == query.type)
    if query.state is not None:
        on = query.state == "on"
        tests.append(lambda flag: flag["environments"].get(environment, False) is on)
    if query.stale is not None:
        reasons = _stale_reasons(snapshot, view)
        stale = query.stale
        tests.append(lambda flag: (reasons[flag["_id"]] is not None) is stale)
    return lambda flag: all(test(flag) for test in tests)


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
    ascending, keys = _ordered(snapshot, SORT_FIELDS[query.sort.lstrip("-")])
    matches = _matcher(snapshot, query, environment, view)
    matching = [flag for flag in ascending if matches(flag)]
    total = len(matching)
    if descending:
        matching.reverse()
    if query.cursor is not None:
        after = _decode_cursor(query.cursor, query.sort)
        if descending:
            # matching runs from the largest key down: skip every key at or above the cursor's.
            start = _first_below(matching, keys, after)
        else:
            start = bisect.bisect_right(matching, after, key=lambda flag: keys[flag["_id"]])
        matching = matching[start:]
    limit = query.limit if query.limit is not None else len(matching)
    page = matching[:limit]
    next_cursor = encode_cursor(query.sort, page[-1]) if page and len(matching) > limit else None
    return Page(page, total, next_cursor)


def _first_below(descending: list[dict[str, Any]], keys: Mapping[str, tuple[Any, ...]], after: tuple[Any, ...]) -> int:
    """Return the index of the first flag whose key is below after, in a list sorted by key from high to low."""
    low, high = 0, len(descending)
    while low < high:
        middle = (low + high) // 2
        if keys[descending[middle]["_id"]] >= after:
            low = middle + 1
        else:
            high = middle
    return low


def tag_counts(flags: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return every tag the flags carry with how many carry it, in natural order."""
    counts: dict[str, int] = {}
    for flag in flags:
        for tag in flag["tags"]:
            counts[tag] = counts.get(tag, 0) + 1
    return [{"tag": tag, "flags": counts[tag]} for tag in sorted(counts, key=natural_key)]

"""Which environments a change to a flag reaches: what roles per environment are checked against."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

# Fields every environment serves from: changing one changes what each environment answers.
SERVED_EVERYWHERE = frozenset({"name", "variants", "off_variant", "stickiness"})


def of_update(
    changes: Mapping[str, Any], environments: Collection[str], current: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """The environments a PUT's changes reach; none for a description, tags, type or the stale mark alone.

    Given the flag as it is, a field sent with the value it already has reaches nothing (a form sends its
    whole set of fields, the name among them, whichever one was edited).
    """
    if current is not None:
        return of_rewrite(current, _merged_targeting(current, changes), environments, changed_only=True)
    if SERVED_EVERYWHERE & changes.keys():
        return tuple(environments)
    named = set(changes.get("environments") or ()) | set(changes.get("targeting") or ())
    return tuple(environment for environment in environments if environment in named)


def _merged_targeting(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes with environments and targeting as whole fields: a PUT merges them environment by environment."""
    merged = dict(changes)
    for field in ("environments", "targeting"):
        if field in changes:
            merged[field] = {**(current.get(field) or {}), **changes[field]}
    return merged


def of_creation(fields: Mapping[str, Any], environments: Collection[str]) -> tuple[str, ...]:
    """The environments a new flag is switched on or given targeting in; elsewhere it starts off."""
    named = {name for name, on in (fields.get("environments") or {}).items() if on} | set(fields.get("targeting") or ())
    return tuple(environment for environment in environments if environment in named)


def serving(flag: Mapping[str, Any], environments: Collection[str]) -> tuple[str, ...]:
    """The environments where the flag is on: archiving, reviving or deleting it changes what they serve."""
    return tuple(environment for environment in environments if flag["environments"].get(environment))


def of_rewrite(
    current: Mapping[str, Any],
    fields: Mapping[str, Any],
    environments: Collection[str],
    changed_only: bool = False,
) -> tuple[str, ...]:
    """The environments a write of whole fields (an import's) reaches: where what it serves differs.

    changed_only: a field served everywhere reaches every environment only if its value changes.
    """
    everywhere = SERVED_EVERYWHERE & fields.keys()
    if changed_only:
        everywhere = {field for field in everywhere if fields[field] != current.get(field)}
    if everywhere:
        return tuple(environments)
    reached = set(serving(current, environments)) if "archived_at" in fields else set()
    for environment in environments:
        for field in ("environments", "targeting"):
            if field in fields and (fields[field] or {}).get(environment) != (current.get(field) or {}).get(
                environment
            ):
                reached.add(environment)
    return tuple(environment for environment in environments if environment in reached)

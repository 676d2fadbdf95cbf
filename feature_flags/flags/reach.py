"""Which environments a change to a flag reaches: what roles per environment are checked against."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

# Fields every environment serves from: changing one changes what each environment answers.
SERVED_EVERYWHERE = frozenset({"name", "variants", "off_variant", "stickiness"})


def of_update(changes: Mapping[str, Any], environments: Collection[str]) -> tuple[str, ...]:
    """The environments a PUT's changes reach; none for a description, tags, type or the stale mark alone."""
    if SERVED_EVERYWHERE & changes.keys():
        return tuple(environments)
    named = set(changes.get("environments") or ()) | set(changes.get("targeting") or ())
    return tuple(environment for environment in environments if environment in named)


def of_creation(fields: Mapping[str, Any], environments: Collection[str]) -> tuple[str, ...]:
    """The environments a new flag is switched on or given targeting in; elsewhere it starts off."""
    named = {name for name, on in (fields.get("environments") or {}).items() if on} | set(fields.get("targeting") or ())
    return tuple(environment for environment in environments if environment in named)


def serving(flag: Mapping[str, Any], environments: Collection[str]) -> tuple[str, ...]:
    """The environments where the flag is on: archiving, reviving or deleting it changes what they serve."""
    return tuple(environment for environment in environments if flag["environments"].get(environment))


def of_rewrite(current: Mapping[str, Any], fields: Mapping[str, Any], environments: Collection[str]) -> tuple[str, ...]:
    """The environments a write of whole fields (an import's) reaches: where what it serves differs."""
    if SERVED_EVERYWHERE & fields.keys():
        return tuple(environments)
    reached = set(serving(current, environments)) if "archived_at" in fields else set()
    for environment in environments:
        if "environments" in fields and fields["environments"].get(environment) != current["environments"].get(
            environment
        ):
            reached.add(environment)
        if "targeting" in fields and fields["targeting"].get(environment) != current["targeting"].get(environment):
            reached.add(environment)
    return tuple(environment for environment in environments if environment in reached)

"""Which environments a change to a flag reaches: what roles per environment and approvals are checked against.

A change reaches an environment when what the environment answers changes: its own answer (on, or the off value
while off) or the answer of a flag that requires it there as a prerequisite.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from ..evaluation.engine import DEFAULT_OFF_VARIANT, DEFAULT_VARIANTS

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


def of_creation(
    fields: Mapping[str, Any], environments: Collection[str], flags: Iterable[Mapping[str, Any]] = ()
) -> tuple[str, ...]:
    """The environments a new flag changes: where it is switched on or given targeting, and where live flags (of
    `flags`) that are on there require a flag of its name (re-creating a deleted prerequisite changes them).

    Its off value elsewhere is not counted: no application has had an answer for a flag that did not exist, and
    every new flag is made that way (removing one is another matter: see of_removal).
    """
    if fields.get("archived_at"):
        return ()  # made archived (an import's): it serves nothing
    named = set(switched_on(fields, environments)) | set(fields.get("targeting") or ())
    named |= set(of_dependents(fields["name"], flags, environments))
    return tuple(environment for environment in environments if environment in named)


def serves_value(flag: Mapping[str, Any], environment: str) -> bool:
    """Whether the flag, were it live, answers more there than a missing flag does: it is on, or its off value is
    not false (a boolean off is what every `getBooleanValue(name, false)` falls back to anyway).
    """
    if (flag.get("environments") or {}).get(environment):
        return True
    variants = flag.get("variants") or DEFAULT_VARIANTS
    return variants.get(flag.get("off_variant") or DEFAULT_OFF_VARIANT, False) is not False


def serving(flag: Mapping[str, Any], environments: Collection[str]) -> tuple[str, ...]:
    """The environments where the flag, were it live, serves a value (see serves_value)."""
    return tuple(environment for environment in environments if serves_value(flag, environment))


def switched_on(flag: Mapping[str, Any], environments: Collection[str]) -> tuple[str, ...]:
    """The environments where the flag is on."""
    return tuple(environment for environment in environments if (flag.get("environments") or {}).get(environment))


def of_dependents(name: str, flags: Iterable[Mapping[str, Any]], environments: Collection[str]) -> tuple[str, ...]:
    """The environments where a live flag that is on there names the flag called name as a prerequisite there.

    A flag that is off serves its off value whatever its prerequisites answer, so only those that are on change;
    and a change to one changes its own environment, so the chain need not be followed further.
    """
    reached: set[str] = set()
    for flag in flags:
        if flag.get("archived_at") or flag.get("name") == name:
            continue
        for environment, settings in (flag.get("targeting") or {}).items():
            if (flag.get("environments") or {}).get(environment) and any(
                prerequisite["flag"] == name for prerequisite in (settings or {}).get("prerequisites") or ()
            ):
                reached.add(environment)
    return tuple(environment for environment in environments if environment in reached)


def of_removal(
    flag: Mapping[str, Any], flags: Iterable[Mapping[str, Any]], environments: Collection[str], reviving: bool = False
) -> tuple[str, ...]:
    """The environments archiving or deleting the flag (or reviving it) changes, judged on the flag as it is.

    A live flag's own answers go, and so do those of the flags that require it; an archived flag serves nothing
    already, so deleting it changes nothing, and reviving it brings both back.
    """
    if (flag.get("archived_at") is None) == reviving:
        return ()
    reached = set(serving(flag, environments)) | set(of_dependents(flag["name"], flags, environments))
    return tuple(environment for environment in environments if environment in reached)


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
    reached = set(serving(current, environments)) if fields.get("archived_at") != current.get("archived_at") else set()
    for environment in environments:
        for field in ("environments", "targeting"):
            if field in fields and (fields[field] or {}).get(environment) != (current.get(field) or {}).get(
                environment
            ):
                reached.add(environment)
    return tuple(environment for environment in environments if environment in reached)

"""Rules across flags and segments: what a flag names exists, and prerequisites never loop or chain too deep.

Checked against a snapshot (every flag and segment within the freshness bound, this instance's own writes at
once). Two writes on different instances within that bound could still make a cycle between them; evaluation
stays safe then (evaluation.MAX_PREREQUISITE_DEPTH, and a flag met again while evaluating it fails).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from ..errors import FlagRequired
from ..evaluation import engine as evaluation
from .models import MAX_SEGMENT_REFERENCES


class Known(Protocol):
    """What a write is checked against: every flag (archived ones too) and every segment, by name."""

    by_name: Mapping[str, dict[str, Any]]
    segments_by_name: Mapping[str, dict[str, Any]]


UNSTATED_DEPENDENCY_RULES = (
    'A rule\'s `when` may name a segment ({"segment": "<name>"}); it must exist, and an environment names at most '
    f"{MAX_SEGMENT_REFERENCES} segments across its rules. Each prerequisite names an existing live flag (not this "
    "one), and its variants are that flag's; prerequisites may not form a cycle, directly or through other flags, "
    f"nor chain more than {evaluation.MAX_PREREQUISITE_DEPTH} flags deep. Each is a 400 naming the field."
)


def _error(field: str, message: str, kind: str) -> dict[str, str]:
    return {"field": field, "message": message, "type": kind}


def _prerequisites_of(flag: Mapping[str, Any], environment: str) -> list[str]:
    settings = (flag.get("targeting") or {}).get(environment) or {}
    return [prerequisite["flag"] for prerequisite in settings.get("prerequisites") or ()]


def _chain_errors(flag: dict[str, Any], environment: str, known: Known) -> list[dict[str, str]]:
    """Cycles back to the flag, and chains deeper than the bound, from each of its prerequisites."""
    name = flag["name"]
    # The flag as it will be, in place of the stored one (which may carry another name, before a rename).
    others = {key: other for key, other in known.by_name.items() if other.get("_id") != flag.get("_id")}
    depth_below: dict[str, int] = {}

    def levels(current: str, path: tuple[str, ...]) -> int:
        """How many levels of prerequisites lie below current; raise _Cycle if one leads back to the flag."""
        if current == name:
            raise _Cycle(path)
        if current in path or len(path) > evaluation.MAX_PREREQUISITE_DEPTH:
            # An older cycle among other flags (made by racing writes), or a chain past the bound: too deep.
            return evaluation.MAX_PREREQUISITE_DEPTH + 1
        if current not in depth_below:
            required = others.get(current)
            below = _prerequisites_of(required, environment) if required is not None else []
            depth_below[current] = max((1 + levels(next_name, (*path, current)) for next_name in below), default=0)
        return depth_below[current]

    errors = []
    for index, required in enumerate(_prerequisites_of(flag, environment)):
        field = f"targeting.{environment}.prerequisites.{index}.flag"
        if required == name or required not in others:
            continue  # reported by _reference_errors
        try:
            depth = 1 + levels(required, (name,))
        except _Cycle as cycle:
            loop = " → ".join((*cycle.path, name))
            errors.append(_error(field, f"prerequisites would form a cycle: {loop}", "prerequisite_cycle"))
            continue
        if depth > evaluation.MAX_PREREQUISITE_DEPTH:
            errors.append(
                _error(
                    field,
                    f"prerequisites chain at most {evaluation.MAX_PREREQUISITE_DEPTH} flags deep",
                    "prerequisites_too_deep",
                )
            )
    return errors


class _Cycle(Exception):
    def __init__(self, path: tuple[str, ...]) -> None:
        super().__init__(" → ".join(path))
        self.path = path


def _reference_errors(flag: dict[str, Any], environment: str, known: Known) -> list[dict[str, str]]:
    settings = (flag.get("targeting") or {}).get(environment) or {}
    errors = []
    named = 0
    for rule_index, rule in enumerate(settings.get("rules") or ()):
        for item_index, item in enumerate(rule["when"]):
            if "segment" not in item:
                continue
            named += 1
            field = f"targeting.{environment}.rules.{rule_index}.when.{item_index}.segment"
            if named > MAX_SEGMENT_REFERENCES:
                message = f"an environment names at most {MAX_SEGMENT_REFERENCES} segments across its rules"
                errors.append(_error(field, message, "too_many_segments"))
            elif item["segment"] not in known.segments_by_name:
                errors.append(_error(field, f"no segment is named {item['segment']!r}", "unknown_segment"))
    for index, prerequisite in enumerate(settings.get("prerequisites") or ()):
        field = f"targeting.{environment}.prerequisites.{index}"
        required = known.by_name.get(prerequisite["flag"])
        if prerequisite["flag"] == flag["name"] or (required is not None and required.get("_id") == flag.get("_id")):
            errors.append(_error(f"{field}.flag", "a flag cannot require itself", "prerequisite_cycle"))
        elif required is None:
            errors.append(_error(f"{field}.flag", f"no flag is named {prerequisite['flag']!r}", "unknown_flag"))
        elif required.get("archived_at"):
            errors.append(_error(f"{field}.flag", f"{prerequisite['flag']!r} is archived", "archived_flag"))
        else:
            for variant_index, variant in enumerate(prerequisite["variants"]):
                if variant not in required["variants"]:
                    known_variants = ", ".join(repr(each) for each in required["variants"])
                    errors.append(
                        _error(
                            f"{field}.variants.{variant_index}",
                            f"{variant!r} is not one of {prerequisite['flag']!r}'s variants ({known_variants})",
                            "unknown_prerequisite_variant",
                        )
                    )
    return errors


def dependency_errors(flag: dict[str, Any], environments: Iterable[str], known: Known) -> list[dict[str, str]]:
    """Return an error for each segment or prerequisite the flag names wrongly, each naming its field."""
    errors = []
    for environment in environments:
        errors += _reference_errors(flag, environment, known)
        errors += _chain_errors(flag, environment, known)
    return errors


def names_others(flag: Mapping[str, Any]) -> bool:
    """Whether the flag names any segment or prerequisite (else there is nothing to check it against)."""
    return any(
        (settings or {}).get("prerequisites")
        or any("segment" in item for rule in (settings or {}).get("rules") or () for item in rule["when"])
        for settings in (flag.get("targeting") or {}).values()
    )


def uses_segment(flag: Mapping[str, Any], segment: str) -> bool:
    """Whether any rule of the flag, in any environment, names the segment."""
    return any(
        item.get("segment") == segment
        for settings in (flag.get("targeting") or {}).values()
        for rule in (settings or {}).get("rules") or ()
        for item in rule["when"]
    )


def environments_naming_segment(flag: Mapping[str, Any], segment: str) -> set[str]:
    """The environments whose rules in this flag name the segment."""
    return {
        environment
        for environment, settings in (flag.get("targeting") or {}).items()
        for rule in (settings or {}).get("rules") or ()
        if any(item.get("segment") == segment for item in rule["when"])
    }


def requires(flag: Mapping[str, Any], name: str) -> bool:
    """Whether the flag names the flag called name as a prerequisite in any environment."""
    return any(
        prerequisite["flag"] == name
        for settings in (flag.get("targeting") or {}).values()
        for prerequisite in (settings or {}).get("prerequisites") or ()
    )


def dependents(flags: Iterable[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """Return the live flags that require the flag called name."""
    return [flag for flag in flags if not flag.get("archived_at") and flag["name"] != name and requires(flag, name)]


def refuse_if_required(flags: Iterable[dict[str, Any]], flag: dict[str, Any], doing: str) -> None:
    """Raise FlagRequired (409, naming them) if live flags require this one."""
    needed_by = dependents(flags, flag["name"])
    if needed_by:
        raise FlagRequired(f"Cannot {doing} {flag['name']!r}: it is a prerequisite of", needed_by)

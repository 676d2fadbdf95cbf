"""An Unleash feature export (the client specification's `state`) mapped onto our flags, for one environment.

Unleash enables a feature when any strategy holds; here the first matching rule serves. Strategies become
rules serving "on" and the fallback serves "off"; a percentage rollout becomes a split, which must come last
(a user outside it is not tried against the next rule), so at most one per flag. Our splits hash
`flag name:stickiness value` with Unleash's murmur3, so a rollout whose groupId is the feature's name keeps
every user in their bucket. Whatever cannot be expressed exactly is listed as unmapped, never dropped silently.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import ValidationFailed
from ..evaluation import engine as evaluation
from ..flags.models import DEFAULT_FLAG_TYPE, EXPECTED_LIFETIME_DAYS, Condition
from ..validation import parse
from .document import MAX_IMPORT_FLAGS, exported_flag, validated_flag

SIMPLE_OPERATORS = {
    "IN": "in",
    "NOT_IN": "not_in",
    "STR_STARTS_WITH": "starts_with",
    "STR_ENDS_WITH": "ends_with",
    "STR_CONTAINS": "contains",
    "NUM_GT": "gt",
    "NUM_GTE": "gte",
    "NUM_LT": "lt",
    "NUM_LTE": "lte",
    "SEMVER_LT": "semver_lt",
    "SEMVER_GTE": "semver_gte",
    "DATE_AFTER": "after",
    "DATE_BEFORE": "before",
}
# The negations we have: only set membership negates exactly (other operators differ on a missing value).
INVERTED = {"IN": "not_in", "NOT_IN": "in"}
NUMBER_OPERATORS = {"NUM_EQ", "NUM_GT", "NUM_GTE", "NUM_LT", "NUM_LTE"}
STRING_OPERATORS = {"STR_STARTS_WITH", "STR_ENDS_WITH", "STR_CONTAINS"}
LIST_OPERATORS = {"IN", "NOT_IN", *STRING_OPERATORS}
ROLLOUT_STRATEGIES = {"flexibleRollout", "gradualRolloutUserId"}
DEFAULT_STICKINESS_WHY = (
    "Unleash's default stickiness falls back to sessionId, then a random number, when userId is absent; here it "
    "is userId only, so a context without userId is outside the rollout"
)


class Unmappable(Exception):
    """One part of a feature has no exact equivalent here; the message says why."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(why)
        self.what = what
        self.why = why


def _error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", details=[{"field": field, "message": message, "type": "invalid"}])


def _present(attribute: str) -> dict[str, Any]:
    # Unleash leaves a context without the stickiness value out of a rollout: every string starts with "".
    return {"attribute": attribute, "op": "starts_with", "values": [""]}


def _number(text: Any, what: str) -> int | float:
    try:
        number = float(text)
    except (TypeError, ValueError):
        raise Unmappable(what, f"{text!r} is not a number") from None
    if not math.isfinite(number):
        raise Unmappable(what, f"{text!r} is not a finite number")
    return int(number) if number.is_integer() else number


def _conditions(constraint: Any, what: str, environments: tuple[str, ...]) -> list[dict[str, Any]]:
    """Map one Unleash constraint to the conditions that express it, or raise Unmappable."""
    if not isinstance(constraint, dict):
        raise Unmappable(what, "a constraint is an object")
    operator = constraint.get("operator")
    attribute = constraint.get("contextName")
    if constraint.get("inverted"):
        if operator not in INVERTED:
            raise Unmappable(f"{what}.inverted", f"an inverted {operator} has no equivalent here")
        op = INVERTED[operator]
    elif operator == "NUM_EQ":
        op = None
    elif operator in SIMPLE_OPERATORS:
        op = SIMPLE_OPERATORS[operator]
    else:
        raise Unmappable(f"{what}.operator", f"{operator} has no equivalent here")
    if operator in LIST_OPERATORS:
        values = constraint.get("values")
        if not isinstance(values, list):
            values = [constraint["value"]] if "value" in constraint else []
        # Case matters only where a value has letters.
        cased = any(isinstance(value, str) and value.lower() != value.upper() for value in values)
        if operator in STRING_OPERATORS and constraint.get("caseInsensitive") and cased:
            raise Unmappable(f"{what}.caseInsensitive", "string comparisons here are case-sensitive")
    else:
        value = constraint.get("value")
        values = [_number(value, f"{what}.value")] if operator in NUMBER_OPERATORS else [value]
    if not values:
        # No value is ever in an empty list: IN never holds and NOT_IN always does.
        raise Unmappable(f"{what}.values", "a constraint without values has no equivalent here")
    ops = ["gte", "lte"] if op is None else [op]
    mapped = [{"attribute": attribute, "op": each, "values": values} for each in ops]
    for condition in mapped:
        try:
            parse(Condition, condition, environments)
        except ValidationFailed as error:
            raise Unmappable(what, error.message) from None
    return mapped


def _strategy(
    strategy: Any, feature: str, what: str, segments: dict[Any, list], environments: tuple[str, ...]
) -> tuple[list[dict[str, Any]], Any, str | None, list[tuple[str, str]]]:
    """Map a strategy: its conditions, its serve ("on", a split or None for never), its stickiness and notes."""
    if not isinstance(strategy, dict):
        raise Unmappable(what, "a strategy is an object")
    name = strategy.get("name")
    parameters = strategy.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise Unmappable(f"{what}.parameters", "parameters are an object")
    if strategy.get("variants"):
        raise Unmappable(f"{what}.variants", "strategy variants have no equivalent here (see the feature's variants)")
    constraints = list(strategy.get("constraints") or [])
    for index, segment in enumerate(strategy.get("segments") or []):
        if segment not in segments:
            raise Unmappable(f"{what}.segments.{index}", f"segment {segment!r} is not in the export")
        # A segment is constraints that must all hold as well: the same as writing them in.
        constraints += segments[segment]
    conditions: list[dict[str, Any]] = []
    for index, constraint in enumerate(constraints):
        conditions += _conditions(constraint, f"{what}.constraints.{index}", environments)
    notes: list[tuple[str, str]] = []
    if name == "default":
        return conditions, "on", None, notes
    if name == "userWithId":
        ids = [part.strip() for part in str(parameters.get("userIds", "")).split(",") if part.strip()]
        if not ids:
            return conditions, None, None, notes
        return [*conditions, {"attribute": "userId", "op": "in", "values": ids}], "on", None, notes
    if name not in ROLLOUT_STRATEGIES:
        raise Unmappable(f"{what}.name", f"the {name!r} strategy has no equivalent here")
    if name == "flexibleRollout":
        rollout = _number(parameters.get("rollout", 100), f"{what}.parameters.rollout")
        stickiness = parameters.get("stickiness") or "default"
    else:
        rollout = _number(parameters.get("percentage", 100), f"{what}.parameters.percentage")
        stickiness = "userId"
    if not isinstance(rollout, int) or not 0 <= rollout <= 100:
        raise Unmappable(f"{what}.parameters", f"a rollout of {rollout} is not a whole percentage")
    group = parameters.get("groupId") or feature
    if rollout == 0:
        return conditions, None, None, notes
    if stickiness == "random":
        if rollout == 100:
            return conditions, "on", None, notes
        raise Unmappable(f"{what}.parameters.stickiness", "a random rollout has no equivalent here")
    if group != feature and rollout < 100:
        raise Unmappable(
            f"{what}.parameters.groupId",
            f"splits here hash the flag's name, so groupId {group!r} would move users to other buckets",
        )
    if stickiness == "default":
        notes.append((f"{what}.parameters.stickiness", DEFAULT_STICKINESS_WHY))
        stickiness = "userId"
    if parse_attribute_error(stickiness, environments):
        raise Unmappable(f"{what}.parameters.stickiness", f"{stickiness!r} is not an attribute name here")
    serve: Any = "on" if rollout == 100 else {"on": rollout, "off": 100 - rollout}
    return [_present(stickiness), *conditions], serve, stickiness, notes


def parse_attribute_error(attribute: Any, environments: tuple[str, ...]) -> bool:
    """Whether attribute is not a valid context attribute name here."""
    try:
        parse(Condition, {"attribute": attribute, "op": "in", "values": ["x"]}, environments)
    except ValidationFailed:
        return True
    return False


def _targeting(
    feature: dict[str, Any], segments: dict[Any, list], environments: tuple[str, ...], unmapped: list
) -> tuple[dict[str, Any], str | None]:
    """Map a feature's strategies to one environment's targeting (and the stickiness its split needs)."""
    name = feature["name"]
    strategies = feature.get("strategies") or []
    if not strategies:
        return {"rules": [], "serve": "on"}, None
    gates: list[dict[str, Any]] = []
    split: tuple[list, Any, str] | None = None
    for index, strategy in enumerate(strategies):
        what = f"strategies.{index}"
        try:
            conditions, serve, stickiness, notes = _strategy(strategy, name, what, segments, environments)
        except Unmappable as part:
            unmapped.append({"flag": name, "what": part.what, "why": part.why})
            continue
        unmapped += [{"flag": name, "what": part, "why": why} for part, why in notes]
        if serve is None:
            continue
        if not conditions and serve == "on":
            # One strategy holds for everyone, so the feature is on for everyone.
            return {"rules": [], "serve": "on"}, None
        if isinstance(serve, dict):
            if split is not None:
                unmapped.append(
                    {
                        "flag": name,
                        "what": what,
                        "why": "one percentage rollout per flag and environment: a user outside the first "
                        "would not be tried against a second",
                    }
                )
                continue
            split = (conditions, serve, stickiness)
            continue
        gates.append({"when": conditions, "serve": "on"})
    rules = list(gates)
    if split is not None:
        rules.append({"when": split[0], "serve": split[1]})
    return {"rules": rules, "serve": "off"}, split[2] if split else None


def _segments(data: dict[str, Any]) -> dict[Any, list]:
    segments = data.get("segments") or []
    if not isinstance(segments, list):
        raise _error("segments", "give a list of segments")
    found: dict[Any, list] = {}
    for index, segment in enumerate(segments):
        if not isinstance(segment, dict) or not isinstance(segment.get("constraints", []), list):
            raise _error(f"segments.{index}", "a segment is an object with an id and a list of constraints")
        found[segment.get("id")] = segment.get("constraints") or []
    return found


def mapped(
    data: Any, environment: str, current: list[dict[str, Any]], environments: tuple[str, ...]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Map an Unleash state onto flag contents for one environment; return them and what could not be mapped."""
    if environment not in environments:
        raise _error("environment", f"unknown environment {environment!r}; known: {', '.join(environments)}")
    if not isinstance(data, dict) or not isinstance(data.get("features"), list):
        raise _error("features", "an Unleash export has a list of features")
    features = data["features"]
    if len(features) > MAX_IMPORT_FLAGS:
        raise _error("features", f"an import holds at most {MAX_IMPORT_FLAGS:,} features, not {len(features):,}")
    segments = _segments(data)
    by_name = {flag["name"]: flag for flag in current}
    contents: list[dict[str, Any]] = []
    unmapped: list[dict[str, str]] = []
    seen: set[str] = set()
    for index, feature in enumerate(features):
        if not isinstance(feature, dict) or not isinstance(feature.get("name"), str):
            raise _error(f"features.{index}.name", "a feature is an object with a name")
        name = feature["name"]
        if name in seen:
            raise _error(f"features.{index}.name", f"{name!r} is given twice")
        seen.add(name)
        targeting, stickiness = _targeting(feature, segments, environments, unmapped)
        if feature.get("variants"):
            unmapped.append(
                {
                    "flag": name,
                    "what": "variants",
                    "why": "Unleash assigns variants with a hash seed and weights of its own, so users would not "
                    "keep their variant; the flag is imported as on/off",
                }
            )
        existing = by_name.get(name)
        if existing is not None:
            content = exported_flag(existing)
        else:
            kind = feature.get("type")
            content = {
                "name": name,
                "description": feature.get("description") or "",
                "type": kind if kind in EXPECTED_LIFETIME_DAYS else DEFAULT_FLAG_TYPE,
                "archived": False,
            }
        content["environments"] = {**content.get("environments", {}), environment: bool(feature.get("enabled"))}
        content["targeting"] = {**content.get("targeting", {}), environment: targeting}
        if stickiness is not None:
            content["stickiness"] = stickiness
        content.setdefault("stickiness", evaluation.DEFAULT_STICKINESS)
        try:
            contents.append(validated_flag(content, environments, f"features.{index}"))
        except ValidationFailed as error:
            unmapped.append({"flag": name, "what": "flag", "why": error.message})
    return contents, unmapped

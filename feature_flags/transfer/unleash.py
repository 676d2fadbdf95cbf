"""An Unleash feature export (the client specification's `state`) mapped onto our flags, for one environment.

Unleash enables a feature when any strategy holds; here the first matching rule serves. Strategies become
rules serving "on" and the fallback serves "off"; a percentage rollout becomes a split, which must come last
(a user outside it is not tried against the next rule), so at most one per flag. Our splits hash
`group:stickiness value` with Unleash's murmur3, so a rollout keeps every user in their bucket.

A feature with variants (its own or its strategies') becomes a flag whose values are Unleash's variant objects
(`{"name", "enabled", "feature_enabled", "payload"?}`, what an Unleash SDK's getVariant returns): each strategy
serves a weighted split of its variants, or else of the feature's, hashed as Unleash hashes them (seed 86028157,
weights out of their total, the strategy's groupId or the feature's name), overrides become rules ahead of it,
and the fallback and off variant is "disabled". Whatever cannot be expressed exactly is listed as unmapped,
never dropped silently.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import ValidationFailed
from ..evaluation import engine as evaluation
from ..flags.models import DEFAULT_FLAG_TYPE, EXPECTED_LIFETIME_DAYS, VARIANT_NAME_PATTERN, Condition
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
# Unleash's seed for variant hashing (rollouts use 0), and the variant it reports when none applies.
VARIANT_SEED = 86028157
DISABLED = "disabled"
# What a flag with variants serves when a strategy without variants holds and the feature has none: Unleash then
# reports the disabled variant of an enabled feature.
ENABLED_WITHOUT_VARIANT = "enabled-without-variant"
DISABLED_VALUE = {"name": DISABLED, "enabled": False, "feature_enabled": False}
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


class Strategy:
    """One strategy, mapped: the conditions it adds, what it serves when they hold, and its variants."""

    def __init__(self, conditions: list[dict[str, Any]], serve: Any, stickiness: str | None) -> None:
        self.conditions = conditions
        # "on", a percentage split, or None: never holds.
        self.serve = serve
        self.stickiness = stickiness
        self.notes: list[tuple[str, str]] = []
        self.variants: list[Any] = []
        self.group: str = ""
        self.variant_stickiness: Any = None


def _strategy(
    strategy: Any, feature: str, what: str, segments: dict[Any, list], environments: tuple[str, ...]
) -> Strategy:
    """Map a strategy onto conditions and a serve, or raise Unmappable."""
    if not isinstance(strategy, dict):
        raise Unmappable(what, "a strategy is an object")
    name = strategy.get("name")
    parameters = strategy.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise Unmappable(f"{what}.parameters", "parameters are an object")
    variants = strategy.get("variants") or []
    if not isinstance(variants, list):
        raise Unmappable(f"{what}.variants", "variants are a list")
    constraints = list(strategy.get("constraints") or [])
    for index, segment in enumerate(strategy.get("segments") or []):
        if segment not in segments:
            raise Unmappable(f"{what}.segments.{index}", f"segment {segment!r} is not in the export")
        # A segment is constraints that must all hold as well: the same as writing them in.
        constraints += segments[segment]
    conditions: list[dict[str, Any]] = []
    for index, constraint in enumerate(constraints):
        conditions += _conditions(constraint, f"{what}.constraints.{index}", environments)
    mapped = _strategy_serve(name, parameters, feature, what, conditions, environments)
    mapped.variants = variants
    mapped.group = str(parameters.get("groupId") or feature)
    # A strategy's variants are hashed by the strategy's stickiness unless a variant names its own.
    mapped.variant_stickiness = (
        variants[0].get("stickiness") if variants and isinstance(variants[0], dict) else None
    ) or (parameters.get("stickiness") if name == "flexibleRollout" else None)
    return mapped


def _strategy_serve(
    name: Any,
    parameters: dict[str, Any],
    feature: str,
    what: str,
    conditions: list[dict[str, Any]],
    environments: tuple[str, ...],
) -> Strategy:
    if name == "default":
        return Strategy(conditions, "on", None)
    if name == "userWithId":
        ids = [part.strip() for part in str(parameters.get("userIds", "")).split(",") if part.strip()]
        if not ids:
            return Strategy(conditions, None, None)
        return Strategy([*conditions, {"attribute": "userId", "op": "in", "values": ids}], "on", None)
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
    group = str(parameters.get("groupId") or feature)
    if rollout == 0:
        return Strategy(conditions, None, None)
    if rollout == 100 and stickiness in ("default", "random"):
        # Unleash falls back to a random number, which a full rollout always admits: everyone is in.
        return Strategy(conditions, "on", None)
    if stickiness == "random":
        raise Unmappable(f"{what}.parameters.stickiness", "a random rollout has no equivalent here")
    notes: list[tuple[str, str]] = []
    if stickiness == "default":
        notes.append((f"{what}.parameters.stickiness", DEFAULT_STICKINESS_WHY))
        stickiness = "userId"
    if parse_attribute_error(stickiness, environments):
        raise Unmappable(f"{what}.parameters.stickiness", f"{stickiness!r} is not an attribute name here")
    if rollout == 100:
        # Everyone with the stickiness value is in: no hash decides.
        mapped = Strategy([_present(stickiness), *conditions], "on", None)
        mapped.notes = notes
        return mapped
    shares = {"on": rollout, "off": 100 - rollout}
    # A rollout hashes "groupId:value" with seed 0 out of 100: a percentage split when the groupId is the
    # feature's name, else a weighted split naming the group.
    serve: Any = shares if group == feature else {"weights": shares, "group": group, "stickiness": stickiness}
    mapped = Strategy([_present(stickiness), *conditions], serve, stickiness)
    mapped.notes = notes
    return mapped


def _variant_key(variant: Any, what: str) -> str:
    if not isinstance(variant, dict) or not isinstance(variant.get("name"), str):
        raise Unmappable(what, "a variant is an object with a name")
    name = variant["name"]
    if name in (DISABLED, ENABLED_WITHOUT_VARIANT) or not re.match(VARIANT_NAME_PATTERN, name):
        raise Unmappable(f"{what}.name", f"{name!r} cannot be a variant name here (1 to 64 letters, digits, '-', '_')")
    return name


def _variant_value(variant: dict[str, Any]) -> dict[str, Any]:
    """Unleash's variant object, as its SDKs' getVariant returns it."""
    value: dict[str, Any] = {"name": variant["name"], "enabled": True, "feature_enabled": True}
    if variant.get("payload") is not None:
        value["payload"] = variant["payload"]
    return value


class Variants:
    """A feature's variant values by name, and the serves and override rules its variant lists map to."""

    def __init__(self, feature: dict[str, Any]) -> None:
        self.values: dict[str, Any] = {DISABLED: DISABLED_VALUE}
        self.feature = feature["name"]
        own = feature.get("variants") or []
        if not isinstance(own, list):
            raise Unmappable("variants", "variants are a list")
        self.own = own

    def serve(
        self, variants: list[Any], group: str, stickiness: Any, what: str, environments: tuple[str, ...]
    ) -> tuple[Any, list[tuple[dict[str, Any], str]], list[tuple[str, str]]]:
        """What a holding strategy serves: a weighted split of these variants; with the override conditions."""
        weights: dict[str, int] = {}
        overrides: list[tuple[dict[str, Any], str]] = []
        notes: list[tuple[str, str]] = []
        for index, variant in enumerate(variants):
            key = _variant_key(variant, f"{what}.{index}")
            value = _variant_value(variant)
            if self.values.get(key, value) != value:
                raise Unmappable(f"{what}.{index}.name", f"two variants are named {key!r} with different payloads")
            self.values[key] = value
            weight = _number(variant.get("weight", 0), f"{what}.{index}.weight")
            if not isinstance(weight, int) or weight < 0:
                raise Unmappable(f"{what}.{index}.weight", f"a weight of {weight} is not a whole number")
            weights[key] = weights.get(key, 0) + weight
            for number, override in enumerate(variant.get("overrides") or []):
                where = f"{what}.{index}.overrides.{number}"
                if not isinstance(override, dict):
                    raise Unmappable(where, "an override is an object")
                condition = {"attribute": override.get("contextName"), "op": "in", "values": override.get("values")}
                try:
                    parse(Condition, condition, environments)
                except ValidationFailed as error:
                    raise Unmappable(where, error.message) from None
                overrides.append((condition, key))
        total = sum(weights.values())
        if not 0 < total <= evaluation.MAX_TOTAL_WEIGHT:
            # Unleash finds no variant when the weights add up to nothing.
            self.values[ENABLED_WITHOUT_VARIANT] = {**DISABLED_VALUE, "feature_enabled": True}
            return ENABLED_WITHOUT_VARIANT, overrides, notes
        stickiness = stickiness or "default"
        if stickiness == "random":
            if len([weight for weight in weights.values() if weight]) > 1:
                raise Unmappable(f"{what}.0.stickiness", "random variant stickiness has no equivalent here")
            stickiness = "userId"
        if stickiness == "default":
            if len([weight for weight in weights.values() if weight]) > 1:
                notes.append((f"{what}.0.stickiness", DEFAULT_STICKINESS_WHY))
            stickiness = "userId"
        if parse_attribute_error(stickiness, environments):
            raise Unmappable(f"{what}.0.stickiness", f"{stickiness!r} is not an attribute name here")
        split = {"weights": weights, "seed": VARIANT_SEED, "group": group, "stickiness": stickiness}
        return split, overrides, notes

    def of_strategy(
        self, strategy: Strategy, what: str, environments: tuple[str, ...]
    ) -> tuple[Any, list[tuple[dict[str, Any], str]], list[tuple[str, str]]]:
        """What a holding strategy serves: its own variants, else the feature's (Unleash's fallback)."""
        if strategy.variants:
            return self.serve(
                strategy.variants, strategy.group, strategy.variant_stickiness, f"{what}.variants", environments
            )
        if self.own:
            first = self.own[0] if isinstance(self.own[0], dict) else {}
            return self.serve(self.own, self.feature, first.get("stickiness"), "variants", environments)
        self.values[ENABLED_WITHOUT_VARIANT] = {**DISABLED_VALUE, "feature_enabled": True}
        return ENABLED_WITHOUT_VARIANT, [], []


def parse_attribute_error(attribute: Any, environments: tuple[str, ...]) -> bool:
    """Whether attribute is not a valid context attribute name here."""
    try:
        parse(Condition, {"attribute": attribute, "op": "in", "values": ["x"]}, environments)
    except ValidationFailed:
        return True
    return False


def _has_variants(feature: dict[str, Any]) -> bool:
    strategies = feature.get("strategies") or []
    return bool(feature.get("variants")) or any(
        isinstance(strategy, dict) and strategy.get("variants") for strategy in strategies
    )


def _targeting(
    feature: dict[str, Any],
    segments: dict[Any, list],
    environments: tuple[str, ...],
    unmapped: list,
    variants: Variants | None,
) -> tuple[dict[str, Any], str | None]:
    """Map a feature's strategies to one environment's targeting (and the stickiness its split needs)."""
    name = feature["name"]
    strategies = feature.get("strategies") or []
    if not strategies:
        # No strategies: Unleash enables the feature for everyone.
        strategies = [{"name": "default"}]
    gates: list[dict[str, Any]] = []
    split: tuple[list, Any, str | None] | None = None
    for index, strategy in enumerate(strategies):
        what = f"strategies.{index}"
        try:
            mapped = _strategy(strategy, name, what, segments, environments)
            if mapped.serve is None:
                continue
            if isinstance(mapped.serve, dict):
                if variants is not None:
                    raise Unmappable(
                        f"{what}.parameters.rollout",
                        "a partial rollout of a feature with variants hashes twice; here a split hashes once",
                    )
                if split is not None:
                    raise Unmappable(
                        what,
                        "one percentage rollout per flag and environment: a user outside the first "
                        "would not be tried against a second",
                    )
            overrides: list[tuple[dict[str, Any], str]] = []
            serve = mapped.serve
            notes = list(mapped.notes)
            if variants is not None:
                serve, overrides, variant_notes = variants.of_strategy(mapped, what, environments)
                notes += variant_notes
        except Unmappable as part:
            unmapped.append({"flag": name, "what": part.what, "why": part.why})
            continue
        unmapped += [{"flag": name, "what": part, "why": why} for part, why in notes]
        for condition, key in overrides:
            gates.append({"when": [*mapped.conditions, condition], "serve": key})
        if variants is None and isinstance(serve, dict):
            split = (mapped.conditions, serve, mapped.stickiness)
            continue
        if not mapped.conditions:
            if variants is None:
                # One strategy holds for everyone, so the feature is on for everyone.
                return {"rules": [], "serve": "on"}, None
            # It serves everyone the rules before it did not: later strategies never decide.
            return {"rules": gates, "serve": serve}, None
        gates.append({"when": mapped.conditions, "serve": serve})
    rules = list(gates)
    if split is not None:
        rules.append({"when": split[0], "serve": split[1]})
    return {"rules": rules, "serve": DISABLED if variants is not None else "off"}, split[2] if split else None


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
        variants = Variants(feature) if _has_variants(feature) else None
        targeting, stickiness = _targeting(feature, segments, environments, unmapped, variants)
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
        if variants is not None:
            content["variants"] = variants.values
            content["off_variant"] = DISABLED
            # Other environments have no "on" to serve: they serve the disabled variant until imported into.
            for other in environments:
                content["targeting"].setdefault(other, {"rules": [], "serve": DISABLED})
        if stickiness is not None:
            content["stickiness"] = stickiness
        content.setdefault("stickiness", evaluation.DEFAULT_STICKINESS)
        try:
            contents.append(validated_flag(content, environments, f"features.{index}"))
        except ValidationFailed as error:
            unmapped.append({"flag": name, "what": "flag", "why": error.message})
    return contents, unmapped

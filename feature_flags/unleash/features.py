"""Our flags as Unleash features, so every Unleash SDK evaluates them in process with our answers.

The contract: an Unleash context's userId is our targetingKey (and stays userId too), its properties are our
attributes, and sessionId, remoteAddress, appName, environment and currentTime keep their names. One environment's
answer for a context maps onto what the SDKs give:

- a boolean flag (every value true or false) is `isEnabled`: the feature is enabled exactly where we serve true.
  Unleash enables a feature at the first strategy that holds, so a rule serving false ahead of rules serving true
  becomes negated constraints in the later strategies (one strategy per negated condition, up to a bound);
- any other flag is `getVariant`: the feature is always enabled, each rule a strategy serving its variant (with
  its value as the payload), in order, and the fallback a last strategy for everyone;
- a percentage split is prefix rollouts in order (Unleash's flexibleRollout hashes `groupId:value` with seed 0 out
  of 100, as our splits do with the flag's name as the group); a weighted split is a strategy's variants (seed
  86028157, out of their total);
- prerequisites are Unleash dependencies, one level deep as Unleash allows.

What the SDKs cannot express exactly is not sent: `NotExpressible` says which construct and why, and the flag is
marked so (see local_evaluation). The SDKs' parsers are strict (Python's Rust engine drops a whole document for
one mistyped field): every field is given in the type and format it must have.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..evaluation import engine

# Unleash's standard context fields: resolved at the top level of a context; anything else is a property.
STANDARD_FIELDS = ("userId", "sessionId", "remoteAddress", "environment", "appName", "currentTime")
# What our attribute names are called in an Unleash context.
CONTEXT_NAMES = {"targetingKey": "userId"}
OPERATORS = {
    "in": "IN",
    "not_in": "NOT_IN",
    "starts_with": "STR_STARTS_WITH",
    "ends_with": "STR_ENDS_WITH",
    "contains": "STR_CONTAINS",
    "lt": "NUM_LT",
    "lte": "NUM_LTE",
    "gt": "NUM_GT",
    "gte": "NUM_GTE",
    "semver_lt": "SEMVER_LT",
    "semver_gte": "SEMVER_GTE",
    "before": "DATE_BEFORE",
    "after": "DATE_AFTER",
}
LIST_OPERATORS = frozenset(engine.SET_OPS + engine.STRING_OPS)
# Unleash's variant weights: a variant served to everyone weighs all of it.
FULL_WEIGHT = 1000
# Strategies one feature may take: a rule serving false ahead of rules serving true multiplies the later ones.
MAX_STRATEGIES = 100
# The variant name Unleash SDKs give for a disabled feature (or one without variants).
DISABLED_VARIANT = "disabled"
# An Unleash variant object's fields, and the payload types the SDKs read.
VARIANT_KEYS = frozenset({"name", "enabled", "feature_enabled", "payload"})
REQUIRED_VARIANT_KEYS = frozenset({"name", "enabled", "feature_enabled"})
# What the SDKs answer getVariant for a disabled feature.
DISABLED_VALUE = {"name": DISABLED_VARIANT, "enabled": False, "feature_enabled": False}
PAYLOAD_TYPES = ("string", "json", "csv", "number")


class NotExpressible(Exception):
    """The flag cannot be evaluated by Unleash's SDKs exactly as it is here; the message says which part and why."""


@dataclass(frozen=True)
class Expressed:
    """A flag in one environment as an Unleash feature, or why it cannot be one."""

    feature: dict[str, Any] | None
    why: str | None = None


def context_name(attribute: str) -> str:
    """The name an Unleash constraint uses for one of our attributes."""
    return CONTEXT_NAMES.get(attribute, attribute)


def is_boolean(flag: Mapping[str, Any]) -> bool:
    """Whether every value the flag can serve is true or false (the SDKs answer it with isEnabled)."""
    return all(isinstance(value, bool) for value in (flag.get("variants") or engine.DEFAULT_VARIANTS).values())


def unleash_variant(value: Any) -> bool:
    """Whether a value is an Unleash variant object, as getVariant returns it (what our import of variants serves)."""
    if not isinstance(value, dict) or not REQUIRED_VARIANT_KEYS <= value.keys() <= VARIANT_KEYS:
        return False
    if not isinstance(value["name"], str) or not isinstance(value["enabled"], bool):
        return False
    if not isinstance(value["feature_enabled"], bool) or (value["enabled"] and not value["feature_enabled"]):
        return False
    if not value["enabled"] and (value["name"] != DISABLED_VARIANT or "payload" in value):
        return False  # what the SDKs answer when no variant applies is exactly this, no more
    given = value.get("payload", {"type": "string", "value": ""})
    return (
        isinstance(given, dict)
        and given.keys() == {"type", "value"}
        and given["type"] in PAYLOAD_TYPES
        and isinstance(given["value"], str)
    )


def is_native(flag: Mapping[str, Any]) -> bool:
    """Whether every value the flag serves is an Unleash variant object (a flag imported from Unleash with variants):
    the SDKs then answer getVariant with that very object and isEnabled with its feature_enabled."""
    return all(unleash_variant(value) for value in (flag.get("variants") or engine.DEFAULT_VARIANTS).values())


def payload(value: Any) -> dict[str, str]:
    """A variant's value as an Unleash payload: a string as it is, a number or anything else as JSON text."""
    if isinstance(value, str):
        return {"type": "string", "value": value}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"type": "number", "value": json.dumps(value)}
    return {"type": "json", "value": json.dumps(value, separators=(",", ":"), sort_keys=True)}


def _number_text(value: Any) -> str:
    # The Rust engine's grammar for a number: [+-]?digits(.digits)?(e[+-]?digits)?; json.dumps of a finite number.
    return json.dumps(int(value) if isinstance(value, float) and value.is_integer() else value)


def _date_text(text: str) -> str:
    # Unleash's SDKs read YYYY-MM-DDTHH:MM:SS.mmmZ: Python's engine refuses a flag with more fractional digits.
    moment = engine.parse_datetime(text)
    if moment is None:
        raise NotExpressible(f"{text!r} is not a date with a time zone")
    utc = moment.astimezone(engine.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _text_values(condition: Mapping[str, Any]) -> list[str]:
    values = [engine.as_text(value) for value in condition["values"]]
    for value in values:
        # The Node SDK trims list values and drops empty ones; Python's engine writes them into rule text.
        if value != value.strip() or value == "" or "\\" in value or '"' in value:
            raise NotExpressible(
                f"the value {value!r} of a condition on {condition['attribute']!r}: Unleash's SDKs trim values, "
                "drop empty ones and cannot read backslashes or quotes in them"
            )
    return values


def constraint(condition: Mapping[str, Any], inverted: bool = False) -> dict[str, Any]:
    """One of our conditions as an Unleash constraint (inverted: its negation, which holds where it does not)."""
    op, attribute = condition["op"], condition["attribute"]
    name = context_name(attribute)
    mapped: dict[str, Any] = {
        "contextName": name,
        "operator": OPERATORS[op],
        "values": [],
        "inverted": inverted,
        "caseInsensitive": False,
    }
    if op in LIST_OPERATORS:
        mapped["values"] = _text_values(condition)
    elif op in engine.NUMBER_OPS:
        mapped["value"] = _number_text(condition["values"][0])
    elif op in engine.SEMVER_OPS:
        mapped["value"] = str(condition["values"][0])
    else:
        if attribute != engine.CURRENT_TIME_ATTRIBUTE:
            raise NotExpressible(
                f"the date condition on {attribute!r}: Unleash's Node SDK compares dates with currentTime only"
            )
        mapped["value"] = _date_text(condition["values"][0])
    return mapped


def present_attribute(condition: Mapping[str, Any]) -> str | None:
    """The attribute a condition only requires to be present (a string test one of whose values is ""), if so.

    Unleash has no such constraint, but a flexibleRollout leaves out every context without its stickiness field:
    a rollout of 100 stickied on the attribute is exactly this condition (as our import of Unleash's rollouts has it).
    """
    if condition["op"] in engine.STRING_OPS and any(engine.as_text(value) == "" for value in condition["values"]):
        return condition["attribute"]
    return None


class _Builder:
    """The strategies of one feature, built rule by rule."""

    def __init__(
        self, flag: Mapping[str, Any], segments: Mapping[str, Mapping[str, Any]], segment_ids: Mapping[str, int]
    ) -> None:
        self.flag = flag
        self.name = flag["name"]
        self.values = flag.get("variants") or engine.DEFAULT_VARIANTS
        self.boolean = is_boolean(flag)
        self.native = is_native(flag)
        # Whether the flag's answer is isEnabled (a boolean flag, an imported Unleash one): variants that disable
        # the feature are then left to Unleash's "not enabled", and must not serve later rules' contexts.
        self.truth_based = self.boolean or self.native
        self.segments = segments
        self.segment_ids = segment_ids
        self.stickiness = flag.get("stickiness") or engine.DEFAULT_STICKINESS
        # What a later strategy must also hold (for boolean flags): an OR of AND-ed constraints. An earlier rule that
        # serves false takes its contexts away from every later one. An alternative Unleash cannot express is held
        # as {"cannot": why}: harmless until a later strategy would need it.
        self.guard: list[list[dict[str, Any]]] = [[]]
        self.strategies: list[dict[str, Any]] = []

    # -- what a rule's `when` is, held or negated ---------------------------------------------------------------

    def _segment(self, name: str) -> Mapping[str, Any]:
        segment = self.segments.get(name)
        if segment is None or name not in self.segment_ids:
            raise NotExpressible(f"segment {name!r}: it is missing or cannot be expressed")
        return segment

    def held(self, when: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[int]]:
        """A rule's conditions as constraints (but those only requiring an attribute), and its segments' ids."""
        constraints, segment_ids = [], []
        for item in when:
            if "segment" in item:
                self._segment(item["segment"])
                segment_ids.append(self.segment_ids[item["segment"]])
            elif present_attribute(item) is None:
                constraints.append(constraint(item))
        return constraints, sorted(set(segment_ids))

    def required(self, when: Sequence[Mapping[str, Any]]) -> str | None:
        """The Unleash context field a rule requires to be present (its rollout's stickiness then), if any."""
        conditions = [item for item in when if "segment" not in item]
        fields = sorted({context_name(item["attribute"]) for item in conditions if present_attribute(item)})
        if len(fields) > 1:
            raise NotExpressible(
                f"a rule requiring each of {', '.join(map(repr, fields))} to be present: an Unleash strategy can "
                "require one context field, its rollout's stickiness"
            )
        return fields[0] if fields else None

    def negated(self, when: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The constraints of which any one, holding, means the rule does not: each condition inverted."""
        conditions: list[Mapping[str, Any]] = []
        for item in when:
            if "segment" in item:
                # A segment cannot be referred to inverted: its conditions are written in, each inverted.
                conditions += self._segment(item["segment"])["conditions"]
            else:
                conditions.append(item)
        return [
            constraint(condition, inverted=True)
            if present_attribute(condition) is None
            else {
                "cannot": f"a rule requiring {condition['attribute']!r} to be present serves false ahead of rules "
                "serving true: Unleash cannot express that a context field is absent"
            }
            for condition in conditions
        ]

    def block(self, when: Sequence[Mapping[str, Any]]) -> None:
        """Take the rule's contexts away from every later strategy (it serves false)."""
        alternatives = self.negated(when)
        self.guard = [[*guard, negation] for guard in self.guard for negation in alternatives]
        if len(self.guard) > MAX_STRATEGIES:
            raise NotExpressible(
                "its rules serving false ahead of rules serving true would take more than "
                f"{MAX_STRATEGIES} strategies to express"
            )

    # -- strategies --------------------------------------------------------------------------------------------

    def _sticky(self) -> str:
        return context_name(self.stickiness)

    def truth(self, name: str) -> bool | None:
        """Whether serving a variant enables the feature (isEnabled); None where the answer is getVariant's alone."""
        value = self.values[name]
        if self.boolean:
            return value
        if self.native:
            return value["feature_enabled"]
        return None

    def _variants(self, weights: Mapping[str, int], stickiness: str) -> list[dict[str, Any]]:
        """A strategy's variants: ours with their values as payloads, or an imported flag's Unleash variants."""
        made = []
        for name, weight in weights.items():
            value = self.values[name]
            if not self.native:
                made.append(
                    {
                        "name": name,
                        "weight": weight,
                        "weightType": "fix",
                        "stickiness": stickiness,
                        "payload": payload(value),
                    }
                )
                continue
            if not value["enabled"]:
                if len(weights) == 1:
                    return []  # a holding strategy without variants: Unleash's disabled variant of an enabled feature
                raise NotExpressible(
                    f"a split between {name!r}, Unleash's variant of an enabled feature without variants, and others"
                )
            variant = {"name": value["name"], "weight": weight, "weightType": "fix", "stickiness": stickiness}
            if "payload" in value:
                variant["payload"] = value["payload"]
            made.append(variant)
        return made

    def _fixed(self, name: str) -> list[dict[str, Any]] | None:
        """What a strategy serving one variant to everyone it holds for carries (nothing for a boolean flag)."""
        return None if self.boolean else self._variants({name: FULL_WEIGHT}, "default")

    def add(
        self,
        constraints: list[dict[str, Any]],
        segment_ids: list[int],
        rollout: int | None = None,
        variants: list[dict[str, Any]] | None = None,
        stickiness: str | None = None,
        group: str | None = None,
    ) -> None:
        """Add one strategy per guard alternative: the rule's constraints, a rollout and variants if any."""
        sticky = stickiness or self._sticky()
        for guard in self.guard:
            for alternative in guard:
                if "cannot" in alternative:
                    raise NotExpressible(alternative["cannot"])
        if rollout is not None:
            name = "flexibleRollout"
            parameters = {"rollout": str(rollout), "stickiness": sticky, "groupId": group or self.name}
        else:
            name = "default"
            # The SDKs hash a strategy's variants by these (with none, by defaults that differ between them).
            parameters = {"groupId": group or self.name, "stickiness": sticky} if variants else {}
        for guard in self.guard:
            self.strategies.append(
                {
                    "name": name,
                    "parameters": parameters,
                    "constraints": [*guard, *constraints],
                    "segments": segment_ids,
                    "variants": variants or [],
                }
            )
        if len(self.strategies) > MAX_STRATEGIES:
            raise NotExpressible(f"it would take more than {MAX_STRATEGIES} strategies to express")

    def serve(self, serve: Any, when: Sequence[Mapping[str, Any]]) -> None:
        """Add what a rule (or the fallback, with no conditions) serves to the contexts it holds for."""
        constraints, segment_ids = self.held(when)
        required = self.required(when)
        # A required field: everyone having it, through a rollout of 100 stickied on it.
        everyone = {"rollout": 100, "stickiness": required} if required else {}
        if isinstance(serve, str):
            weights = {serve: 100}
        elif isinstance(serve.get("weights"), dict):
            self._weighted(serve, constraints, segment_ids, when, required)
            return
        else:
            weights = {name: weight for name, weight in serve.items() if weight > 0}
        if len(weights) == 1:
            (only,) = weights
            # Contexts a rule enabling the feature holds for are enabled by its strategy before any later one is
            # tried; a rule that disables it takes its contexts away from the later ones.
            if self.truth(only) is False:
                self.block(when)
            else:
                self.add(constraints, segment_ids, variants=self._fixed(only), **everyone)
            return
        self._percentages(weights, constraints, segment_ids, when, required)

    def _percentages(
        self,
        weights: Mapping[str, int],
        constraints: list[dict[str, Any]],
        segment_ids: list[int],
        when: Sequence[Mapping[str, Any]],
        required: str | None,
        group: str | None = None,
        stickiness: str | None = None,
    ) -> None:
        """A percentage split: prefix rollouts in the split's order (the first strategy a bucket reaches wins)."""
        sticky = stickiness or self._sticky()
        if required not in (None, sticky):
            # The rollouts already leave out contexts without their stickiness field, but not without another.
            raise NotExpressible(
                f"a rule requiring {required!r} to be present that splits by {sticky!r}: an Unleash strategy can "
                "require one context field, its rollout's stickiness"
            )
        reached = 0
        seen_false = False
        for name, share in weights.items():
            reached += share
            truth = self.truth(name)
            if truth is False:
                seen_false = True
                continue
            if seen_false:
                raise NotExpressible(
                    "a split that serves false to the first buckets and true to later ones: an Unleash rollout "
                    "can only enable the first buckets"
                )
            variants = self._fixed(name)
            self.add(constraints, segment_ids, rollout=reached, variants=variants, stickiness=sticky, group=group)
        if self.truth_based:
            self.block(when)

    def _weighted(
        self,
        serve: Mapping[str, Any],
        constraints: list[dict[str, Any]],
        segment_ids: list[int],
        when: Sequence[Mapping[str, Any]],
        required: str | None,
    ) -> None:
        """A weighted split: one strategy whose variants Unleash picks from as we do (its seed, group, weights)."""
        weights = {name: weight for name, weight in serve["weights"].items() if weight > 0}
        sticky = context_name(serve.get("stickiness") or self.stickiness)
        group = serve.get("group") or self.name
        everyone = {"rollout": 100} if required else {}
        if len(weights) > 1 and serve.get("seed", 0) == 0 and sum(serve["weights"].values()) == 100:
            # Seed 0 out of 100 is Unleash's rollout hash: prefix rollouts by the split's group (an imported
            # rollout whose groupId is not the feature's name).
            self._percentages(weights, constraints, segment_ids, when, required, group, sticky)
            return
        if serve.get("seed", 0) != 86028157 and len(weights) > 1:
            raise NotExpressible("a weighted split hashed with another seed than Unleash's variant seed (86028157)")
        if self.truth_based:
            truths = {self.truth(name) for name in weights}
            if len(truths) > 1:
                raise NotExpressible(
                    "a weighted split between variants that enable the feature and variants that do not: Unleash "
                    "splits variants, not isEnabled"
                )
            if truths == {False}:
                self.block(when)
                return
            if self.boolean:
                self.add(constraints, segment_ids, stickiness=required, **everyone)
                return
        # With a required field, the rollout of 100 is stickied on it and the variants on the split's own.
        self.add(
            constraints,
            segment_ids,
            variants=self._variants(weights, sticky),
            stickiness=required or sticky,
            group=group,
            **everyone,
        )


def _dependencies(
    flag: Mapping[str, Any], environment: str, prerequisites: Sequence[Mapping[str, Any]], lookup: Lookup
) -> list[dict[str, Any]]:
    """Prerequisites as Unleash dependencies; each must be expressible as one (a parent's answer, one level deep)."""
    dependencies = []
    for prerequisite in prerequisites:
        name, wanted = prerequisite["flag"], set(prerequisite["variants"])
        parent = lookup.flags.get(name)
        if parent is None:
            # Missing or archived: ours fails it, and Unleash fails a dependency on a feature it does not have.
            dependencies.append({"feature": name, "enabled": True})
            continue
        if ((parent.get("targeting") or {}).get(environment) or {}).get("prerequisites") and parent["environments"].get(
            environment
        ):
            raise NotExpressible(f"prerequisite {name!r} has prerequisites of its own: Unleash allows one level")
        if lookup.expressed(parent, environment).feature is None:
            raise NotExpressible(f"prerequisite {name!r} cannot be evaluated by the SDKs itself")
        parent_variants = parent.get("variants") or engine.DEFAULT_VARIANTS
        native = is_native(parent)
        if not is_boolean(parent) and not native:
            dependencies.append({"feature": name, "enabled": True, "variants": sorted(wanted)})
            continue
        # What Unleash sees of the parent: whether it is enabled (an imported flag's by its feature_enabled).
        true_names = {
            variant for variant, value in parent_variants.items() if (value["feature_enabled"] if native else value)
        }
        false_names = set(parent_variants) - true_names
        if wanted >= set(parent_variants):
            continue  # any answer will do
        if wanted == true_names:
            dependencies.append({"feature": name, "enabled": True})
        elif wanted == false_names:
            dependencies.append({"feature": name, "enabled": False})
        else:
            raise NotExpressible(
                f"prerequisite {name!r} requires some of its variants that serve the same value as others: "
                "Unleash sees only whether it is enabled"
            )
    return dependencies


class Lookup:
    """The flags and segments a document is made of, and each flag's feature once made (per environment)."""

    def __init__(
        self,
        flags: Mapping[str, Mapping[str, Any]],
        segments: Mapping[str, Mapping[str, Any]],
        segment_ids: Mapping[str, int],
    ) -> None:
        self.flags = flags
        self.segments = segments
        self.segment_ids = segment_ids
        self._made: dict[tuple[str, str], Expressed] = {}

    def expressed(self, flag: Mapping[str, Any], environment: str) -> Expressed:
        """The flag's feature in the environment, or why it has none (made once)."""
        key = (flag["name"], environment)
        if key not in self._made:
            self._made[key] = _BEING_MADE
            try:
                made = Expressed(_feature(flag, environment, self))
            except NotExpressible as why:
                made = Expressed(None, str(why))
            self._made[key] = made
        return self._made[key]


_BEING_MADE = Expressed(None, "prerequisites that lead back to the flag")


def _feature(flag: Mapping[str, Any], environment: str, lookup: Lookup) -> dict[str, Any]:
    builder = _Builder(flag, lookup.segments, lookup.segment_ids)
    variants = flag.get("variants") or engine.DEFAULT_VARIANTS
    off = variants[flag.get("off_variant") or engine.DEFAULT_OFF_VARIANT]
    feature: dict[str, Any] = {
        "name": flag["name"],
        "type": flag.get("type") or "release",
        "description": flag.get("description") or "",
        "enabled": True,
        "stale": bool(flag.get("marked_stale")),
        "impressionData": False,
        "project": "default",
        "strategies": [],
        "variants": [],
        "dependencies": [],
    }
    if not flag["environments"].get(environment):
        if builder.boolean:
            feature["strategies"] = [_everyone()] if off is True else []
        else:
            builder.serve(flag.get("off_variant") or engine.DEFAULT_OFF_VARIANT, [])
            feature["strategies"] = builder.strategies
    else:
        targeting = (flag.get("targeting") or {}).get(environment) or {}
        prerequisites = targeting.get("prerequisites") or ()
        if prerequisites:
            # A failed dependency makes the SDKs answer false, or the disabled variant of a disabled feature.
            if off is not False and off != DISABLED_VALUE:
                raise NotExpressible(
                    "prerequisites on a flag whose off value is not false: when one fails Unleash's SDKs answer "
                    "'disabled', not the off value"
                )
            feature["dependencies"] = _dependencies(flag, environment, prerequisites, lookup)
        for rule in targeting.get("rules") or ():
            builder.serve(rule["serve"], rule["when"])
        builder.serve(targeting.get("serve", engine.DEFAULT_SERVE), [])
        feature["strategies"] = builder.strategies
    if builder.truth_based and not feature["strategies"]:
        # Nothing enables it: Unleash reads an enabled feature without strategies as enabled for everyone.
        feature["enabled"] = False
    return feature


def _everyone() -> dict[str, Any]:
    return {"name": "default", "parameters": {}, "constraints": [], "segments": [], "variants": []}


def segment_ids(segments: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Integer ids for segments (Unleash's are numbers), stable while segments are only added: by creation order.

    A segment whose conditions cannot be expressed gets none, and the flags naming it are not sent.
    """
    ids = {}
    for number, segment in enumerate(sorted(segments.values(), key=lambda segment: segment["_id"]), start=1):
        try:
            for condition in segment["conditions"]:
                constraint(condition)
        except NotExpressible:
            continue
        ids[segment["name"]] = number
    return ids


def local_evaluation(
    flag: Mapping[str, Any],
    flags: Mapping[str, Mapping[str, Any]],
    segments: Mapping[str, Mapping[str, Any]],
    environments: Sequence[str],
) -> dict[str, dict[str, Any]]:
    """Per environment, whether the SDKs are sent the flag (flags: the live ones by name), or why not."""
    if flag.get("archived_at"):
        return {
            environment: {"available": False, "reason": "it is archived: nothing serves it"}
            for environment in environments
        }
    lookup = Lookup(flags, segments, segment_ids(segments))
    shown = {}
    for environment in environments:
        made = lookup.expressed(flag, environment)
        shown[environment] = {"available": made.feature is not None, "reason": made.why}
    return shown


def document(
    flags: Sequence[Mapping[str, Any]], segments: Mapping[str, Mapping[str, Any]], environment: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """The client features document of an environment (version 2), and why each flag left out was left out."""
    by_name = {flag["name"]: flag for flag in flags}
    ids = segment_ids(segments)
    lookup = Lookup(by_name, segments, ids)
    features, left_out = [], {}
    for flag in flags:
        made = lookup.expressed(flag, environment)
        if made.feature is None:
            left_out[flag["name"]] = made.why or "it cannot be expressed"
        else:
            features.append(made.feature)
    served_segments = [
        {
            "id": ids[segment["name"]],
            "name": segment["name"],
            "constraints": [constraint(condition) for condition in segment["conditions"]],
        }
        for segment in sorted(segments.values(), key=lambda segment: ids.get(segment["name"], 0))
        if segment["name"] in ids
    ]
    return {"version": 2, "features": features, "segments": served_segments, "query": {}}, left_out

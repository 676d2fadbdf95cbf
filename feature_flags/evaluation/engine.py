"""Flag evaluation: which variant a flag serves to a context. Pure functions over plain dicts, no I/O.

A flag carries ``variants`` (name -> value), an ``off_variant`` served while it is off in an environment,
and per environment ``targeting``: ``{"rules": [{"when": [conditions], "serve": serve}], "serve": serve}``.
Rules are tried in order and the first whose conditions all hold wins; a serve is a variant name, a
percentage split ``{"on": 30, "off": 70}`` decided by Unleash's normalized hash of the stickiness attribute,
so a user lands in the same bucket here as in Unleash, across restarts and instances, or a weighted split
``{"weights": {"a": 500, "b": 500}, "seed": 86028157, "group": "..."}`` hashed as Unleash hashes variants.

A rule's ``when`` may name a segment (``{"segment": "beta-users"}``), which holds when all the segment's
conditions do; an environment's ``prerequisites`` name other flags that must serve one of the listed variants
for the same context, or the flag serves its off variant. Both are looked up by name in a Lookup, one per
context, which also evaluates each flag at most once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import mmh3

DEFAULT_VARIANTS: dict[str, Any] = {"on": True, "off": False}
DEFAULT_OFF_VARIANT = "off"
DEFAULT_SERVE = "on"
DEFAULT_STICKINESS = "targetingKey"
# A weighted split's bounds: Unleash's variant weights add up to 1000; what is hashed before the value is a
# flag name or an Unleash groupId.
MAX_TOTAL_WEIGHT = 100_000
MAX_GROUP_LENGTH = 200
# Unleash's convention: an absent currentTime means "now", so before/after rules schedule a flag.
CURRENT_TIME_ATTRIBUTE = "currentTime"

SET_OPS = ("in", "not_in")
STRING_OPS = ("starts_with", "ends_with", "contains")
NUMBER_OPS = ("lt", "lte", "gt", "gte")
SEMVER_OPS = ("semver_lt", "semver_gte")
DATE_OPS = ("before", "after")
OPS = SET_OPS + STRING_OPS + NUMBER_OPS + SEMVER_OPS + DATE_OPS
# Ops that compare against exactly one value.
SINGLE_VALUE_OPS = NUMBER_OPS + SEMVER_OPS + DATE_OPS

STATIC = "STATIC"
DEFAULT = "DEFAULT"
TARGETING_MATCH = "TARGETING_MATCH"
SPLIT = "SPLIT"
DISABLED = "DISABLED"
# LaunchDarkly's name: a prerequisite did not serve one of the variants the flag requires of it.
PREREQUISITE_FAILED = "PREREQUISITE_FAILED"
# OpenFeature's reason for an evaluation that failed (a bulk entry with an errorCode, say).
ERROR = "ERROR"
# Every reason an evaluation here can end with: the closed label set of the evaluations metric.
REASONS = (STATIC, DEFAULT, TARGETING_MATCH, SPLIT, DISABLED, PREREQUISITE_FAILED, ERROR)
# How deep prerequisites may chain. Writes refuse cycles and deeper chains, but two concurrent writes could still
# make one; evaluation then fails the prerequisite at this depth (or on meeting a flag it is evaluating) instead
# of recursing without end.
MAX_PREREQUISITE_DEPTH = 10

# Bounds on an evaluation context, so one evaluation costs bounded time whatever a client sends.
MAX_CONTEXT_BYTES = 32 * 1024
MAX_CONTEXT_ATTRIBUTES = 100
MAX_CONTEXT_STRING_LENGTH = 1024
MAX_ATTRIBUTE_NAME_LENGTH = 100

TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
INVALID_CONTEXT = "INVALID_CONTEXT"
GENERAL = "GENERAL"

SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_SEMVER = re.compile(SEMVER_PATTERN)


@dataclass(frozen=True)
class Evaluation:
    """The outcome of evaluating one flag: the value, the variant it came from and why."""

    value: Any
    variant: str
    reason: str
    metadata: dict[str, Any] = field(default_factory=dict)


class EvaluationError(Exception):
    """The flag could not be evaluated for this context; code is an OpenFeature error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def with_defaults(flag: dict[str, Any]) -> dict[str, Any]:
    """Fill the evaluation fields a flag stored before they existed lacks; the flag is changed in place."""
    if not flag.get("variants"):
        flag["variants"] = dict(DEFAULT_VARIANTS)
    flag.setdefault("off_variant", DEFAULT_OFF_VARIANT)
    if flag.get("targeting") is None:
        flag["targeting"] = {}
    flag.setdefault("stickiness", DEFAULT_STICKINESS)
    return flag


def value_type(value: Any) -> str:
    """Name the JSON type of a variant value: boolean, string, number or object (else 'unsupported')."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "object"
    return "unsupported"


def as_text(value: Any) -> str:
    """Render a context value as Unleash does before hashing or comparing: JSON-like, integers without '.0'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def bucket(flag_name: str, stickiness_value: Any) -> int:
    """Return the user's bucket, 1 to 100, for this flag: Unleash's normalizedHash with seed 0."""
    return mmh3.hash(f"{flag_name}:{as_text(stickiness_value)}", 0, signed=False) % 100 + 1


def weighted_point(group: str, stickiness_value: Any, seed: int, total: int) -> int:
    """Return the user's point, 1 to total, for a weighted split: Unleash's normalizedHash with its seed."""
    return mmh3.hash(f"{group}:{as_text(stickiness_value)}", seed, signed=False) % total + 1


def parse_semver(text: str) -> tuple[tuple[int, int, int], tuple[str, ...]] | None:
    """Parse a semantic version (2.0.0, no leading 'v'); None if it is not one."""
    match = _SEMVER.match(text)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    return (int(major), int(minor), int(patch)), tuple(pre.split(".")) if pre else ()


def compare_semver(left: str, right: str) -> int | None:
    """Return -1, 0 or 1 as left precedes, equals or follows right (semver 2.0 precedence); None if invalid."""
    a, b = parse_semver(left), parse_semver(right)
    if a is None or b is None:
        return None
    if a[0] != b[0]:
        return -1 if a[0] < b[0] else 1
    pre_a, pre_b = a[1], b[1]
    if pre_a == pre_b:
        return 0
    # A release follows all of its pre-releases.
    if not pre_a:
        return 1
    if not pre_b:
        return -1
    for x, y in zip(pre_a, pre_b, strict=False):
        if x == y:
            continue
        x_num, y_num = x.isdigit(), y.isdigit()
        if x_num and y_num:
            return -1 if int(x) < int(y) else 1
        if x_num != y_num:
            # Numeric identifiers have lower precedence than alphanumeric ones.
            return -1 if x_num else 1
        return -1 if x < y else 1
    return -1 if len(pre_a) < len(pre_b) else 1


def parse_datetime(text: Any) -> datetime | None:
    """Parse an ISO 8601 date-time with a time zone (a trailing Z allowed); None otherwise."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _number(value: Any, attribute: str) -> float:
    if isinstance(value, bool):
        raise EvaluationError(INVALID_CONTEXT, f"context attribute {attribute!r} must be a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise EvaluationError(INVALID_CONTEXT, f"context attribute {attribute!r} must be a number")


def _scalar(value: Any, attribute: str) -> Any:
    if isinstance(value, dict | list) or value is None:
        raise EvaluationError(INVALID_CONTEXT, f"context attribute {attribute!r} must be a string, number or boolean")
    return value


def condition_holds(condition: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """Whether one condition holds for a context; raise EvaluationError for a value of the wrong kind."""
    attribute, op, values = condition["attribute"], condition["op"], condition["values"]
    actual = context.get(attribute)
    if actual is not None:
        pass
    elif attribute == CURRENT_TIME_ATTRIBUTE and op in DATE_OPS:
        actual = datetime.now(UTC).isoformat()
    else:
        # An absent (or null) attribute is in no set, so only not_in holds (as in Unleash).
        return op == "not_in"
    if op in SET_OPS:
        text = as_text(_scalar(actual, attribute))
        found = any(as_text(v) == text for v in values)
        return found if op == "in" else not found
    if op in STRING_OPS:
        text = as_text(_scalar(actual, attribute))
        if op == "starts_with":
            return any(text.startswith(v) for v in values)
        if op == "ends_with":
            return any(text.endswith(v) for v in values)
        return any(v in text for v in values)
    if op in NUMBER_OPS:
        number, limit = _number(actual, attribute), float(values[0])
        return {"lt": number < limit, "lte": number <= limit, "gt": number > limit, "gte": number >= limit}[op]
    if op in SEMVER_OPS:
        order = compare_semver(actual, values[0]) if isinstance(actual, str) else None
        if order is None:
            raise EvaluationError(INVALID_CONTEXT, f"context attribute {attribute!r} must be a semantic version")
        return order < 0 if op == "semver_lt" else order >= 0
    if op in DATE_OPS:
        moment, limit = parse_datetime(actual), parse_datetime(values[0])
        if moment is None:
            raise EvaluationError(
                INVALID_CONTEXT, f"context attribute {attribute!r} must be an ISO 8601 date-time with a time zone"
            )
        if limit is None:
            raise EvaluationError(GENERAL, f"the flag compares {attribute!r} with an invalid date")
        return moment < limit if op == "before" else moment > limit
    raise EvaluationError(GENERAL, f"unknown operator {op!r}")


def check_targeting_key(context: Mapping[str, Any]) -> None:
    """Raise EvaluationError(INVALID_CONTEXT) unless targetingKey is absent, null or a string."""
    key = context.get("targetingKey")
    if key is not None and not isinstance(key, str):
        raise EvaluationError(INVALID_CONTEXT, "targetingKey must be a string")


def check_context(context: Mapping[str, Any]) -> None:
    """Raise EvaluationError(INVALID_CONTEXT) if the context exceeds its bounds (attributes, names, strings)."""
    if len(context) > MAX_CONTEXT_ATTRIBUTES:
        raise EvaluationError(
            INVALID_CONTEXT, f"the context has {len(context)} attributes; at most {MAX_CONTEXT_ATTRIBUTES} are allowed"
        )
    for name, value in context.items():
        if len(name) > MAX_ATTRIBUTE_NAME_LENGTH:
            raise EvaluationError(
                INVALID_CONTEXT, f"attribute names are at most {MAX_ATTRIBUTE_NAME_LENGTH} characters long"
            )
        if isinstance(value, str) and len(value) > MAX_CONTEXT_STRING_LENGTH:
            raise EvaluationError(
                INVALID_CONTEXT,
                f"context attribute {name[:MAX_ATTRIBUTE_NAME_LENGTH]!r} is {len(value)} characters long; "
                f"at most {MAX_CONTEXT_STRING_LENGTH} are allowed",
            )


def _pick(weighted: list[tuple[str, int]], point: int) -> str:
    total = 0
    for name, weight in weighted:
        total += weight
        if point <= total:
            return name
    return weighted[-1][0]


def _split_key(flag: Mapping[str, Any], stickiness: str | None, context: Mapping[str, Any]) -> Any:
    stickiness = stickiness or flag.get("stickiness") or DEFAULT_STICKINESS
    key = context.get(stickiness)
    if key is None or key == "":
        raise EvaluationError(
            TARGETING_KEY_MISSING, f"this flag splits by {stickiness!r}; send it in the evaluation context"
        )
    _scalar(key, stickiness)
    return key


def _split_variant(flag: Mapping[str, Any], split: Mapping[str, int], context: Mapping[str, Any]) -> tuple[str, bool]:
    """Pick a variant from a percentage split; return it and whether the hash decided it."""
    weighted = [(name, weight) for name, weight in split.items() if weight > 0]
    if len(weighted) == 1:
        # Everyone gets the same variant: no key needed, nothing was split.
        return weighted[0][0], False
    return _pick(weighted, bucket(flag["name"], _split_key(flag, None, context))), True


def _weighted_variant(
    flag: Mapping[str, Any], split: Mapping[str, Any], context: Mapping[str, Any]
) -> tuple[str, bool]:
    """Pick a variant from a weighted split; return it and whether the hash decided it."""
    weighted = [(name, weight) for name, weight in split["weights"].items() if weight > 0]
    if len(weighted) == 1:
        return weighted[0][0], False
    key = _split_key(flag, split.get("stickiness"), context)
    total = sum(weight for _, weight in weighted)
    point = weighted_point(split.get("group") or flag["name"], key, split.get("seed", 0), total)
    return _pick(weighted, point), True


def _resolve(flag: Mapping[str, Any], serve: Any, context: Mapping[str, Any]) -> tuple[str, bool]:
    if isinstance(serve, str):
        return serve, False
    if isinstance(serve.get("weights"), dict):
        return _weighted_variant(flag, serve, context)
    return _split_variant(flag, serve, context)


def served_variants(serve: Any) -> list[str]:
    """The variant names a serve can give: one name, or a split's."""
    if isinstance(serve, str):
        return [serve]
    weights = serve.get("weights")
    return list(weights) if isinstance(weights, dict) else list(serve)


def _served(flag: Mapping[str, Any], variant: str, reason: str, metadata: dict[str, Any]) -> Evaluation:
    variants = flag.get("variants") or DEFAULT_VARIANTS
    if variant not in variants:
        raise EvaluationError(GENERAL, f"the flag serves {variant!r}, which is not one of its variants")
    return Evaluation(variants[variant], variant, reason, metadata)


def _holds(item: Mapping[str, Any], context: Mapping[str, Any], segments: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether one item of a rule's `when` holds: a condition, or a segment all of whose conditions hold."""
    if "segment" not in item:
        return condition_holds(item, context)
    segment = segments.get(item["segment"])
    # A segment deleted under a flag that still names it (writes refuse that, a race may not): it matches no one.
    if segment is None:
        return False
    return all(condition_holds(condition, context) for condition in segment["conditions"])


class Lookup:
    """The segments and flags evaluation may name, and the evaluations made so far for one context.

    Use one per context (one request): each flag is evaluated once however many flags require it.
    """

    def __init__(
        self,
        segments: Mapping[str, Mapping[str, Any]] | None = None,
        flags: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.segments = segments or {}
        # The flags evaluation serves, by name: an archived or missing prerequisite is not found, so it fails.
        self.flags = flags or {}
        self._done: dict[tuple[str, str], Evaluation | EvaluationError] = {}
        self._open: set[tuple[str, str]] = set()

    def evaluate(
        self, flag: Mapping[str, Any], environment: str, context: Mapping[str, Any], depth: int = 0
    ) -> Evaluation:
        """Evaluate a flag once for this lookup's context; raise EvaluationError when it cannot be."""
        key = (environment, flag["name"])
        done = self._done.get(key)
        if done is None:
            self._open.add(key)
            try:
                done = _evaluated(flag, environment, context, self, depth)
            except EvaluationError as error:
                done = error
            finally:
                self._open.discard(key)
            self._done[key] = done
        if isinstance(done, EvaluationError):
            raise done
        return done

    def failed_prerequisite(
        self, prerequisites: Sequence[Mapping[str, Any]], environment: str, context: Mapping[str, Any], depth: int
    ) -> str | None:
        """Return the name of the first prerequisite that does not serve a listed variant; None if all do."""
        for prerequisite in prerequisites:
            name = prerequisite["flag"]
            required = self.flags.get(name)
            if required is None or depth >= MAX_PREREQUISITE_DEPTH or (environment, name) in self._open:
                return name
            try:
                served = self.evaluate(required, environment, context, depth + 1)
            except EvaluationError:
                return name
            if served.variant not in prerequisite["variants"]:
                return name
        return None


def _evaluated(
    flag: Mapping[str, Any], environment: str, context: Mapping[str, Any], lookup: Lookup, depth: int
) -> Evaluation:
    off_variant = flag.get("off_variant") or DEFAULT_OFF_VARIANT
    if not (flag.get("environments") or {}).get(environment, False):
        return _served(flag, off_variant, DISABLED, {})
    targeting = (flag.get("targeting") or {}).get(environment) or {}
    prerequisites = targeting.get("prerequisites") or ()
    if prerequisites:
        failed = lookup.failed_prerequisite(prerequisites, environment, context, depth)
        if failed is not None:
            return _served(flag, off_variant, PREREQUISITE_FAILED, {"prerequisite": failed})
    rules = targeting.get("rules") or ()
    for index, rule in enumerate(rules):
        if all(_holds(item, context, lookup.segments) for item in rule["when"]):
            variant, split = _resolve(flag, rule["serve"], context)
            return _served(flag, variant, SPLIT if split else TARGETING_MATCH, {"rule": index})
    variant, split = _resolve(flag, targeting.get("serve", DEFAULT_SERVE), context)
    if split:
        return _served(flag, variant, SPLIT, {})
    # With rules that did not match, the value is a fallback, not the same for everyone.
    return _served(flag, variant, DEFAULT if rules else STATIC, {})


def evaluate(
    flag: Mapping[str, Any], environment: str, context: Mapping[str, Any], lookup: Lookup | None = None
) -> Evaluation:
    """Evaluate a flag in an environment for a context; raise EvaluationError when it cannot be.

    lookup gives the segments and prerequisite flags the flag names (none without it) and remembers
    evaluations made for the same context.
    """
    if not isinstance(context, Mapping):
        raise EvaluationError(INVALID_CONTEXT, "the context must be an object")
    check_targeting_key(context)
    return (lookup or Lookup()).evaluate(flag, environment, context)

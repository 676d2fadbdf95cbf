"""A flag's request and response models: the one place a field's rules live, for validation and OpenAPI."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    Tag,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from ..evaluation import engine as evaluation
from ..validation import (
    ENVIRONMENT_KEYS,
    ENVIRONMENT_VALUE,
    EnvironmentName,
    EnvironmentStates,
    RequestModel,
    known_environment_keys,
    whole_number,
)

FLAG_NAME_PATTERN = r"^(?![0-9A-Fa-f]{24}$)(?!\.+$)[A-Za-z0-9._-]{1,100}$"
MAX_DESCRIPTION_LENGTH = 1000


def _flag_name(value: str) -> str:
    # Messages for people (the admin UI shows them as they are), under one error type.
    if re.fullmatch(FLAG_NAME_PATTERN, value):
        return value
    if re.fullmatch(r"[0-9A-Fa-f]{24}", value):
        message = "A name of 24 hexadecimal digits would read as a flag id; add a letter or a '-'."
    elif re.fullmatch(r"\.+", value):
        message = "A name needs a letter, digit, '-' or '_', not only dots."
    else:
        message = "Use 1 to 100 letters, digits, '-', '_' or '.', without spaces."
    raise PydanticCustomError("flag_name", message)


FlagName = Annotated[
    StrictStr,
    AfterValidator(_flag_name),
    Field(
        description="1 to 100 letters, digits, '-', '_' or '.'; unique; not 24 hex digits, not only dots",
        examples=["new-checkout"],
        json_schema_extra={"pattern": FLAG_NAME_PATTERN, "minLength": 1, "maxLength": 100},
    ),
]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_LENGTH, description="Free text for people")]

# -- lifecycle fields: tags, type, staleness --------------------------------------------------------

TAG_PATTERN = r"^[A-Za-z0-9._-]{1,50}$"
MAX_TAGS = 20
# Unleash's flag types and expected lifetimes in days; None: expected to live for good, so never potentially stale.
EXPECTED_LIFETIME_DAYS: dict[str, int | None] = {
    "release": 40,
    "experiment": 40,
    "operational": 7,
    "kill-switch": None,
    "permission": None,
}
DEFAULT_FLAG_TYPE = "release"
FlagType = Literal[tuple(EXPECTED_LIFETIME_DAYS)]  # type: ignore[valid-type]
StaleReason = Literal["lifetime", "unused", "marked"]

TagName = Annotated[
    StrictStr,
    StringConstraints(pattern=TAG_PATTERN),
    Field(description="1 to 50 letters, digits, '-', '_' or '.'", examples=["payments"]),
]


def _tag_set(value: list[str]) -> list[str]:
    # A set: repeats collapse, and the order is the sorted one, so equal sets are equal lists everywhere.
    return sorted(set(value))


Tags = Annotated[
    list[TagName],
    Field(max_length=MAX_TAGS, description=f"Up to {MAX_TAGS} tags; kept as a sorted set"),
    AfterValidator(_tag_set),
]
FlagTypeField = Annotated[
    FlagType,
    Field(
        description="release, experiment (expected to live 40 days), operational (7 days), kill-switch or "
        "permission (never potentially stale)"
    ),
]


# -- evaluation fields: variants, targeting rules, splits --------------------------------------------

# What one evaluation may cost is bounded here and by MAX_FLAG_BYTES: rules per environment, conditions per
# rule, values per condition and their length (a value longer than any context value could never match).
MAX_VARIANTS = 100
MAX_RULES = 50
MAX_CONDITIONS = 20
MAX_CONDITION_VALUES = 1000
MAX_CONDITION_VALUE_LENGTH = evaluation.MAX_CONTEXT_STRING_LENGTH
# A flag as stored, in bytes of compact JSON: large variant values or user lists belong elsewhere, and every
# flag is held in memory by every worker and sent whole in each list.
MAX_FLAG_BYTES = 64 * 1024
MAX_VALUE_DEPTH = 32
# Segments and prerequisites add to a flag's cost: a segment holds at most MAX_SEGMENT_CONDITIONS conditions (and
# MAX_FLAG_BYTES), an environment names at most MAX_SEGMENT_REFERENCES segments across its rules and
# MAX_PREREQUISITES flags, and prerequisites chain at most evaluation.MAX_PREREQUISITE_DEPTH deep.
MAX_SEGMENT_CONDITIONS = 100
MAX_SEGMENT_REFERENCES = 10
MAX_PREREQUISITES = 10
VARIANT_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
ATTRIBUTE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:@/-]{0,99}$"

VariantName = Annotated[
    str,
    StringConstraints(pattern=VARIANT_NAME_PATTERN),
    Field(description="1 to 64 letters, digits, '-' or '_'", examples=["on"]),
]


def _attribute(value: str) -> str:
    # '$' is refused by name: it is what would let a context attribute reach into database operators.
    if "$" in value:
        raise ValueError("an attribute name must not contain '$'")
    if not re.match(ATTRIBUTE_PATTERN, value):
        raise ValueError("an attribute is 1 to 100 letters, digits, '_', '.', ':', '@', '/' or '-'")
    return value


AttributeName = Annotated[
    str,
    AfterValidator(_attribute),
    Field(
        description="A context attribute",
        examples=["targetingKey", "plan"],
        json_schema_extra={"pattern": ATTRIBUTE_PATTERN},
    ),
]


def _storable(value: Any, where: str, depth: int = 0) -> None:
    # MongoDB refuses documents nested past 100 levels and '$'-prefixed keys; say so as a 400, not a 500.
    if depth > MAX_VALUE_DEPTH:
        raise ValueError(f"{where}: objects and lists nest at most {MAX_VALUE_DEPTH} levels deep")
    if isinstance(value, dict):
        for key, inner in value.items():
            if key.startswith("$") or "\x00" in key:
                raise ValueError(f"{where}: object keys must not start with '$' ({key!r})")
            _storable(inner, where, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            _storable(inner, where, depth + 1)


# _storable's rule on keys, for the OpenAPI document, which adds these to its components and puts a reference
# where the marker is: no key starts with '$' or holds a NUL, at any depth. The depth bound is beyond JSON
# Schema; the field's description says it.
STORABLE_OBJECT_MARKER = {"x-storable": "object"}
STORABLE_KEY_PATTERN = r"^([^$\x00][^\x00]*)?$"
STORABLE_OBJECT = {
    "type": "object",
    "propertyNames": {"pattern": STORABLE_KEY_PATTERN},
    "additionalProperties": {
        "anyOf": [
            {"type": ["string", "number", "boolean", "null"]},
            {"type": "array", "items": {"$ref": "#/components/schemas/StorableValue"}},
            {"$ref": "#/components/schemas/StorableObject"},
        ]
    },
}
STORABLE_VALUE = {
    "anyOf": [
        {"type": ["string", "number", "boolean", "null"]},
        {"type": "array", "items": {"$ref": "#/components/schemas/StorableValue"}},
        {"$ref": "#/components/schemas/StorableObject"},
    ]
}


def _variants(value: dict[str, Any]) -> dict[str, Any]:
    if not 1 <= len(value) <= MAX_VARIANTS:
        raise ValueError(f"give 1 to {MAX_VARIANTS} variants")
    kinds: dict[str, str] = {}
    for name, item in value.items():
        kind = evaluation.value_type(item)
        if kind == "unsupported":
            raise ValueError(f"variant {name!r}: a value is a boolean, string, number or object")
        if kind == "number" and not math.isfinite(item):
            raise ValueError(f"variant {name!r}: a number must be finite")
        _storable(item, f"variant {name!r}")
        kinds.setdefault(kind, name)
    if len(kinds) > 1:
        described = ", ".join(f"{name!r} is a {kind}" for kind, name in kinds.items())
        raise ValueError(f"all variants of a flag have the same type: {described}")
    return value


Variants = Annotated[
    dict[VariantName, Any],
    AfterValidator(_variants),
    Field(
        description="Variant name to value; all values booleans, strings, numbers or objects. Objects nest at most "
        f"{MAX_VALUE_DEPTH} levels and no key in them starts with '$'",
        examples=[{"on": True, "off": False}, {"control": "blue", "treatment": "green"}],
        # What _variants checks, as far as JSON Schema can say it: the count, and one value type per flag.
        json_schema_extra={
            "minProperties": 1,
            "maxProperties": MAX_VARIANTS,
            "anyOf": [
                *({"additionalProperties": {"type": kind}} for kind in ("boolean", "string", "number")),
                {"additionalProperties": STORABLE_OBJECT_MARKER},
            ],
        },
    ),
]


def _split(value: dict[str, int]) -> dict[str, int]:
    if not value:
        raise ValueError("a split names at least one variant")
    total = sum(value.values())
    if total != 100:
        raise ValueError(f"the percentages of a split add up to 100, not {total}")
    return value


Percentage = Annotated[int, Field(ge=0, le=100), BeforeValidator(whole_number)]
Split = Annotated[
    dict[VariantName, Percentage],
    AfterValidator(_split),
    # That the percentages add up to 100 is beyond JSON Schema; the description says it.
    Field(json_schema_extra={"minProperties": 1}),
]


Weight = Annotated[int, Field(ge=0, le=evaluation.MAX_TOTAL_WEIGHT), BeforeValidator(whole_number)]


def _weights(value: dict[str, int]) -> dict[str, int]:
    total = sum(value.values())
    if not 1 <= total <= evaluation.MAX_TOTAL_WEIGHT:
        raise ValueError(f"the weights of a split add up to 1 to {evaluation.MAX_TOTAL_WEIGHT:,}, not {total:,}")
    return value


class WeightedSplit(RequestModel):
    """A split by weights, hashed as Unleash hashes its variants: murmur3 of "group:value" with a seed.

    A user's point is hash % total weight + 1, and the variants cover the points in the order given. So a
    migrated Unleash variant split (seed 86028157, weights out of 1000, groupId) keeps every user's variant.
    """

    weights: Annotated[
        dict[VariantName, Weight],
        AfterValidator(_weights),
        Field(
            min_length=1,
            max_length=MAX_VARIANTS,
            description=f"Variant name to weight; the weights add up to 1 to {evaluation.MAX_TOTAL_WEIGHT:,}",
        ),
    ]
    seed: Annotated[int, BeforeValidator(whole_number)] = Field(
        0, ge=0, le=2**32 - 1, description="The murmur3 seed (Unleash: 0 for rollouts, 86028157 for variants)"
    )
    group: str | None = Field(
        None,
        min_length=1,
        max_length=evaluation.MAX_GROUP_LENGTH,
        exclude_if=lambda value: value is None,
        description="What is hashed before the stickiness value (Unleash's groupId); the flag's name if left out",
    )
    stickiness: AttributeName | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="The context attribute hashed; the flag's stickiness if left out",
    )


def _serve_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "variant"
    if isinstance(value, WeightedSplit):
        return "weighted"
    if isinstance(value, dict):
        return "weighted" if isinstance(value.get("weights"), dict) else "split"
    return None


Serve = Annotated[
    Annotated[VariantName, Tag("variant")] | Annotated[Split, Tag("split")] | Annotated[WeightedSplit, Tag("weighted")],
    Discriminator(
        _serve_kind,
        custom_error_type="invalid_serve",
        custom_error_message='a serve is a variant name, a percentage split like {"on": 30, "off": 70} or a '
        'weighted split like {"weights": {"a": 500, "b": 500}, "seed": 86028157}',
    ),
    Field(
        description='A variant name, a percentage split like {"on": 30, "off": 70} (integers adding up to 100), or '
        'a weighted split {"weights", "seed"?, "group"?, "stickiness"?} (Unleash\'s variant hashing)'
    ),
]

ConditionOp = Literal[evaluation.OPS]  # type: ignore[valid-type]
ConditionValue = (
    Annotated[StrictStr, StringConstraints(max_length=MAX_CONDITION_VALUE_LENGTH)]
    | StrictInt
    | StrictFloat
    | StrictBool
)


def _values_by_op() -> list[dict[str, Any]]:
    """State _values_fit_op's rule for the OpenAPI document: which values each group of operators takes."""
    single = {"maxItems": 1}
    groups = [
        (evaluation.SET_OPS, {}),
        (evaluation.STRING_OPS, {"items": {"type": "string"}}),
        (evaluation.NUMBER_OPS, {**single, "items": {"type": "number"}}),
        (evaluation.SEMVER_OPS, {**single, "items": {"type": "string", "pattern": evaluation.SEMVER_PATTERN}}),
        (evaluation.DATE_OPS, {**single, "items": {"type": "string", "format": "date-time"}}),
    ]
    return [{"properties": {"op": {"enum": list(ops)}, "values": values}} for ops, values in groups]


class Condition(RequestModel):
    """One test on a context attribute; a rule's conditions must all hold."""

    model_config = ConfigDict(json_schema_extra={"anyOf": _values_by_op()})

    attribute: AttributeName
    op: ConditionOp = Field(
        description="in, not_in, starts_with, ends_with, contains, lt, lte, gt, gte, "
        "semver_lt, semver_gte, before, after"
    )
    values: list[ConditionValue] = Field(min_length=1, max_length=MAX_CONDITION_VALUES)

    @field_validator("values")
    @classmethod
    def _values_fit_op(cls, values: list[Any], info: ValidationInfo) -> list[Any]:
        op = info.data.get("op")
        if op is None:
            return values
        if op in evaluation.SINGLE_VALUE_OPS and len(values) != 1:
            raise ValueError(f"{op} compares with exactly one value")
        for value in values:
            if op in evaluation.STRING_OPS and not isinstance(value, str):
                raise ValueError(f"{op} compares with strings")
            if op in evaluation.NUMBER_OPS and (
                isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            ):
                raise ValueError(f"{op} compares with a number")
            if op in evaluation.SEMVER_OPS and not (
                isinstance(value, str) and evaluation.parse_semver(value) is not None
            ):
                raise ValueError(f"{op} compares with a semantic version like 1.2.3")
            if op in evaluation.DATE_OPS and evaluation.parse_datetime(value) is None:
                raise ValueError(
                    f"{op} compares with an ISO 8601 date-time with a time zone, like 2030-01-01T00:00:00Z"
                )
        return values


class SegmentReference(RequestModel):
    """Holds when every condition of the named segment holds."""

    segment: FlagName = Field(description="A segment's name (GET /segments); names follow flag names' rules")


def _when_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "segment" if "segment" in value else "condition"
    if isinstance(value, Condition | SegmentReference):
        return "segment" if isinstance(value, SegmentReference) else "condition"
    return None


WhenItem = Annotated[
    Annotated[Condition, Tag("condition")] | Annotated[SegmentReference, Tag("segment")],
    Discriminator(
        _when_kind,
        custom_error_type="invalid_condition",
        custom_error_message='a condition ({"attribute", "op", "values"}) or a segment ({"segment": "<name>"})',
    ),
]


class Rule(RequestModel):
    """Serve something to the contexts that meet every condition (a segment: all of its conditions)."""

    when: list[WhenItem] = Field(min_length=1, max_length=MAX_CONDITIONS)
    serve: Serve


class Prerequisite(RequestModel):
    """Another flag that must serve one of these variants, for the same context in the same environment."""

    flag: FlagName = Field(description="The required flag's name")
    variants: list[VariantName] = Field(min_length=1, max_length=MAX_VARIANTS)


class EnvironmentTargeting(RequestModel):
    """What a flag serves in one environment while it is on: the first matching rule's serve, else serve.

    Unless every prerequisite serves one of its listed variants: then the flag's off_variant.
    """

    prerequisites: list[Prerequisite] = Field(
        default_factory=list,
        max_length=MAX_PREREQUISITES,
        # Left out when empty, so flags without prerequisites read and store as they always have.
        exclude_if=lambda value: not value,
        description="Flags this one requires here; while one does not serve a listed variant this environment "
        "serves off_variant (reason PREREQUISITE_FAILED)",
    )
    rules: list[Rule] = Field(default_factory=list, max_length=MAX_RULES)
    serve: Serve = evaluation.DEFAULT_SERVE


Targeting = Annotated[
    dict[str, EnvironmentTargeting],
    AfterValidator(known_environment_keys),
    Field(
        description="Environment name to its targeting; an environment left out serves 'on' to everyone",
        json_schema_extra=ENVIRONMENT_KEYS,
    ),
]
TargetingChanges = Annotated[
    dict[str, EnvironmentTargeting | None],
    AfterValidator(known_environment_keys),
    Field(
        description="Merged environment by environment; null removes an environment's targeting",
        json_schema_extra=ENVIRONMENT_KEYS,
    ),
]
Stickiness = Annotated[
    AttributeName, Field(description="The context attribute splits hash, so each user keeps their bucket")
]


class FlagCreate(RequestModel):
    name: FlagName
    description: Description = ""
    environments: EnvironmentStates = Field(default_factory=dict)
    variants: Variants = Field(default_factory=lambda: dict(evaluation.DEFAULT_VARIANTS))
    off_variant: VariantName = Field(evaluation.DEFAULT_OFF_VARIANT, description="Served while the flag is off")
    targeting: Targeting = Field(default_factory=dict)
    stickiness: Stickiness = evaluation.DEFAULT_STICKINESS
    tags: Tags = Field(default_factory=list)
    type: FlagTypeField = DEFAULT_FLAG_TYPE


# What a flag holds that people set: what a PUT may change (and the stale mark besides), what the size bound counts.
FLAG_CONTENT_FIELDS = (
    "name",
    "description",
    "environments",
    "variants",
    "off_variant",
    "targeting",
    "stickiness",
    "tags",
    "type",
)
UPDATABLE_FIELDS = (*FLAG_CONTENT_FIELDS, "stale")


class FlagUpdate(RequestModel):
    # update_flag refuses a body that changes nothing: at least one field, and not null.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [field], "properties": {field: {"not": {"type": "null"}}}} for field in UPDATABLE_FIELDS
            ]
        }
    )

    name: FlagName | None = None
    description: Description | None = None
    environments: EnvironmentStates | None = None
    variants: Variants | None = None
    off_variant: VariantName | None = None
    targeting: TargetingChanges | None = None
    stickiness: Stickiness | None = None
    tags: Tags | None = Field(None, description="Replaces the flag's tags")
    type: FlagTypeField | None = None
    stale: StrictBool | None = Field(None, description="true marks the flag stale by hand; false takes the mark off")

    def changes(self) -> dict[str, Any]:
        """Return the fields given, keeping a null that removes an environment's targeting."""
        changes = self.model_dump(exclude_none=True)
        if "stale" in changes:
            # Stored as the mark alone: whether a flag is stale for its age or disuse is worked out when read.
            changes["marked_stale"] = changes.pop("stale")
        if self.targeting is not None:
            changes["targeting"] = {
                environment: None if settings is None else settings.model_dump()
                for environment, settings in self.targeting.items()
            }
        return changes


class ToggleRequest(RequestModel):
    environment: EnvironmentName | None = None


class LocalEvaluation(BaseModel):
    """Whether Unleash's SDKs can evaluate the flag in process in one environment (GET /api/client/features)."""

    available: bool
    reason: str | None = Field(description="Why not, naming the construct they cannot express; null when available")


class Flag(BaseModel):
    """A flag as the API returns it."""

    id: str = Field(alias="_id")
    name: str
    description: str
    environments: dict[str, bool]
    version: int = Field(description="Starts at 1, +1 on every change; the ETag is built from it")
    created_at: str = Field(description="ISO 8601, UTC")
    updated_at: str = Field(description="ISO 8601, UTC")
    created_by: str | None = None
    updated_by: str | None = None
    enabled: bool | None = Field(None, description="State in the requested environment (list and toggle)")
    variants: dict[str, Any] = Field(description="Variant name to value")
    off_variant: str
    targeting: dict[str, EnvironmentTargeting]
    stickiness: str
    tags: list[str] = Field(description="Sorted")
    type: FlagType
    archived_at: str | None = Field(description="When the flag was archived (ISO 8601, UTC); null while it is live")
    stale: bool = Field(description="Potentially stale (past its type's expected lifetime, or unused), or marked")
    stale_reason: StaleReason | None = Field(
        description="marked (by a person), lifetime (older than its type's expected lifetime), unused (no "
        "environment evaluated it for FF_STALE_AFTER_DAYS), or null"
    )
    last_evaluated_at: dict[str, str | None] = Field(
        description="Environment name to when it last evaluated the flag (ISO 8601, UTC), null if never"
    )
    local_evaluation: dict[str, LocalEvaluation] | None = Field(
        None,
        description="One flag's answers only (not lists): per environment, whether Unleash's SDKs evaluate it in "
        "process exactly as here, or why not (it is then left out of /api/client/features)",
    )


class ListQuery(BaseModel):
    """Filters, order and paging of GET /flags, from the query string."""

    model_config = ConfigDict(extra="forbid")

    environment: str | None = Field(
        None, description="Whose state `enabled` and `state` mean", json_schema_extra=ENVIRONMENT_VALUE
    )
    q: str | None = Field(None, max_length=200, description="Case-insensitive substring of the name or description")
    tag: list[TagName] = Field(default_factory=list, max_length=MAX_TAGS, description="Repeatable: all must match")
    type: FlagType | None = None
    state: Literal["on", "off"] | None = Field(None, description="State in the chosen environment")
    stale: bool | None = None
    archived: bool = Field(False, description="true lists archived flags only")
    sort: Literal["name", "-name", "updated_at", "-updated_at", "created_at", "-created_at"] = Field(
        "name", description="Names sort naturally (feature-2 before feature-10) and case-insensitively"
    )
    limit: int | None = Field(None, ge=1, le=1000, description="Page size; all matching flags when left out")
    cursor: str | None = Field(None, max_length=2000, description="From the Link header's next URL")


class TagCount(BaseModel):
    """A tag in use and how many flags carry it."""

    tag: str
    flags: int


class RemovalQuery(BaseModel):
    """The query string of archiving and deleting a flag."""

    force: bool = Field(False, description="true removes a flag other flags require; the audit event records it")

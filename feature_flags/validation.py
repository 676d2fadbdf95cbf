"""Validating request bodies: strict models, environment names checked against this deployment, clear errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
)

from .errors import ValidationFailed


def known_environment(value: str, info: ValidationInfo) -> str:
    """Check a name against the environments given in the validation context."""
    known = (info.context or {}).get("environments", ())
    if value not in known:
        raise ValueError(f"unknown environment {value!r}; known: {', '.join(known)}")
    return value


def known_environment_keys(value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
    """Check every key of a mapping against the environments given in the validation context."""
    for key in value:
        known_environment(key, info)
    return value


# The environments are configured at start-up; the OpenAPI document fills these markers in with them.
ENVIRONMENT_VALUE = {"x-environment": "value"}
ENVIRONMENT_KEYS = {"x-environment": "keys"}

EnvironmentName = Annotated[
    str, AfterValidator(known_environment), Field(examples=["production"], json_schema_extra=ENVIRONMENT_VALUE)
]
EnvironmentStates = Annotated[
    dict[str, bool],
    AfterValidator(known_environment_keys),
    Field(
        description="Environment name to on (true) or off (false)",
        examples=[{"production": True}],
        json_schema_extra=ENVIRONMENT_KEYS,
    ),
]


def whole_number(value: Any) -> Any:
    """Read 30.0 as 30 before a strict integer check: JSON has one number type, and JSON Schema calls it an integer."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def not_nullable(*names: str, min_properties: int | None = None) -> Callable[[dict[str, Any], Any], None]:
    """A model's json_schema_extra: these optional fields may be left out but not sent as null (pydantic documents
    an optional field as nullable), and with min_properties the body names at least that many fields."""

    def adjust(schema: dict[str, Any], _model: Any) -> None:
        for name in names:
            field = schema.get("properties", {}).get(name, {})
            if "default" in field and field["default"] is None:
                del field["default"]
            choices = [choice for choice in field.pop("anyOf", []) if choice != {"type": "null"}]
            if len(choices) == 1:
                field.update(choices[0])
            elif choices:
                field["anyOf"] = choices
        if min_properties is not None:
            schema["minProperties"] = min_properties

    return adjust


class RequestModel(BaseModel):
    """A request body: strict types, no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorBody(BaseModel):
    """Every error the API returns."""

    error: str = Field(description="Machine-readable code, e.g. validation_error")
    message: str = Field(description="A sentence for a person")
    details: list[dict[str, Any]] | None = None


# The tags of the union a rule's `when` items are (flags.models.WhenItem): pydantic puts the tag in an error's
# location, which a client never sent; left out, the field reads as sent (rules.0.when.1.op).
WHEN_TAGS = frozenset({"condition", "segment"})


def _location(loc: tuple[Any, ...]) -> str:
    parts = [
        part
        for index, part in enumerate(loc)
        if not (index >= 2 and part in WHEN_TAGS and loc[index - 2] == "when" and isinstance(loc[index - 1], int))
    ]
    return ".".join(str(part) for part in parts) or "(body)"


def _plural(count: Any, one: str) -> str:
    return f"{count} {one}" if count == 1 else f"{count} {one}s"


def sentence(field: str, item: dict[str, Any]) -> str:
    """A validation error as a person reads it: what to do, never the validator's wording.

    Our own checks (value_error) already speak in sentences; pydantic's built-in ones name types and items.
    """
    kind, context = item["type"], item.get("ctx") or {}
    if kind == "value_error":
        return str(context.get("error") or item["msg"]).removeprefix("Value error, ")
    if kind == "too_short":
        if field.endswith(".when"):
            return "a rule needs at least one condition or segment"
        least = context.get("min_length", 1)
        return f"give at least {_plural(least, 'item')}"
    if kind == "too_long":
        return f"give at most {_plural(context.get('max_length'), 'item')}"
    if kind == "string_too_short":
        least = context.get("min_length", 1)
        return "fill this in" if least == 1 else f"use at least {least} characters"
    if kind == "string_too_long":
        return f"use at most {_plural(context.get('max_length'), 'character')}"
    if kind == "string_pattern_mismatch":
        return "this has characters or a form the field does not allow (see its description in /openapi.json)"
    if kind == "missing":
        return "this is required"
    if kind == "extra_forbidden":
        return "this field is not one the API takes here"
    if kind == "literal_error":
        return f"choose one of {context.get('expected')}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "give a whole number"
    if kind in ("float_type", "float_parsing"):
        return "give a number"
    if kind == "bool_type":
        return "give true or false"
    if kind == "string_type":
        return "give text (a JSON string)"
    if kind in ("list_type", "tuple_type", "set_type"):
        return "give a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "give an object"
    if kind in ("greater_than_equal", "greater_than"):
        bound = context.get("ge", context.get("gt"))
        return f"use {bound} or more" if kind == "greater_than_equal" else f"use more than {bound}"
    if kind in ("less_than_equal", "less_than"):
        bound = context.get("le", context.get("lt"))
        return f"use {bound} or less" if kind == "less_than_equal" else f"use less than {bound}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return "this is not one of the kinds allowed here"
    return item["msg"]


def parse(model: type[RequestModel], data: Any, environments: tuple[str, ...]) -> RequestModel:
    """Validate data against a model; raise ValidationFailed listing each bad field."""
    try:
        return model.model_validate(data, context={"environments": environments})
    except ValidationError as error:
        details = [
            {
                "field": _location(item["loc"]),
                "message": sentence(_location(item["loc"]), item),
                "type": item["type"],
            }
            for item in error.errors(include_url=False, include_input=False)
        ]
        first = details[0]
        raise ValidationFailed(f"{first['field']}: {first['message']}", details=details) from None

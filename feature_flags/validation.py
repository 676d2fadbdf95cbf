"""Validating request bodies: strict models, environment names checked against this deployment, clear errors."""

from __future__ import annotations

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


def parse(model: type[RequestModel], data: Any, environments: tuple[str, ...]) -> RequestModel:
    """Validate data against a model; raise ValidationFailed listing each bad field."""
    try:
        return model.model_validate(data, context={"environments": environments})
    except ValidationError as error:
        details = [
            {
                "field": _location(item["loc"]),
                "message": item["msg"],
                "type": item["type"],
            }
            for item in error.errors(include_url=False, include_input=False, include_context=False)
        ]
        first = details[0]
        raise ValidationFailed(f"{first['field']}: {first['message']}", details=details) from None

"""Context fields' request and response models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, StringConstraints, field_validator, model_validator

from ..flags.models import AttributeName
from ..validation import RequestModel, not_nullable

MAX_KNOWN_VALUES = 100
FieldType = Literal["string", "number", "boolean", "date", "semver"]
Description = Annotated[
    str, StringConstraints(max_length=500), Field(description="What the field means; 500 characters")
]
KnownValues = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=200)]],
    Field(
        max_length=MAX_KNOWN_VALUES,
        description="Values it takes, offered when writing rules; no repeats",
        json_schema_extra={"uniqueItems": True},
    ),
]


def _no_repeats(values: list[str] | None) -> list[str] | None:
    if values is not None and len(set(values)) != len(values):
        raise ValueError("name each known value once")
    return values


class ContextFieldCreate(RequestModel):
    """Describe a field rules may name."""

    name: AttributeName
    description: Description = ""
    type: FieldType = "string"
    values: KnownValues = Field(default_factory=list)

    _values = field_validator("values")(_no_repeats)


class ContextFieldUpdate(RequestModel):
    """Change a described field: the fields given change, the others stay."""

    # Left out, a field stays; none is nullable (the document says so).
    model_config = ConfigDict(json_schema_extra=not_nullable("description", "type", "values", min_properties=1))

    description: Description | None = None
    type: FieldType | None = None
    values: KnownValues | None = None

    _values = field_validator("values")(_no_repeats)

    @model_validator(mode="after")
    def _something_given(self) -> ContextFieldUpdate:
        for name in ("description", "type", "values"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null; leave it out to keep it")
        if not self.model_fields_set:
            raise ValueError("give at least one of description, type and values")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields given."""
        return self.model_dump(exclude_none=True)


class ContextField(BaseModel):
    """A described field."""

    id: str = Field(alias="_id")
    name: str
    description: str
    type: FieldType
    values: list[str]
    version: int = Field(description="1 when described, one more on each change")
    created_at: str
    created_by: str | None = None
    updated_at: str
    updated_by: str | None = None


class SeenAttribute(BaseModel):
    """An attribute name applications sent in evaluation contexts of one environment."""

    environment: str
    name: str
    count: NonNegativeInt = Field(description="Contexts that carried it (approximate: it ranks names)")
    last_seen_at: str = Field(description="ISO 8601, UTC")


class ContextFields(BaseModel):
    """What GET /context-fields answers."""

    fields: list[ContextField] = Field(description="The described fields, by name")
    seen: list[SeenAttribute] = Field(
        description="Most frequent first; each environment keeps its 200 most frequent names, a month unseen at most"
    )

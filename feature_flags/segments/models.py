"""A segment's request and response models; its conditions are the very Condition rules use."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ..flags.models import MAX_SEGMENT_CONDITIONS, Condition, Description, FlagName
from ..validation import RequestModel

UPDATABLE_FIELDS = ("name", "description", "conditions")

Conditions = Annotated[
    list[Condition],
    Field(
        min_length=1,
        max_length=MAX_SEGMENT_CONDITIONS,
        description=f"1 to {MAX_SEGMENT_CONDITIONS} conditions; the segment holds when all of them do",
    ),
]


class SegmentCreate(RequestModel):
    name: FlagName
    description: Description = ""
    conditions: Conditions


class SegmentUpdate(RequestModel):
    # The route refuses a body that changes nothing: at least one field, and not null.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [field], "properties": {field: {"not": {"type": "null"}}}} for field in UPDATABLE_FIELDS
            ]
        }
    )

    name: FlagName | None = None
    description: Description | None = None
    conditions: Conditions | None = None

    def changes(self) -> dict[str, Any]:
        """Return the fields given."""
        return self.model_dump(exclude_none=True)


class Segment(BaseModel):
    """A segment as the API returns it."""

    id: str = Field(alias="_id")
    name: str
    description: str
    conditions: list[Condition]
    version: int = Field(description="Starts at 1, +1 on every change; the ETag is built from it")
    created_at: str = Field(description="ISO 8601, UTC")
    updated_at: str = Field(description="ISO 8601, UTC")
    created_by: str | None = None
    updated_by: str | None = None

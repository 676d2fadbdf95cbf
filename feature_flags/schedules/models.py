"""A scheduled change's request and response models: when, where, and one change (a switch or a targeting)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool
from pydantic_core import PydanticCustomError

from ..audit.models import _iso_moment
from ..errors import ValidationFailed
from ..flags.models import EnvironmentTargeting
from ..storage import utcnow
from ..validation import EnvironmentName, RequestModel

# A schedule may be made for a moment just gone (a form filled in slowly, clocks a little apart), not longer ago.
MAX_PAST = timedelta(minutes=1)
MAX_AHEAD = timedelta(days=5 * 365)
MAX_PENDING_PER_FLAG = 100
# Applied later than this after its moment (every instance was down, say), a schedule is marked late.
LATE_AFTER = timedelta(seconds=5)
ScheduleState = Literal["pending", "applied", "failed", "cancelled"]


def _bounded_moment(value: datetime) -> datetime:
    now = utcnow()
    if value < now - MAX_PAST:
        raise PydanticCustomError("at_in_past", "the moment is more than a minute in the past")
    if value > now + MAX_AHEAD:
        raise PydanticCustomError("at_too_far", "the moment is more than 5 years ahead")
    return value


Moment = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_moment),
    AfterValidator(_bounded_moment),
    Field(
        description="ISO 8601 with a time zone; from a minute ago to 5 years ahead",
        examples=["2030-01-01T09:00:00Z"],
        json_schema_extra={"type": "string", "format": "date-time"},
    ),
]


class ScheduleCreate(RequestModel):
    """A change to make to one environment of a flag at a moment: exactly one of enabled or targeting."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["enabled"],
                    "properties": {"enabled": {"type": "boolean"}, "targeting": {"type": "null"}},
                },
                {
                    "required": ["targeting"],
                    "properties": {"targeting": {"type": "object"}, "enabled": {"type": "null"}},
                },
            ]
        }
    )

    at: Moment
    environment: EnvironmentName
    enabled: StrictBool | None = Field(None, description="Switch the environment on (true) or off (false)")
    targeting: EnvironmentTargeting | None = Field(None, description="Replace the environment's targeting")

    def change(self) -> dict[str, Any]:
        """Return the change as stored, {"enabled": ...} or {"targeting": ...}; raise ValidationFailed unless one."""
        given = [name for name in ("enabled", "targeting") if getattr(self, name) is not None]
        if len(given) != 1:
            field = "targeting" if given else "enabled"
            message = "give one of enabled or targeting, not both" if given else "give enabled or targeting"
            raise ValidationFailed(
                f"{field}: {message}", details=[{"field": field, "message": message, "type": "one_change"}]
            )
        if self.enabled is not None:
            return {"enabled": self.enabled}
        return {"targeting": self.targeting.model_dump()}


class Schedule(BaseModel):
    """A scheduled change as the API returns it."""

    id: str = Field(alias="_id")
    flag_id: str
    flag_name: str
    environment: str
    at: str = Field(description="When it applies (ISO 8601, UTC)")
    enabled: bool | None = None
    targeting: EnvironmentTargeting | None = None
    state: ScheduleState
    late: bool = Field(description="Applied more than 5 seconds after its moment (every instance was down, say)")
    reason: str | None = Field(description="Why it failed; null otherwise")
    applied_at: str | None
    created_at: str
    created_by: str
    finished_at: str | None = None
    cancelled_by: str | None = None

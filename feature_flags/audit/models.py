"""Audit trail query and response models."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from ..evaluation import engine as evaluation
from .actions import AuditAction


def _iso_moment(value: Any) -> Any:
    # Read as condition dates are: pydantic alone would also take a number as a Unix timestamp.
    moment = evaluation.parse_datetime(value)
    if moment is None:
        raise ValueError("give an ISO 8601 date-time with a time zone, like 2030-01-01T00:00:00Z")
    try:
        # The database compares in UTC; a moment that has none (9999-12-31T23:59:59-01:00) is out of range.
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date-time is out of range in UTC") from None


class AuditQuery(BaseModel):
    """Filters and paging for the audit trail, from the query string."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=500)
    before: str | None = Field(None, description="An event id: return events older than it")
    actor: str | None = None
    action: AuditAction | None = None
    flag: str | None = Field(None, description="A flag id or name")
    since: Annotated[AwareDatetime, BeforeValidator(_iso_moment)] | None = None


class AuditPerson(BaseModel):
    """A person signed in through the identity provider, as the audit trail records them."""

    subject: str = Field(description="The provider's `sub`: who they are, whatever their name or e-mail becomes")
    name: str | None = None
    email: str | None = None


class AuditEvent(BaseModel):
    """One recorded change."""

    id: str = Field(alias="_id")
    at: str
    actor: str
    action: AuditAction
    request_id: str | None = None
    flag_id: str | None = None
    flag_name: str | None = None
    token_id: str | None = None
    token_name: str | None = None
    segment_id: str | None = None
    segment_name: str | None = None
    flag_ids: list[str] | None = Field(None, description="A segment change: the flags whose rules name the segment")
    flag_names: list[str] | None = None
    forced: bool | None = Field(None, description="Archived or deleted although other flags required it")
    environment: str | None = None
    schedule_id: str | None = Field(None, description="The schedule an event is about, or that made the change")
    scheduled_by: str | None = Field(None, description="Who made the schedule, on changes the actor 'schedule' made")
    webhook_id: str | None = Field(None, description="The webhook a webhook.* event is about")
    context_field_id: str | None = Field(None, description="The context field a context_field.* event is about")
    context_field_name: str | None = None
    change_request_id: str | None = Field(
        None, description="The change request a change_request.* event is about, or that made the change"
    )
    requested_by: str | None = Field(None, description="Who made the change request, on changes one applied")
    approved_by: str | None = Field(None, description="Who approved the change request, on changes one applied")
    user_id: str | None = Field(None, description="The person a user.* event is about")
    person: AuditPerson | None = Field(None, description="The person who made the change, when one signed in did")
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class AuditPage(BaseModel):
    events: list[AuditEvent]
    next_before: str | None = Field(description="Pass as ?before= for the next page; null on the last")

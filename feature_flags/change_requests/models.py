"""A change request's request and response models: one flag's PUT body, reviewed by someone else."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from ..flags.models import FlagUpdate
from ..schedules.models import Moment
from ..validation import RequestModel

MAX_COMMENT_LENGTH = 1000
MAX_OPEN_PER_FLAG = 100
ChangeRequestStateName = Literal["open", "approved", "applied", "rejected", "cancelled", "failed"]
Comment = Annotated[StrictStr, Field(max_length=MAX_COMMENT_LENGTH, description="Free text for the reviewers")]


class ChangeRequestCreate(RequestModel):
    """A change to one flag, as PUT /flags/{flag} takes it, to be applied once someone else approves it."""

    flag: Annotated[StrictStr, Field(min_length=1, max_length=100, description="The flag's id or name")]
    changes: FlagUpdate = Field(description="The body PUT /flags/{flag} would take; checked now and when applied")
    base_version: StrictInt | None = Field(
        None, ge=1, description="The flag version the change was made on; a flag at another answers 412"
    )
    apply_at: Moment | None = Field(
        None, description="Apply at this moment once approved (a schedule); left out, at approval"
    )
    comment: Comment = ""


class ChangeRequestReview(RequestModel):
    """What a reviewer (or the requester, cancelling) may add."""

    comment: Comment = ""


class ChangeRequestQuery(BaseModel):
    """Filters and paging for the list of change requests, from the query string."""

    model_config = ConfigDict(extra="forbid")

    state: ChangeRequestStateName | None = None
    flag: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    before: Annotated[str, Field(max_length=24)] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50


class ChangeRequest(BaseModel):
    """A change request as the API returns it."""

    id: str = Field(alias="_id")
    flag_id: str
    flag_name: str
    changes: dict[str, Any] = Field(description="The PUT body it applies")
    base: dict[str, Any] = Field(
        default_factory=dict,
        description="What the flag held at base_version of each thing the request changes (of environments and "
        "targeting, the keys it names; null where there was none): what changes compares against",
    )
    base_version: StrictInt = Field(description="The flag version it was made on (or last rebased on)")
    environments: list[str] = Field(description="The environments it changes: its approver must edit every one")
    apply_at: str | None = Field(description="When it applies once approved; null: at approval")
    comment: str
    state: ChangeRequestStateName = Field(
        description="open (awaiting review), approved (waiting for apply_at), applied, rejected, cancelled, or "
        "failed (the flag changed, or the change no longer fits it: rebase to reopen it)"
    )
    created_at: str
    requested_by: str
    reviewed_by: str | None = Field(description="Who approved or rejected it")
    reviewed_at: str | None
    review_comment: str | None
    applied_at: str | None
    finished_at: str | None
    reason: str | None = Field(description="Why it failed; null otherwise")


class ChangeRequestPage(BaseModel):
    change_requests: list[ChangeRequest]
    next_before: str | None = Field(description="Pass as ?before= for the next page; null on the last")

"""What Unleash's SDKs send (registrations, metrics, frontend contexts) and what the API answers, bounded.

The SDKs send more than is read here (platform, connection ids, impact metrics): unknown fields are ignored,
not refused, so a newer SDK keeps working. Everything read is bounded.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from ..evaluation.engine import MAX_CONTEXT_ATTRIBUTES, MAX_CONTEXT_STRING_LENGTH
from ..validation import whole_number

# A bucket naming every one of 20,000 flags (about 50 bytes each) fits the ordinary body bound of 1 MiB.
MAX_REPORTED_FLAGS = 20_000
MAX_REPORTED_VARIANTS = 100
MAX_COUNT = 1_000_000_000

Text = Annotated[str, StringConstraints(max_length=200)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
FlagName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT), BeforeValidator(whole_number)]


class Lenient(BaseModel):
    """A body an SDK sends: fields this service does not read are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)


class Registration(Lenient):
    """POST /api/client/register: an SDK instance says it started."""

    app_name: Name = Field(alias="appName")
    instance_id: Name = Field("unknown", alias="instanceId")
    sdk_version: Text | None = Field(None, alias="sdkVersion")
    started: Text | None = None
    interval: Annotated[int, Field(ge=0, le=86_400_000), BeforeValidator(whole_number)] | None = None


class ToggleCounts(Lenient):
    yes: Count = 0
    no: Count = 0
    variants: Annotated[dict[Text, Count], Field(max_length=MAX_REPORTED_VARIANTS)] = Field(default_factory=dict)


class Bucket(Lenient):
    start: Text
    stop: Text
    toggles: Annotated[dict[FlagName, ToggleCounts], Field(max_length=MAX_REPORTED_FLAGS)] = Field(default_factory=dict)


class Metrics(Lenient):
    """POST /api/client/metrics: how often an SDK instance evaluated each flag in a period."""

    app_name: Name = Field(alias="appName")
    instance_id: Name = Field("unknown", alias="instanceId")
    bucket: Bucket


class FrontendBody(Lenient):
    """POST /api/frontend: the context to evaluate for."""

    context: Annotated[dict[str, Any], Field(max_length=MAX_CONTEXT_ATTRIBUTES)] = Field(default_factory=dict)


class Application(BaseModel):
    """An SDK instance heard of within a week."""

    id: str = Field(alias="_id")
    app_name: str
    instance_id: str
    sdk_version: str | None = None
    environment: str
    started: str | None = None
    interval: int | None = None
    first_seen_at: str
    last_seen_at: str


# The bound on a frontend context's strings, as on OFREP's.
MAX_FRONTEND_STRING = MAX_CONTEXT_STRING_LENGTH

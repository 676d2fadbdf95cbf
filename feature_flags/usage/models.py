"""Usage response models: what GET /flags/<ident>/usage answers, as the OpenAPI document describes it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, NonNegativeInt

from ..flags.models import VariantName
from ..validation import ENVIRONMENT_KEYS

HOURS_SHOWN = 24

VariantCounts = Annotated[
    dict[VariantName, NonNegativeInt],
    Field(description="Variant name to how many evaluations served it; a variant never served is absent"),
]


class HourUsage(BaseModel):
    """One hour's evaluations in one environment."""

    hour: str = Field(description="The hour's start, ISO 8601, UTC")
    variants: VariantCounts


class ReportingApplication(BaseModel):
    """An application (an Unleash SDK) that reported evaluating the flag, by its appName."""

    name: str
    last_seen_at: str = Field(description="ISO 8601, UTC: its latest report naming the flag")


class EnvironmentUsage(BaseModel):
    """How one environment evaluated the flag."""

    last_evaluated_at: str | None = Field(description="ISO 8601, UTC; null if this environment never evaluated it")
    last_hour: VariantCounts = Field(description="The current hour (since its start, UTC)")
    last_24_hours: VariantCounts = Field(description="The current hour and the 23 before it")
    hours: list[HourUsage] = Field(
        description="The 24 hours, oldest first, the current one last", min_length=HOURS_SHOWN, max_length=HOURS_SHOWN
    )
    applications: list[ReportingApplication] = Field(
        description="Applications evaluating it in process (Unleash SDKs) that reported it within a week, most "
        "recent first (at most 20)"
    )


class FlagUsage(BaseModel):
    """A flag's evaluations by environment and variant, as its instances flushed them (10 s behind at most)."""

    flag_id: str
    name: str
    environments: Annotated[
        dict[str, EnvironmentUsage],
        Field(description="Every environment the token may read", json_schema_extra=ENVIRONMENT_KEYS),
    ]

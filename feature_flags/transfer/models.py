"""Request and response models of export, import and copying, for validation and the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ..context_fields.models import ContextFieldCreate
from ..flags.models import FlagCreate, FlagName
from ..segments.models import SegmentCreate
from ..validation import EnvironmentName, RequestModel
from .document import FORMAT, MAX_IMPORT_CONTEXT_FIELDS, MAX_IMPORT_FLAGS, MAX_IMPORT_SEGMENTS


class CopyRequest(RequestModel):
    """Copy one environment's on/off state and targeting to another (to differs from from)."""

    model_config = ConfigDict(populate_by_name=False)

    source: EnvironmentName = Field(alias="from")
    to: EnvironmentName


class EnvironmentCopyRequest(RequestModel):
    """Copy this environment's state and targeting to another (not itself), for the flags named (all live ones)."""

    to: EnvironmentName
    flags: list[FlagName] | None = Field(None, max_length=MAX_IMPORT_FLAGS, description="Flag names; all live flags")


class EnvironmentCopyResult(BaseModel):
    updated: list[str] = Field(description="Names of the flags changed, sorted")
    unchanged: list[str] = Field(description="Names of the flags that already had these settings, sorted")


class ExportedFlag(FlagCreate):
    """A flag as the export document holds it: its content and whether it is archived."""

    archived: StrictBool = False


class ExportDocument(RequestModel):
    """Every flag, segment and described context field, in a form that diffs well: sorted keys, each by name, no ids,
    versions or times."""

    format: Literal[FORMAT] = Field(description=f"Always {FORMAT}")  # type: ignore[valid-type]
    flags: list[ExportedFlag] = Field(max_length=MAX_IMPORT_FLAGS)
    segments: list[SegmentCreate] = Field(
        default_factory=list, max_length=MAX_IMPORT_SEGMENTS, description="Segments (name, description, conditions)"
    )
    context_fields: list[ContextFieldCreate] | None = Field(
        None,
        max_length=MAX_IMPORT_CONTEXT_FIELDS,
        description=(
            "Described context fields (name, description, type, values). Left out, an import leaves the described "
            "fields as they are, even with mode=replace"
        ),
    )


class ImportQuery(BaseModel):
    """The query string of POST /import."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["upsert", "replace"] = Field(
        "upsert", description="upsert: create and update flags by name; replace: also remove flags the document lacks"
    )
    dry_run: bool = Field(False, description="true: answer the plan and write nothing")
    format: Literal["feature-flags", "unleash"] = Field(
        "feature-flags", description="feature-flags: this service's export; unleash: an Unleash feature export"
    )
    environment: str | None = Field(
        None, description="With format=unleash (required): the environment that receives the Unleash state"
    )
    allow_partial: bool = Field(
        False, description="With format=unleash: import what maps even when some parts are listed as unmapped"
    )


class Unmapped(BaseModel):
    flag: str
    what: str = Field(description="The part of the feature, as a path inside it (strategies.0.constraints.1)")
    why: str


class SegmentImportPlan(BaseModel):
    """Segment names per outcome."""

    created: list[str]
    updated: list[str]
    unchanged: list[str]
    removed: list[str]


class ContextFieldImportPlan(SegmentImportPlan):
    """Described context field names per outcome."""


class ImportPlan(BaseModel):
    """What the import did, or with dry_run would do: flag names per outcome, and segment names under segments."""

    created: list[str]
    updated: list[str]
    unchanged: list[str]
    removed: list[str]
    dry_run: bool
    unmapped: list[Unmapped] | None = Field(None, description="With format=unleash: what could not be mapped")
    segments: SegmentImportPlan | None = Field(
        None, description="With format=feature-flags: the document's segments (replace also removes the others)"
    )
    context_fields: ContextFieldImportPlan | None = Field(
        None, description="With a document that lists context_fields: their names per outcome"
    )

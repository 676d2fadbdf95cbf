"""What an import would do to the flags, segments and described context fields there are: which it creates, updates,
leaves and removes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..flags.rules import FLAG_CONTENT_FIELDS
from ..storage import ContextFieldWrite, FlagWrite, SegmentWrite, utcnow
from .document import EXPORTED_CONTEXT_FIELD_FIELDS, EXPORTED_SEGMENT_FIELDS, exported_flag

Mode = Literal["upsert", "replace"]


@dataclass
class _Names:
    """The names an import creates, updates, leaves unchanged and removes."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def answer(self) -> dict[str, Any]:
        """Return the names as the API answers them, each list sorted."""
        return {key: sorted(getattr(self, key)) for key in ("created", "updated", "unchanged", "removed")}


@dataclass
class SegmentPlan(_Names):
    """The segment names each list holds, and the writes that carry them out."""

    writes: list[SegmentWrite] = field(default_factory=list)


@dataclass
class ContextFieldPlan(_Names):
    """The described context fields each list holds, and the writes that carry them out."""

    writes: list[ContextFieldWrite] = field(default_factory=list)


@dataclass
class Plan(_Names):
    """The names each list holds, and the writes that carry the plan out."""

    writes: list[FlagWrite] = field(default_factory=list)
    unmapped: list[dict[str, str]] | None = None
    # None where the source has no segments of its own (an Unleash export inlines them into rules).
    segments: SegmentPlan | None = None
    # None where the document says nothing of context fields: they are left as they are.
    context_fields: ContextFieldPlan | None = None

    @property
    def changes(self) -> int:
        """How many documents the plan writes, flags, segments and context fields together."""
        return (
            len(self.writes)
            + (len(self.segments.writes) if self.segments else 0)
            + (len(self.context_fields.writes) if self.context_fields else 0)
        )

    def answer(self) -> dict[str, Any]:
        """Return the plan as the API answers it."""
        answer = super().answer()
        if self.unmapped is not None:
            answer["unmapped"] = self.unmapped
        if self.segments is not None:
            answer["segments"] = self.segments.answer()
        if self.context_fields is not None:
            answer["context_fields"] = self.context_fields.answer()
        return answer


def _archived_at(archived: bool, existing: dict[str, Any] | None) -> Any:
    if not archived:
        return None
    # An archived flag keeps the moment it was archived; one archived by the import is archived now.
    return (existing or {}).get("archived_at") or utcnow()


def make_plan(current: list[dict[str, Any]], wanted: list[dict[str, Any]], mode: Mode) -> Plan:
    """Compare the flags there are with the document's (matched by name) and plan the writes."""
    plan = Plan()
    by_name = {flag["name"]: flag for flag in current}
    for content in wanted:
        existing = by_name.get(content["name"])
        if existing is None:
            fields = {key: content[key] for key in FLAG_CONTENT_FIELDS}
            fields["archived_at"] = _archived_at(content["archived"], None)
            plan.created.append(content["name"])
            plan.writes.append(FlagWrite("create", fields))
            continue
        was = exported_flag(existing)
        if was == content:
            plan.unchanged.append(content["name"])
            continue
        changes = {key: content[key] for key in FLAG_CONTENT_FIELDS if was[key] != content[key]}
        if was["archived"] != content["archived"]:
            changes["archived_at"] = _archived_at(content["archived"], existing)
        plan.updated.append(content["name"])
        plan.writes.append(FlagWrite("update", changes, existing))
    if mode == "replace":
        names = {content["name"] for content in wanted}
        for flag in current:
            if flag["name"] not in names:
                plan.removed.append(flag["name"])
                plan.writes.append(FlagWrite("delete", current=flag))
    return plan


def _plan_by_name(
    plan: SegmentPlan | ContextFieldPlan,
    write: type[SegmentWrite] | type[ContextFieldWrite],
    fields: tuple[str, ...],
    current: list[dict[str, Any]],
    wanted: list[dict[str, Any]],
    mode: Mode,
) -> None:
    """Plan the writes that make what there is (matched by name) hold the document's fields."""
    by_name = {existing["name"]: existing for existing in current}
    for content in wanted:
        existing = by_name.get(content["name"])
        if existing is None:
            plan.created.append(content["name"])
            plan.writes.append(write("create", dict(content)))
            continue
        changes = {key: content[key] for key in fields if existing[key] != content[key]}
        if not changes:
            plan.unchanged.append(content["name"])
            continue
        plan.updated.append(content["name"])
        plan.writes.append(write("update", changes, existing))
    if mode == "replace":
        names = {content["name"] for content in wanted}
        for existing in current:
            if existing["name"] not in names:
                plan.removed.append(existing["name"])
                plan.writes.append(write("delete", current=existing))


def plan_segments(current: list[dict[str, Any]], wanted: list[dict[str, Any]], mode: Mode) -> SegmentPlan:
    """Compare the segments there are with the document's (matched by name) and plan the writes."""
    plan = SegmentPlan()
    _plan_by_name(plan, SegmentWrite, EXPORTED_SEGMENT_FIELDS, current, wanted, mode)
    return plan


def plan_context_fields(current: list[dict[str, Any]], wanted: list[dict[str, Any]], mode: Mode) -> ContextFieldPlan:
    """Compare the described context fields with the document's (matched by name) and plan the writes."""
    plan = ContextFieldPlan()
    _plan_by_name(plan, ContextFieldWrite, EXPORTED_CONTEXT_FIELD_FIELDS, current, wanted, mode)
    return plan

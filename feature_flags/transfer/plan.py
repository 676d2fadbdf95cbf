"""What an import would do to the flags there are: which it creates, updates, leaves alone and removes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..flags.rules import FLAG_CONTENT_FIELDS
from ..storage import FlagWrite, utcnow
from .document import exported_flag

Mode = Literal["upsert", "replace"]


@dataclass
class Plan:
    """The names each list holds, and the writes that carry the plan out."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    writes: list[FlagWrite] = field(default_factory=list)
    unmapped: list[dict[str, str]] | None = None

    def answer(self) -> dict[str, Any]:
        """Return the plan as the API answers it."""
        answer: dict[str, Any] = {
            "created": sorted(self.created),
            "updated": sorted(self.updated),
            "unchanged": sorted(self.unchanged),
            "removed": sorted(self.removed),
        }
        if self.unmapped is not None:
            answer["unmapped"] = self.unmapped
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

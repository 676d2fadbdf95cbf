"""What an import's flags name: segments and prerequisites checked against the flags and segments it leaves.

The same checks a single write makes (flags.dependencies), run over the set the import would result in: the
document's flags and segments, plus (upsert) what exists and the document does not mention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import SegmentInUse, ValidationFailed
from ..flags.dependencies import dependency_errors, names_others, uses_segment
from .document import Contents

# Stand-in ids of the document's new flags: the checks tell a flag from the others by id (no ObjectId has a colon).
NEW_ID_PREFIX = "import:"


@dataclass(frozen=True)
class Resulting:
    """The flags and segments by name as the import would leave them (what dependency_errors checks against)."""

    by_name: dict[str, dict[str, Any]]
    segments_by_name: dict[str, dict[str, Any]]


def _as_stored(content: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    flag_id = existing["_id"] if existing is not None else f"{NEW_ID_PREFIX}{content['name']}"
    return {**content, "_id": flag_id, "archived_at": True if content["archived"] else None}


def resulting(
    contents: Contents, flags: list[dict[str, Any]], segments: list[dict[str, Any]], replace: bool
) -> Resulting:
    """Return what there would be after the import; replace drops the flags (not yet the segments) it lacks."""
    existing = {flag["name"]: flag for flag in flags}
    by_name = {} if replace else dict(existing)
    by_name.update({content["name"]: _as_stored(content, existing.get(content["name"])) for content in contents.flags})
    # Segments the document lacks stay known even with replace: removing one still in use is refused by name.
    segments_by_name = {segment["name"]: segment for segment in segments}
    segments_by_name.update({segment["name"]: segment for segment in contents.segments})
    return Resulting(by_name, segments_by_name)


def check_references(contents: Contents, result: Resulting, environments: tuple[str, ...]) -> None:
    """Raise ValidationFailed if a document flag names a segment or prerequisite wrongly; fields name the path."""
    errors = []
    for index, content in enumerate(contents.flags):
        if not names_others(content):
            continue
        flag = result.by_name[content["name"]]
        errors += [
            {**error, "field": f"flags.{index}.{error['field']}"}
            for error in dependency_errors(flag, environments, result)
        ]
    if errors:
        raise ValidationFailed(f"{errors[0]['field']}: {errors[0]['message']}", details=errors)


def refuse_removing_used(removed: list[str], result: Resulting) -> None:
    """Raise SegmentInUse if a segment the import removes is named by a flag that stays."""
    for name in sorted(removed):
        users = [
            {"_id": None if flag["_id"].startswith(NEW_ID_PREFIX) else flag["_id"], "name": flag["name"]}
            for flag in result.by_name.values()
            if uses_segment(flag, name)
        ]
        if users:
            raise SegmentInUse(
                f"Cannot remove segment {name!r}, which the document lacks: the rules of these flags name it:", users
            )

"""The write path of segments: bounds, the store (with its audit event naming the flags changed), the cache."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import current_app

from ..cache import current_snapshot, flag_cache
from ..errors import FlagTooLarge, SegmentInUse, TooManySegments
from ..extensions import get_store
from ..flags.dependencies import environments_naming_segment, uses_segment
from ..flags.models import MAX_FLAG_BYTES


def flags_using(segment: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the flags (archived ones too: reviving one brings its rules back) whose rules name the segment."""
    return [
        {"_id": flag["_id"], "name": flag["name"]}
        for flag in current_snapshot().ordered
        if uses_segment(flag, segment["name"])
    ]


def check_segment_size(segment: dict[str, Any]) -> None:
    """Raise FlagTooLarge if the segment's content is over MAX_FLAG_BYTES as compact JSON."""
    # The bound flags have: every rule naming the segment evaluates all of it, in every worker's memory.
    content = {key: segment.get(key) for key in ("name", "description", "conditions")}
    size = len(json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_FLAG_BYTES:
        raise FlagTooLarge(
            f"The segment would be {size:,} bytes; a segment holds at most {MAX_FLAG_BYTES:,}.",
            limit_bytes=MAX_FLAG_BYTES,
            size_bytes=size,
        )


def _refuse_if_used(segment: dict[str, Any], doing: str) -> None:
    users = flags_using(segment)
    if users:
        raise SegmentInUse(f"Cannot {doing} segment {segment['name']!r}: the rules of these flags name it:", users)


def create(fields: dict[str, Any], actor: str, request_id: str | None = None) -> dict[str, Any]:
    """Create a segment from validated fields; raise FlagTooLarge, TooManySegments or SegmentNameTaken."""
    check_segment_size(fields)
    bound = current_app.config["FF"].max_segments
    if len(current_snapshot().segments) >= bound:
        raise TooManySegments(f"This deployment holds {bound:,} segments, as many as it may; delete unused ones first.")
    written = get_store().create_segment(fields, actor, request_id, flags=flags_using)
    flag_cache().segment_written(written.segment, written.revision)
    return written.segment


def update(
    ident: str,
    changes: dict[str, Any],
    actor: str,
    request_id: str | None = None,
    expected_version: int | None = None,
    judge: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Apply validated changes; every flag naming the segment serves by its new conditions (a rename in use: 409).

    judge(segment) is the caller's check, made on the segment as the write finds it, again on every retry.
    """

    def changed(current: dict[str, Any]) -> dict[str, Any]:
        if judge is not None:
            judge(current)
        if changes.get("name", current["name"]) != current["name"]:
            _refuse_if_used(current, "rename")
        check_segment_size({**current, **changes})
        return changes

    written = get_store().update_segment(ident, changed, actor, request_id, expected_version, flags=flags_using)
    flag_cache().segment_written(written.segment, written.revision)
    return written.segment


def delete(ident: str, actor: str, request_id: str | None = None, expected_version: int | None = None) -> dict:
    """Delete a segment no flag names (else SegmentInUse, naming them); return it as it was."""
    written = get_store().delete_segment(
        ident, actor, request_id, expected_version, check=lambda current: _refuse_if_used(current, "delete")
    )
    flag_cache().segment_deleted(written.segment["_id"], written.revision)
    return written.segment


def environments() -> tuple[str, ...]:
    """Return this deployment's environments."""
    return current_app.config["FF"].environments


def serving_environments(name: str) -> set[str]:
    """The environments where some flag's rules (archived flags' too) name the segment called name, or will once
    a pending change request (open, or approved and waiting for its moment) is applied.
    """
    named = {
        environment for flag in current_snapshot().ordered for environment in environments_naming_segment(flag, name)
    }
    for targeting in get_store().pending_change_request_targeting():
        named |= environments_naming_segment({"targeting": targeting}, name)
    return named

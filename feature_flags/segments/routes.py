"""The segments API: audiences defined once, named in rules as {"segment": "<name>"}."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify

from ..cache import current_snapshot
from ..change_requests.guard import needing_approval
from ..errors import Forbidden, ValidationFailed
from ..extensions import get_store
from ..tokens.access import actor_name, authenticate, require_editor
from ..validation import parse
from ..web.bodies import read_json_object, to_json
from ..web.conditional import body_etag, expected_version, if_match_check, prebuilt_response
from ..web.openapi import documented
from . import service
from .models import UPDATABLE_FIELDS, Segment, SegmentCreate, SegmentUpdate

bp = Blueprint("segments", __name__)

IN_USE = (
    "A segment that flags' rules name keeps its name and cannot be deleted: 409 segment_in_use, whose details "
    "name each flag. Changing its conditions changes what every such flag serves, on every instance within a "
    "second, and each of those flags' history records it."
)


@bp.before_request
def require_token():
    authenticate()


def etag_of(segment: dict[str, Any]) -> str:
    """Return the version tag of a segment: its id and version, which If-Match names."""
    return f"{segment['_id']}.{segment['version']}"


def _expected_version(ident: str) -> int | None:
    """Turn If-Match into the version a write to this segment must find; raise VersionConflict if already stale."""
    return expected_version(lambda: get_store().find_segment(ident), lambda tag, segment: tag == etag_of(segment))


def _segment_response(segment: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(segment)
    response.status_code = status
    response.set_etag(etag_of(segment))
    return response


@bp.get("/segments")
@documented("List every segment in natural name order", response=list[Segment], errors=[304])
def list_segments():
    snapshot = current_snapshot()
    body = snapshot.memo(("segments",), lambda: to_json(snapshot.ordered_segments).encode())
    return prebuilt_response(body, body_etag(body))


@bp.post("/segments")
@documented(
    'Create a segment: conditions rules name together as {"segment": "<name>"}',
    description="Names follow flag names' rules and are unique among segments (409 segment_name_taken).",
    body=SegmentCreate,
    response=Segment,
    status=201,
    errors=[400, 409],
)
def create_segment():
    # A segment is shared by every environment's rules: changing it changes what each of them serves.
    require_editor(service.environments())
    fields = parse(SegmentCreate, read_json_object(), service.environments()).model_dump()
    return _segment_response(service.create(fields, actor_name(), g.request_id), 201)


@bp.get("/segments/<ident>")
@documented("Get one segment by id or name", response=Segment, errors=[304, 404])
def get_segment(ident: str):
    segment = current_snapshot().find_segment(ident)
    return prebuilt_response(to_json(segment).encode(), etag_of(segment))


@bp.put("/segments/<ident>")
@documented(
    "Change a segment's name, description or conditions (conditions are replaced)",
    description=IN_USE + " A segment that rules in an environment needing approval (FF_APPROVALS) name, or that a "
    "pending change request's rules name there, is changed by admins only (403 for editors): change requests hold "
    "changes to one flag.",
    body=SegmentUpdate,
    response=Segment,
    errors=[400, 404, 409, 412],
)
def update_segment(ident: str):
    principal = require_editor(service.environments())
    changes = parse(SegmentUpdate, read_json_object(), service.environments()).changes()
    if not changes:
        raise ValidationFailed(f"Give at least one of {', '.join(UPDATABLE_FIELDS)}.")
    if_match = if_match_check(lambda tag, segment: tag == etag_of(segment))

    def judge(current: dict[str, Any]) -> None:
        if if_match is not None:
            if_match(current)
        # Change requests hold one flag's change; a segment change would reach approval environments without one.
        gated = needing_approval(service.serving_environments(current["name"]))
        if gated and not principal.is_admin:
            raise Forbidden(
                f"Flags in {', '.join(gated)}, where changes need approval, use this segment (or will, once a "
                "change request is applied): only an admin changes it.",
                environments=list(gated),
            )

    segment = service.update(ident, changes, actor_name(), g.request_id, judge=judge)
    return _segment_response(segment)


@bp.delete("/segments/<ident>")
@documented("Delete a segment no flag names", description=IN_USE, status=204, errors=[404, 409, 412])
def delete_segment(ident: str):
    require_editor(service.environments())
    service.delete(ident, actor_name(), g.request_id, _expected_version(ident))
    return Response(status=204)

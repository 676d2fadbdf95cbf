"""The flags API: create, read, update, toggle and delete flags per environment."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from ..cache import current_snapshot
from ..errors import ValidationFailed, VersionConflict
from ..extensions import get_store
from ..tokens.access import actor_name, authenticate, environment_for_read, require_admin
from ..validation import parse
from ..web.bodies import read_json_object, to_json
from ..web.conditional import body_etag, prebuilt_response
from ..web.openapi import documented
from . import service
from .models import Flag, FlagCreate, FlagUpdate, ToggleRequest
from .rules import UNSTATED_FLAG_RULES

bp = Blueprint("flags", __name__)


@bp.before_request
def require_token():
    authenticate()


def _environments() -> tuple[str, ...]:
    return current_app.config["FF"].environments


def etag_of(flag: dict[str, Any]) -> str:
    """Return the ETag of one flag: its id and version, so it changes with every write."""
    return f"{flag['_id']}.{flag['version']}"


def _with_enabled(flag: dict[str, Any], environment: str) -> dict[str, Any]:
    return {**flag, "enabled": flag["environments"].get(environment, False)}


def scoped_to(flag: dict[str, Any], environment: str) -> dict[str, Any]:
    """Return the flag as a token bound to one environment sees it: that environment's state and targeting only.

    A production application has no business reading staging's rules (they may name unreleased plans or
    test accounts), nor another environment's switches.
    """
    return {
        **flag,
        "environments": {environment: flag["environments"].get(environment, False)},
        "targeting": {key: value for key, value in flag["targeting"].items() if key == environment},
    }


def _bound_environment() -> str | None:
    return authenticate().environment


def _expected_version(ident: str) -> int | None:
    """Turn If-Match into the version a write must find; raise VersionConflict if already stale."""
    if not request.if_match:
        return None
    current = get_store().find_flag(ident)
    if request.if_match.star_tag:
        return None
    # Weak comparison on purpose: the tag names a version, not bytes, and a compressing proxy (nginx's gzip)
    # turns it into W/"..." on the way out, which a client then sends back.
    if not request.if_match.contains_weak(etag_of(current)):
        raise VersionConflict(current_version=current["version"])
    return current["version"]


def _flag_response(flag: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(flag)
    response.status_code = status
    response.set_etag(etag_of(flag))
    return response


@bp.get("/flags")
@documented(
    "List flags with their state in one environment; a client token sees its own environment only",
    params=["environment"],
    response=list[Flag],
    errors=[304, 400],
)
def list_flags():
    environment = environment_for_read(request.args.get("environment"))
    bound = _bound_environment()
    snapshot = current_snapshot()

    def build() -> tuple[bytes, str]:
        flags = snapshot.ordered if bound is None else [scoped_to(flag, bound) for flag in snapshot.ordered]
        body = to_json([_with_enabled(flag, environment) for flag in flags]).encode()
        return body, body_etag(body)

    # Built once per snapshot, environment and scope: until a flag changes, a request only looks it up.
    return prebuilt_response(*snapshot.memo(("list", environment, bound), build))


@bp.post("/flags")
@documented(
    "Create a flag",
    description=UNSTATED_FLAG_RULES,
    body=FlagCreate,
    response=Flag,
    status=201,
    errors=[400, 409],
)
def create_flag():
    require_admin()
    fields = parse(FlagCreate, read_json_object(), _environments()).model_dump()
    return _flag_response(service.create(fields, actor_name(), g.request_id), 201)


@bp.get("/flags/<ident>")
@documented(
    "Get one flag by id or name; a client token sees its own environment's state and targeting only",
    response=Flag,
    errors=[304, 404],
)
def get_flag(ident: str):
    bound = _bound_environment()
    snapshot = current_snapshot()
    flag = snapshot.find(ident)
    if bound is None:
        # Serialised once per snapshot: a read only looks the bytes up.
        return prebuilt_response(snapshot.memo(("flag", flag["_id"]), lambda: to_json(flag).encode()), etag_of(flag))
    # Another representation of the same version, so another tag.
    body = snapshot.memo(("flag", flag["_id"], bound), lambda: to_json(scoped_to(flag, bound)).encode())
    return prebuilt_response(body, f"{etag_of(flag)}.{bound}")


@bp.put("/flags/<ident>")
@documented(
    "Change a flag's fields; environments and targeting merge environment by environment",
    description=UNSTATED_FLAG_RULES,
    body=FlagUpdate,
    response=Flag,
    errors=[400, 404, 409, 412],
)
def update_flag(ident: str):
    require_admin()
    changes = parse(FlagUpdate, read_json_object(), _environments()).changes()
    if not changes:
        raise ValidationFailed(
            "Give at least one of name, description, environments, variants, off_variant, targeting or stickiness."
        )
    flag = service.update(ident, changes, actor_name(), g.request_id, _expected_version(ident))
    return _flag_response(flag)


@bp.post("/flags/<ident>/toggle")
@documented(
    "Switch a flag on or off in one environment (the default environment when the body is left out)",
    body=ToggleRequest,
    body_required=False,
    response=Flag,
    errors=[400, 404, 412],
)
def toggle_flag(ident: str):
    require_admin()
    environment = parse(ToggleRequest, read_json_object(required=False), _environments()).environment
    environment = environment or current_app.config["FF"].default_environment
    flag = service.toggle(ident, environment, actor_name(), g.request_id, _expected_version(ident))
    return _flag_response(_with_enabled(flag, environment))


@bp.delete("/flags/<ident>")
@documented("Delete a flag", status=204, errors=[404, 412])
def delete_flag(ident: str):
    require_admin()
    service.delete(ident, actor_name(), g.request_id, _expected_version(ident))
    return Response(status=204)

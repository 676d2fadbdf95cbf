"""Export, import and copying between environments, over HTTP (admin tokens only)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, request

from ..change_requests.guard import refuse_unapproved
from ..errors import ValidationFailed
from ..flags.models import Flag
from ..flags.routes import _expected_version, _flag_response
from ..flags.rules import UNSTATED_FLAG_RULES
from ..tokens.access import actor_name, authenticate, require_admin, require_editor, require_full_reader
from ..validation import parse
from ..web.bodies import read_json_object
from ..web.openapi import documented
from .document import MAX_IMPORT_BYTES, MAX_IMPORT_FLAGS, dumps
from .models import CopyRequest, EnvironmentCopyRequest, EnvironmentCopyResult, ExportDocument, ImportPlan, ImportQuery
from .service import MAX_CHANGES_WITHOUT_TRANSACTIONS, export, import_document
from .service import copy_environment as copy_many
from .service import copy_flag as copy_one

bp = Blueprint("transfer", __name__)

IMPORT_DESCRIPTION = (
    f"Validates the whole document before writing anything, then writes all of it or none. At most "
    f"{MAX_IMPORT_FLAGS:,} flags and {MAX_IMPORT_BYTES // (1024 * 1024)} MiB; without transactions (a standalone "
    f"database) at most {MAX_CHANGES_WITHOUT_TRANSACTIONS:,} changes. Each flag: {UNSTATED_FLAG_RULES} Names are "
    "unique in a document. Segments are matched by name like flags; every segment a rule names and every "
    "prerequisite must be in the document or (upsert) exist, with no cycle across the result (400 naming the "
    "path); mode=replace refuses to remove a segment a remaining flag names (409 segment_in_use). With "
    "format=unleash the body is an Unleash feature export ({version, features, segments}) instead, mapped onto "
    "the environment given; what cannot be mapped is listed as unmapped, and a real import with unmapped parts "
    "is refused (400 unmapped) unless allow_partial=true. A real import changing what an environment needing "
    "approval (FF_APPROVALS) serves answers 409 change_request_required; the command line's import is not held up."
)


@bp.before_request
def require_token():
    authenticate()


def _environments() -> tuple[str, ...]:
    return current_app.config["FF"].environments


def _same(source: str, target: str) -> None:
    if source == target:
        raise ValidationFailed(
            "to: give an environment other than the one copied from.",
            details=[{"field": "to", "message": "the same environment as from", "type": "same_environment"}],
        )


@bp.get("/export")
@documented(
    "Export every flag, archived ones too, as one document (sorted, so it diffs well in git)",
    response=ExportDocument,
)
def export_flags():
    require_full_reader()
    body = dumps(export(current_app))
    return Response(body, mimetype="application/json")


def _import_query() -> ImportQuery:
    data: dict[str, Any] = {}
    for name in request.args:
        values = request.args.getlist(name)
        if len(values) > 1:
            raise ValidationFailed(
                f"{name}: give it once.", details=[{"field": name, "message": "given twice", "type": "repeated"}]
            )
        data[name] = values[0]
    return parse(ImportQuery, data, _environments())


@bp.post("/import")
@documented(
    "Import a document: create and update flags by name (replace: also remove the others); dry_run answers the plan",
    description=IMPORT_DESCRIPTION,
    params={name: field.description or "" for name, field in ImportQuery.model_fields.items()},
    query=ImportQuery,
    body=ExportDocument,
    response=ImportPlan,
    errors=[400, 409, 412],
)
def import_flags():
    require_admin()
    query = _import_query()
    # An import is larger than any other request; its own bound replaces the app's for this request only.
    request.max_content_length = MAX_IMPORT_BYTES
    data = read_json_object(max_bytes=MAX_IMPORT_BYTES)
    answer = import_document(
        current_app,
        data,
        actor_name(),
        g.request_id,
        mode=query.mode,
        dry_run=query.dry_run,
        source=query.format,
        environment=query.environment,
        allow_partial=query.allow_partial,
        approvals=True,
    )
    return current_app.json.response(answer)


@bp.post("/flags/<ident>/copy")
@documented(
    "Copy a flag's on/off state and targeting from one environment to another",
    description=UNSTATED_FLAG_RULES + " An archived flag answers 409 flag_archived until it is revived.",
    body=CopyRequest,
    response=Flag,
    errors=[400, 404, 409, 412],
)
def copy_flag(ident: str):
    require_editor()
    body = parse(CopyRequest, read_json_object(), _environments())
    _same(body.source, body.to)
    require_editor([body.to])
    refuse_unapproved([body.to], "request the targeting through /change-requests")
    flag = copy_one(current_app, ident, body.source, body.to, actor_name(), g.request_id, _expected_version(ident))
    return _flag_response(flag)


@bp.post("/environments/<source>/copy")
@documented(
    "Copy an environment's on/off states and targeting to another, for many flags at once, all or none",
    description="Every live flag when flags is left out; a named flag that is archived answers 409 flag_archived, "
    "one that does not exist 404. " + UNSTATED_FLAG_RULES,
    body=EnvironmentCopyRequest,
    response=EnvironmentCopyResult,
    errors=[400, 404, 409, 412],
)
def copy_environment(source: str):
    require_editor()
    if source not in _environments():
        known = ", ".join(_environments())
        raise ValidationFailed(
            f"from: unknown environment {source!r}; known: {known}",
            details=[{"field": "from", "message": f"unknown environment; known: {known}", "type": "unknown"}],
        )
    body = parse(EnvironmentCopyRequest, read_json_object(), _environments())
    _same(source, body.to)
    require_editor([body.to])
    refuse_unapproved([body.to], "request each flag's change through /change-requests")
    answer = copy_many(current_app, source, body.to, body.flags, actor_name(), g.request_id)
    return current_app.json.response(answer)

"""The /context-fields API: the attribute names applications send (learned) and the fields admins describe."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from ..extensions import get_store
from ..tokens.access import actor_name, environment_for_read, require_admin, require_editor
from ..validation import parse
from ..web.bodies import read_json_object
from ..web.openapi import documented
from .models import ContextField, ContextFieldCreate, ContextFields, ContextFieldUpdate

bp = Blueprint("context_fields", __name__)


@bp.get("/context-fields")
@documented(
    "The fields rules are written on: those admins described, and the attribute names applications send",
    description=(
        "seen is learned where evaluations are counted (OFREP and /api/frontend; attribute names only, never "
        "values), most frequent first; each environment keeps its 200 most frequent names, and a name not seen for "
        "30 days goes. Editors and admins; ?environment= narrows seen to one environment."
    ),
    params={"environment": "One environment's names only"},
    response=ContextFields,
    errors=[400, 403],
)
def context_fields():
    require_editor()
    wanted = request.args.get("environment")
    environment = environment_for_read(wanted) if wanted is not None else None
    store = get_store()
    return jsonify({"fields": store.context_fields(), "seen": store.context_attributes(environment)})


@bp.post("/context-fields")
@documented(
    "Describe a context field: what it means, its type and the values it takes (admins); audited",
    description="At most 500 fields (400 too_many_context_fields beyond); a name is described once (409).",
    body=ContextFieldCreate,
    response=ContextField,
    status=201,
    errors=[400, 403, 409],
)
def describe():
    require_admin()
    fields = parse(ContextFieldCreate, read_json_object(), ()).model_dump()
    response = jsonify(get_store().create_context_field(fields, actor_name(), g.request_id))
    response.status_code = 201
    return response


@bp.patch("/context-fields/<name>")
@documented(
    "Change a described field's description, type or known values (admins); audited",
    body=ContextFieldUpdate,
    response=ContextField,
    errors=[400, 403, 404],
)
def change(name: str):
    require_admin()
    changes = parse(ContextFieldUpdate, read_json_object(), ()).changes()
    return jsonify(get_store().update_context_field(name, changes, actor_name(), g.request_id))


@bp.delete("/context-fields/<name>")
@documented(
    "Remove a field's description (admins); audited. What applications send is still counted",
    status=204,
    errors=[403, 404],
)
def remove(name: str):
    require_admin()
    get_store().delete_context_field(name, actor_name(), g.request_id)
    return Response(status=204)

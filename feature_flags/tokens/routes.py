"""The /tokens API: create (the secret shown once), list and revoke, for admins only."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify

from ..cache import flag_cache
from ..extensions import get_store
from ..validation import parse
from ..web.bodies import read_json_object
from ..web.openapi import documented
from .access import actor_name, require_admin
from .models import CreatedToken, Token, TokenCreate
from .service import create_token, listed, revoke_token

bp = Blueprint("tokens", __name__)


@bp.before_request
def admins_only():
    require_admin()


@bp.post("/tokens")
@documented(
    "Create a token; the secret is in this response only",
    body=TokenCreate,
    response=CreatedToken,
    status=201,
    errors=[400, 409],
)
def create():
    config = current_app.config["FF"]
    fields = parse(TokenCreate, read_json_object(), config.environments).model_dump()
    created = create_token(get_store(), fields, actor_name(), g.request_id, flag_cache())
    response = jsonify(created)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/tokens")
@documented("List tokens (never their secrets)", response=list[Token])
def list_tokens():
    return jsonify([listed(token) for token in get_store().find_all_tokens()])


@bp.delete("/tokens/<token_id>")
@documented(
    "Revoke a token; it stops working at once here and within a second on every other instance",
    status=204,
    errors=[404],
)
def revoke(token_id: str):
    revoke_token(get_store(), token_id, actor_name(), g.request_id, flag_cache())
    return Response(status=204)

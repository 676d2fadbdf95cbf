"""API tokens: the /tokens API, the first-start admin token, and the `flask tokens` commands."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
from flask import Blueprint, Flask, Response, current_app, g, jsonify
from flask.cli import AppGroup

from .auth import actor_name, hash_secret, new_secret, require_admin
from .bodies import read_json_object
from .errors import ApiError, NameTaken
from .extensions import get_store
from .openapi import documented
from .repository import Store
from .schemas import CreatedToken, Token, TokenCreate, parse

logger = logging.getLogger(__name__)
bp = Blueprint("tokens", __name__)
FIRST_START_TOKEN_NAME = "admin (first start)"


@bp.before_request
def admins_only():
    require_admin()


def _listed(token: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": token["_id"],
        "name": token["name"],
        "role": token["role"],
        "environment": token.get("environment"),
        "created_at": token["created_at"],
        "created_by": token.get("created_by"),
        "last_used_at": token.get("last_used_at"),
    }


def create_token(store: Store, fields: dict[str, Any], actor: str, request_id: str | None = None) -> dict[str, Any]:
    """Create a token and return its listing plus the secret, which exists nowhere else afterwards."""
    secret = new_secret(fields["role"])
    token = store.create_token(fields, hash_secret(secret), actor, request_id)
    return {**_listed(token), "token": secret}


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
    created = create_token(get_store(), fields, actor_name(), g.request_id)
    response = jsonify(created)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/tokens")
@documented("List tokens (never their secrets)", response=list[Token])
def list_tokens():
    return jsonify([_listed(token) for token in get_store().find_all_tokens()])


@bp.delete("/tokens/<token_id>")
@documented("Revoke a token; it stops working at once", status=204, errors=[404])
def revoke(token_id: str):
    get_store().revoke_token(token_id, actor_name(), g.request_id)
    return Response(status=204)


def bootstrap_admin_token(store: Store, stream=None) -> str | None:
    """On a first start with no tokens at all, create an admin token and print it once."""
    if store.count_tokens() > 0:
        return None
    try:
        created = create_token(store, {"name": FIRST_START_TOKEN_NAME, "role": "admin"}, actor="bootstrap")
    except NameTaken:
        return None  # another worker of this start won the race and printed it
    stream = stream or sys.stderr
    line = "=" * 72
    print(
        f"\n{line}\n  An admin token was created for this first start. It is shown only now:\n\n"
        f"      {created['token']}\n\n"
        f"  Use it as:  curl -H 'Authorization: Bearer <token>' http://HOST:PORT/flags\n"
        f"  Create more with POST /tokens or 'flask tokens create'.\n{line}\n",
        file=stream,
        flush=True,
    )
    logger.warning("first-start admin token created and printed on the console", extra={"token_id": created["id"]})
    return created["token"]


def init_cli(app: Flask) -> None:
    """Register `flask tokens create|list|revoke`, doing what the API does."""
    group = AppGroup("tokens", help="Create, list and revoke API tokens.")

    @group.command("create")
    @click.option("--name", required=True)
    @click.option("--role", type=click.Choice(["admin", "client"]), required=True)
    @click.option("--environment", default=None)
    def create_command(name: str, role: str, environment: str | None) -> None:
        """Create a token and print its secret once."""
        config = current_app.config["FF"]
        try:
            fields = parse(TokenCreate, {"name": name, "role": role, "environment": environment}, config.environments)
            created = create_token(get_store(), fields.model_dump(), actor="cli")
        except ApiError as error:
            raise click.ClickException(error.message) from None
        click.echo(f"{created['id']}\t{created['name']}\t{created['role']}\t{created['environment'] or '-'}")
        click.echo(f"token: {created['token']}")

    @group.command("list")
    def list_command() -> None:
        """List tokens without their secrets."""
        for token in get_store().find_all_tokens():
            used = token.get("last_used_at") or "never"
            click.echo(f"{token['_id']}\t{token['name']}\t{token['role']}\t{token.get('environment') or '-'}\t{used}")

    @group.command("revoke")
    @click.argument("token_id")
    def revoke_command(token_id: str) -> None:
        """Revoke a token by id."""
        try:
            revoked = get_store().revoke_token(token_id, actor="cli")
        except ApiError as error:
            raise click.ClickException(error.message) from None
        click.echo(f"revoked {revoked['_id']} ({revoked['name']})")

    app.cli.add_command(group)

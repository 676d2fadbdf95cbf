"""`flask tokens create|list|revoke`: what the API does, from the command line (actor `cli`).

The command's own cache publishes the write's revision, so the service's workers on this host catch up before
their next request; elsewhere a token is known or forgotten within the flags' one-second bound.
"""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from ..cache import flag_cache
from ..errors import ApiError
from ..extensions import get_store
from ..validation import parse
from .models import ROLES, TokenCreate
from .service import create_token, revoke_token


def init_app(app: Flask) -> None:
    """Register `flask tokens create|list|revoke`, doing what the API does."""
    group = AppGroup("tokens", help="Create, list and revoke API tokens.")

    @group.command("create")
    @click.option("--name", required=True, help=TokenCreate.model_fields["name"].description)
    @click.option(
        "--role",
        type=click.Choice(ROLES),
        required=True,
        help="admin: everything; editor: changes flags, segments and schedules; client: reads and evaluates one "
        "environment's flags; server: also the rules Unleash's server SDKs download.",
    )
    @click.option("--environment", default=None, help=TokenCreate.model_fields["environment"].description)
    def create_command(name: str, role: str, environment: str | None) -> None:
        """Create a token and print its secret once."""
        config = current_app.config["FF"]
        try:
            fields = parse(TokenCreate, {"name": name, "role": role, "environment": environment}, config.environments)
            created = create_token(get_store(), fields.model_dump(), actor="cli", cache=flag_cache())
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
            revoked = revoke_token(get_store(), token_id, actor="cli", cache=flag_cache())
        except ApiError as error:
            raise click.ClickException(error.message) from None
        click.echo(f"revoked {revoked['_id']} ({revoked['name']})")

    app.cli.add_command(group)

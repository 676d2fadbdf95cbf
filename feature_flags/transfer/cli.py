"""`flask flags export FILE` and `flask flags import FILE [--dry-run] [--replace]` (actor `cli`)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from ..errors import ApiError
from .document import dumps, read_document
from .service import export, import_document


def register_cli(app: Flask) -> None:
    """Register `flask flags export|import`, doing what GET /export and POST /import do."""
    group = AppGroup("flags", help="Export and import flags as one document.")

    @group.command("export")
    @click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
    def export_command(file: Path) -> None:
        """Write every flag to FILE as a feature-flags/v1 document ('-' for standard output)."""
        try:
            document = export(current_app)
        except ApiError as error:
            raise click.ClickException(error.message) from None
        text = dumps(document)
        if str(file) == "-":
            click.echo(text, nl=False)
            return
        file.write_text(text, encoding="utf-8")
        click.echo(f"exported {len(document['flags'])} flags to {file}")

    @group.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--dry-run", is_flag=True, help="Print the plan and write nothing.")
    @click.option("--replace", is_flag=True, help="Also remove flags the document lacks.")
    def import_command(file: Path, dry_run: bool, replace: bool) -> None:
        """Import FILE (a feature-flags/v1 document) all-or-nothing and print what changed."""
        try:
            answer = import_document(
                current_app,
                read_document(file),
                actor="cli",
                mode="replace" if replace else "upsert",
                dry_run=dry_run,
            )
        except ValueError as error:
            raise click.ClickException(str(error)) from None
        except ApiError as error:
            raise click.ClickException(error.message) from None
        click.echo(json.dumps(answer, sort_keys=True))

    app.cli.add_command(group)

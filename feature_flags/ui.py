"""The admin page: served at / by Flask, and exported as plain files for static hosting from the same templates."""

from __future__ import annotations

import hashlib
import shutil
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Blueprint, Flask, current_app, render_template, send_from_directory
from flask.cli import AppGroup

from .flags.models import EXPECTED_LIFETIME_DAYS
from .web.hooks import CONTENT_SECURITY_POLICY

bp = Blueprint("ui", __name__)

# How often the page asks the API for changes made elsewhere; the list's ETag makes an unchanged answer a 304.
POLL_INTERVAL_MS = 2500
IMMUTABLE_MAX_AGE = 365 * 24 * 3600


def _files(static_folder: Path) -> list[Path]:
    return sorted(path for path in static_folder.rglob("*") if path.is_file())


@cache
def _hash_of(signature: tuple[tuple[str, int, int], ...], static_folder: Path) -> str:
    digest = hashlib.sha256()
    for name, _, _ in signature:
        digest.update(name.encode() + b"\0" + (static_folder / name).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def asset_version(static_folder: Path) -> str:
    """Return a hash of every asset: part of each asset's URL, so a changed file is never served from a stale cache.

    One version for the whole folder (not one per file) because the ES modules import each other by relative
    URL: under /assets/<version>/ those imports carry the version too. Files are re-read only when one changes.
    """
    signature = tuple(
        (path.relative_to(static_folder).as_posix(), path.stat().st_mtime_ns, path.stat().st_size)
        for path in _files(static_folder)
    )
    return _hash_of(signature, static_folder)


def _page_context(app: Flask, api_base: str, asset_base: str, csp_meta: str | None) -> dict[str, Any]:
    environments = app.config["FF"].environments
    return {
        "environments": environments,
        "default_environment": app.config["FF"].default_environment,
        "api_base": api_base,
        "assets": f"{asset_base}{asset_version(Path(app.static_folder))}/",
        "csp_meta": csp_meta,
        "poll_interval_ms": POLL_INTERVAL_MS,
        "flag_types": list(EXPECTED_LIFETIME_DAYS),
        # Single sign-on needs the session cookie of the API's own origin: offered on the page the service serves.
        "oidc_enabled": app.config["FF"].oidc_enabled and not api_base,
    }


def environment_label(name: str) -> str:
    """Return an environment's name as people read it: 'production' -> 'Production'."""
    return name.replace("_", " ").replace("-", " ").capitalize()


@bp.app_template_filter("environment_label")
def _environment_label_filter(name: str) -> str:
    return environment_label(name)


@bp.get("/")
def index():
    """Serve the admin page; the API is on this same origin."""
    return render_template("index.html", **_page_context(current_app, "", "/assets/", None))


@bp.get("/assets/<version>/<path:filename>")
def asset(version: str, filename: str):
    """Serve a static asset under its version; the current version may be cached for good."""
    static_folder = Path(current_app.static_folder)
    current = version == asset_version(static_folder)
    # An older version (a page loaded just before a deploy) gets today's file, revalidated rather than kept.
    return send_from_directory(static_folder, filename, max_age=IMMUTABLE_MAX_AGE if current else 0)


def static_csp(api_base: str) -> str:
    """Return the page's CSP for a <meta> tag: the server's policy, allowing the API's origin if it is another one.

    frame-ancestors is left out because browsers ignore it in <meta>; the static host should send it as a header.
    """
    directives = [d.strip() for d in CONTENT_SECURITY_POLICY.split(";") if d.strip()]
    parts = urlsplit(api_base)
    api_origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None
    kept = []
    for directive in directives:
        name = directive.split()[0]
        if name == "frame-ancestors":
            continue
        if name == "connect-src" and api_origin:
            directive = f"{directive} {api_origin}"
        kept.append(directive)
    return "; ".join(kept)


def export_site(app: Flask, directory: Path, api_base: str = "") -> list[Path]:
    """Write index.html and the static assets into directory; return the files written."""
    api_base = api_base.rstrip("/")
    directory.mkdir(parents=True, exist_ok=True)
    static_folder = Path(app.static_folder)
    assets = directory / "assets"
    if assets.exists():
        # Only the current version: a static host serves index.html with no-cache, so older ones are unreachable.
        shutil.rmtree(assets)
    target = assets / asset_version(static_folder)
    shutil.copytree(static_folder, target)
    # Relative asset URLs, so the output works at the root of a host or under any prefix of a bucket.
    with app.app_context():
        html = render_template("index.html", **_page_context(app, api_base, "assets/", static_csp(api_base)))
    index = directory / "index.html"
    index.write_text(html, encoding="utf-8")
    return [index, *_files(target)]


def _valid_api_base(ctx: click.Context, param: click.Parameter, value: str) -> str:
    parts = urlsplit(value)
    if value and not (value.startswith("/") or (parts.scheme in {"http", "https"} and parts.netloc)):
        raise click.BadParameter("give a path like /api or an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise click.BadParameter("the API base cannot carry a query or fragment")
    return value


def init_cli(app: Flask) -> None:
    """Register `flask ui export`."""
    group = AppGroup("ui", help="The admin page.")

    @group.command("export")
    @click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
    @click.option(
        "--api-base",
        default="",
        callback=_valid_api_base,
        help="Where the API answers, as a path (/api) or URL; default: the page's own origin.",
    )
    def export(directory: Path, api_base: str) -> None:
        """Write index.html and its assets to DIRECTORY for a static host (nginx, S3 + CloudFront)."""
        written = export_site(current_app, directory, api_base)
        click.echo(f"wrote {len(written)} files to {directory}")

    app.cli.add_command(group)

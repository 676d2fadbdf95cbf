"""The admin page."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

bp = Blueprint("ui", __name__)


@bp.get("/")
def index():
    config = current_app.config["FF"]
    return render_template("index.html", environments=config.environments, api_base="")

"""Probes for Kubernetes: the process lives (/healthz) and the database answers (/readyz)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from ..errors import DatabaseUnavailable
from ..extensions import get_store
from ..preparation import DatabaseNotPrepared, preparation_of
from .openapi import documented

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@documented("Liveness: the process answers", public=True)
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@documented("Readiness: the database answers and is prepared (indexes built)", public=True, errors=[503])
def readyz():
    try:
        get_store().ping()
        if not preparation_of(current_app).done:
            raise DatabaseNotPrepared()
    except DatabaseUnavailable as error:
        return jsonify({"status": "unavailable", "error": error.code, "message": error.message}), 503
    return jsonify({"status": "ready"})

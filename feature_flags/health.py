"""Probes for Kubernetes: the process lives (/healthz) and the database answers (/readyz)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from .errors import DatabaseUnavailable
from .extensions import get_store
from .openapi import documented

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@documented("Liveness: the process answers", public=True)
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@documented("Readiness: the database answers", public=True, errors=[503])
def readyz():
    try:
        get_store().ping()
    except DatabaseUnavailable as error:
        return jsonify({"status": "unavailable", "error": error.code, "message": error.message}), 503
    return jsonify({"status": "ready"})

"""The audit trail: read-only views of every recorded change."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..errors import ValidationFailed
from ..extensions import get_store
from ..tokens.access import require_full_reader
from ..validation import parse
from ..web.openapi import documented
from .models import AuditPage, AuditQuery

bp = Blueprint("audit", __name__)


@bp.before_request
def readers_of_every_environment():
    require_full_reader()


def _query(allowed: set[str]) -> AuditQuery:
    args = request.args.to_dict()
    unknown = set(args) - allowed
    if unknown:
        raise ValidationFailed(f"Unknown query parameter: {', '.join(sorted(unknown))}.")

    return parse(AuditQuery, args, ())


def _page(query: AuditQuery, flag: str | None):
    events = get_store().find_events(
        flag=flag,
        actor=query.actor,
        action=query.action,
        since=query.since,
        before=query.before,
        limit=query.limit,
    )
    next_before = events[-1]["_id"] if len(events) == query.limit else None
    return jsonify({"events": events, "next_before": next_before})


@bp.get("/flags/<ident>/history")
@documented(
    "A flag's changes, newest first; answers after the flag is deleted too",
    description="Changes to a segment the flag's rules name are part of its history (segment.* events, whose "
    "flag_ids list it).",
    params={"limit": "1-500, default 50", "before": "event id to page from"},
    query=AuditQuery,
    response=AuditPage,
    errors=[400],
)
def flag_history(ident: str):
    return _page(_query({"limit", "before"}), ident)


@bp.get("/audit")
@documented(
    "Every recorded change, newest first",
    response=AuditPage,
    params={
        "actor": "",
        "action": "",
        "flag": "flag id or name",
        "since": "ISO 8601",
        "limit": "1-500, default 50",
        "before": "event id to page from",
    },
    query=AuditQuery,
    errors=[400],
)
def all_events():
    query = _query({"limit", "before", "actor", "action", "flag", "since"})
    return _page(query, query.flag)

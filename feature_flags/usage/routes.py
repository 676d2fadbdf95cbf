"""GET /flags/<ident>/usage: how often, and with which variants, each environment evaluated a flag."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, current_app, jsonify

from ..cache import current_snapshot
from ..extensions import get_store
from ..storage import utcnow
from ..storage.usage import hour_of
from ..tokens.access import authenticate
from ..web.openapi import documented
from .models import HOURS_SHOWN, FlagUsage

bp = Blueprint("usage", __name__)


@bp.before_request
def require_token():
    authenticate()


def _environment_usage(
    environment: str,
    buckets: list[dict[str, Any]],
    last: datetime | None,
    hours: list[datetime],
    applications: list[dict[str, Any]],
) -> dict[str, Any]:
    by_hour = {bucket["hour"]: (bucket.get("counts") or {}).get(environment, {}) for bucket in buckets}
    shown = [{"hour": hour, "variants": dict(by_hour.get(hour, {}))} for hour in hours]
    total: dict[str, int] = {}
    for entry in shown:
        for variant, n in entry["variants"].items():
            total[variant] = total.get(variant, 0) + n
    return {
        "last_evaluated_at": last,
        "last_hour": shown[-1]["variants"],
        "last_24_hours": total,
        "hours": shown,
        "applications": applications,
    }


@bp.get("/flags/<ident>/usage")
@documented(
    "A flag's evaluations by environment and variant, hour by hour over 24 hours, and when each last asked",
    description=(
        "Counts are those the service's processes have flushed (every FF_USAGE_FLUSH_SECONDS, 10 s at most). "
        "A client token sees its own environment only."
    ),
    response=FlagUsage,
    errors=[404],
)
def flag_usage(ident: str):
    flag = current_snapshot().find(ident)
    bound = authenticate().environment
    environments = (bound,) if bound else current_app.config["FF"].environments
    current = hour_of(utcnow())
    hours = [current - timedelta(hours=back) for back in range(HOURS_SHOWN - 1, -1, -1)]
    store = get_store()
    buckets = store.find_usage(flag["_id"], hours[0])
    last = store.find_last_evaluated(flag["_id"])
    applications = store.find_flag_applications(flag["_id"])
    return jsonify(
        {
            "flag_id": flag["_id"],
            "name": flag["name"],
            "environments": {
                env: _environment_usage(env, buckets, last.get(env), hours, applications.get(env, []))
                for env in environments
            },
        }
    )

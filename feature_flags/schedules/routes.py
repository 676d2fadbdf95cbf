"""The schedules API: schedule a change to a flag, list a flag's schedules, cancel a pending one."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from ..change_requests.guard import refuse_unapproved
from ..extensions import get_store
from ..flags.rules import UNSTATED_FLAG_RULES
from ..tokens.access import actor_name, authenticate, require_editor
from ..validation import parse
from ..web.bodies import read_json_object
from ..web.openapi import documented
from . import service
from .models import MAX_PENDING_PER_FLAG, Schedule, ScheduleCreate

bp = Blueprint("schedules", __name__)

# Said in the create operation's description: what the schema cannot (the clock, the flag as stored).
UNSTATED_SCHEDULE_RULES = (
    "Checked beyond the schema, as a 400 naming the field: 'at' is no more than a minute in the past and no more "
    f"than 5 years ahead; a flag has at most {MAX_PENDING_PER_FLAG} pending schedules; a targeting serves only the "
    "flag's variants, checked now against the flag as it is and again when it applies (" + UNSTATED_FLAG_RULES + ")"
)


@bp.before_request
def require_token():
    authenticate()


@bp.post("/flags/<ident>/schedules")
@documented(
    "Schedule a change to one environment of a flag: switch it on or off, or replace its targeting, at a moment",
    description="Applied within 5 seconds of 'at', exactly once, by the actor 'schedule' (the audit event names "
    "who scheduled it). A schedule of an archived flag waits until the flag is revived. In an environment where "
    "changes need approval (FF_APPROVALS) it answers 409 change_request_required: a change request takes apply_at. "
    + UNSTATED_SCHEDULE_RULES,
    body=ScheduleCreate,
    response=Schedule,
    status=201,
    errors=[400, 404, 409],
)
def create_schedule(ident: str):
    require_editor()
    request = parse(ScheduleCreate, read_json_object(), current_app.config["FF"].environments)
    require_editor([request.environment])
    # A plain schedule would skip the approval: a change request carries its moment as apply_at instead.
    refuse_unapproved([request.environment], "POST it to /change-requests with apply_at")
    schedule = service.create(current_app, ident, request, actor_name(), g.request_id)
    return jsonify(schedule), 201


@bp.get("/flags/<ident>/schedules")
@documented(
    "A flag's schedules: the pending ones, soonest first, then the 50 latest applied, failed or cancelled",
    description="A client token sees its own environment's schedules only, as it sees only that targeting.",
    response=list[Schedule],
    errors=[404],
)
def list_schedules(ident: str):
    bound = authenticate().environment
    store = get_store()
    flag = store.find_flag(ident)
    schedules = store.find_schedules(flag["_id"])
    if bound is not None:
        schedules = [schedule for schedule in schedules if schedule["environment"] == bound]
    return jsonify(schedules)


@bp.delete("/flags/<ident>/schedules/<schedule_id>")
@documented(
    "Cancel a pending schedule; one already applied, failed or cancelled answers 409 schedule_not_pending",
    response=Schedule,
    errors={404: None, 409: None},
)
def cancel_schedule(ident: str, schedule_id: str):
    require_editor()
    store = get_store()
    flag = store.find_flag(ident)
    require_editor([store.find_schedule(flag["_id"], schedule_id)["environment"]])
    return jsonify(store.cancel_schedule(flag, schedule_id, actor_name(), g.request_id))

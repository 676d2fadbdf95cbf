"""Scheduled changes, written once: checked like a PUT when made and again when applied, then through the cache."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Flask

from ..audit import actions
from ..cache import current_snapshot, flag_cache
from ..errors import FlagArchived, FlagNotFound, FlagTooLarge, ScheduleNotPending, ValidationFailed
from ..extensions import get_metrics, get_store
from ..flags.rules import flag_changes
from ..storage import utcnow
from .models import LATE_AFTER, MAX_PENDING_PER_FLAG, ScheduleCreate

logger = logging.getLogger(__name__)

# A schedule of an archived flag waits; it is looked at again this often, so a revive is followed promptly.
ARCHIVED_RETRY = timedelta(seconds=2)


def _flag_changes(schedule: dict[str, Any]) -> dict[str, Any]:
    """Return the schedule's change as update_flag takes it."""
    environment = schedule["environment"]
    if schedule.get("enabled") is not None:
        return {"environments": {environment: schedule["enabled"]}}
    return {"targeting": {environment: schedule["targeting"]}}


def create(app: Flask, ident: str, request: ScheduleCreate, actor: str, request_id: str | None) -> dict[str, Any]:
    """Schedule a change to the flag; raise ValidationFailed (naming the field) if it could not apply now."""
    store = get_store(app)
    change = request.change()
    flag = store.find_flag(ident)
    # The same rules as a PUT, against the flag as it is now; they are checked again when it applies.
    # Segments and prerequisites too, against the snapshot, as flags.service.update checks them.
    flag_changes(
        flag,
        _flag_changes({"environment": request.environment, **change}),
        app.config["FF"].environments,
        current_snapshot(app),
    )
    return store.create_schedule(
        flag, change, request.at, request.environment, actor, request_id, max_pending=MAX_PENDING_PER_FLAG
    )


def apply(app: Flask, schedule: dict[str, Any]) -> str:
    """Apply one claimed schedule; return what became of it: applied, failed, waiting (archived) or gone."""
    store = get_store(app)
    environments = app.config["FF"].environments
    change = _flag_changes(schedule)
    late = utcnow() - schedule["at"] > LATE_AFTER
    action = actions.FLAG_TOGGLED if "environments" in change else actions.FLAG_UPDATED
    try:
        written = store.apply_schedule(
            schedule, lambda current: flag_changes(current, change, environments, current_snapshot(app)), late, action
        )
    except FlagArchived:
        store.release_schedule(schedule["_id"], schedule["claimed_by"], ARCHIVED_RETRY)
        return "waiting"
    except FlagNotFound:
        store.fail_schedule(schedule, "the flag no longer exists")
        return "failed"
    except (ValidationFailed, FlagTooLarge) as error:
        store.fail_schedule(schedule, error.message)
        return "failed"
    except ScheduleNotPending:
        return "gone"  # cancelled while it was being applied: nothing changed
    if written.revision is not None:
        # As any write does: this process serves it at once, the host's others follow the revision.
        flag_cache(app).written(written.flag, written.revision)
        get_metrics(app).flag_changes.labels(action="scheduled").inc()
    return "applied"

"""The write path of flags, written once: rules across fields, the store (with its audit event), the flag cache,
the metric. Routes, the CLI and demo seeding all change flags through here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from ..cache import current_snapshot, flag_cache
from ..errors import DatabaseUnavailable, TooManyFlags
from ..extensions import get_metrics, get_store
from ..storage import Written
from . import reach
from .dependencies import names_others, refuse_if_required
from .rules import check_flag_references, check_flag_size, flag_changes

logger = logging.getLogger(__name__)

Judge = Callable[[dict[str, Any], tuple[str, ...]], None]
"""A caller's check of a write: given the flag as the write finds it and the environments the write reaches
there, it raises to refuse (roles, approvals, If-Match). It runs inside the write, again on every retry, so what
is judged is exactly what the conditional write replaces."""


def _finish(app: Flask, written: Written, action: str) -> dict[str, Any]:
    flag_cache(app).written(written.flag, written.revision)
    get_metrics(app).flag_changes.labels(action=action).inc()
    return written.flag


def create(fields: dict[str, Any], actor: str, request_id: str | None = None, app: Flask | None = None) -> dict:
    """Create a flag from validated fields; raise ValidationFailed, FlagTooLarge or FlagNameTaken."""
    app = app or current_app
    environments = app.config["FF"].environments
    # Segments and prerequisites are checked against the snapshot: this instance's writes at once, others' within
    # the freshness bound. Only when named: seeding and imports of plain flags need no loaded cache.
    check_flag_references(fields, environments, current_snapshot(app) if names_others(fields) else None)
    check_flag_size(fields)
    store = get_store(app)
    # Counted before the insert: racing creates may pass the bound by a few, which stays bounded.
    if store.count_flags() >= app.config["FF"].max_flags:
        raise TooManyFlags(
            f"This deployment holds {app.config['FF'].max_flags:,} flags, archived ones included, as many as "
            "FF_MAX_FLAGS allows; delete archived flags first."
        )
    return _finish(app, store.create_flag(fields, actor, request_id), "created")


def update(
    ident: str,
    changes: dict[str, Any],
    actor: str,
    request_id: str | None = None,
    expected_version: int | None = None,
    judge: Judge | None = None,
) -> dict[str, Any]:
    """Apply validated changes; the rules, and judge (on what the change reaches), see the flag at write time."""
    environments = current_app.config["FF"].environments
    known = current_snapshot()

    def judged(current: dict[str, Any]) -> dict[str, Any]:
        if judge is not None:
            judge(current, reach.of_update(changes, environments, current))
        return flag_changes(current, changes, environments, known)

    written = get_store().update_flag(ident, judged, actor, request_id, expected_version)
    return _finish(current_app, written, "updated")


def toggle(
    ident: str, environment: str, actor: str, request_id: str | None = None, expected_version: int | None = None
) -> dict[str, Any]:
    """Switch the flag in one environment; concurrent toggles are each applied once."""
    written = get_store().toggle_flag(ident, environment, actor, request_id, expected_version)
    return _finish(current_app, written, "toggled")


def _removal_check(doing: str, force: bool, judge: Judge | None, reviving: bool = False):
    """Return the check a removal (or revival) makes on the flag as the write finds it: judge on what it reaches
    (its own answers and those of the flags requiring it), then refuse while live flags require it, unless forced.
    """
    snapshot = current_snapshot()
    environments = current_app.config["FF"].environments

    def check(current: dict[str, Any]) -> None:
        if judge is not None:
            judge(current, reach.of_removal(current, snapshot.ordered, environments, reviving))
        if not force and not reviving and current["archived_at"] is None:
            refuse_if_required(snapshot.ordered, current, doing)

    return check


def _forced(force: bool) -> dict[str, Any] | None:
    # On the event, so the audit trail says a prerequisite was removed from under the flags requiring it.
    return {"forced": True} if force else None


def archive(
    ident: str,
    actor: str,
    request_id: str | None = None,
    expected_version: int | None = None,
    force: bool = False,
    judge: Judge | None = None,
) -> dict:
    """Archive the flag: evaluation stops serving it; an archived flag is returned as it is.

    A flag live flags require is refused (FlagRequired) unless force, which the event records.
    """
    written = get_store().archive_flag(
        ident, actor, request_id, expected_version, _removal_check("archive", force, judge), _forced(force)
    )
    return _finish(current_app, written, "archived")


def revive(
    ident: str,
    actor: str,
    request_id: str | None = None,
    expected_version: int | None = None,
    judge: Judge | None = None,
) -> dict:
    """Revive an archived flag; a live flag is returned as it is."""
    check = _removal_check("revive", True, judge, reviving=True)
    written = get_store().revive_flag(ident, actor, request_id, expected_version, check)
    return _finish(current_app, written, "revived")


def delete(
    ident: str,
    actor: str,
    request_id: str | None = None,
    expected_version: int | None = None,
    force: bool = False,
    judge: Judge | None = None,
) -> dict:
    """Delete the flag; return it as it was. A flag live flags require is refused unless force (recorded)."""
    store = get_store()
    written = store.delete_flag(
        ident, actor, request_id, expected_version, _removal_check("delete", force, judge), _forced(force)
    )
    flag_cache().deleted(written.flag["_id"], written.revision)
    try:
        store.delete_usage(written.flag["_id"])
        store.delete_flag_applications(written.flag["_id"])
    except DatabaseUnavailable:
        # The flag is gone, which is what was asked; its counts expire with their buckets, its stamp is inert.
        logger.warning("could not delete a deleted flag's usage", extra={"flag_id": written.flag["_id"]})
    try:
        store.delete_schedules(written.flag["_id"])
        store.delete_change_requests(written.flag["_id"])
    except DatabaseUnavailable:
        # Left behind, each fails harmlessly when due or approved (no such flag); their events say what they were.
        logger.warning("could not delete a deleted flag's schedules", extra={"flag_id": written.flag["_id"]})
    get_metrics().flag_changes.labels(action="deleted").inc()
    return written.flag

"""The write path of flags, written once: rules across fields, the store (with its audit event), the flag cache,
the metric. Routes, the CLI and demo seeding all change flags through here.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app

from ..cache import current_snapshot, flag_cache
from ..errors import DatabaseUnavailable
from ..extensions import get_metrics, get_store
from ..storage import Written
from .dependencies import names_others, refuse_if_required
from .rules import check_flag_references, check_flag_size, flag_changes

logger = logging.getLogger(__name__)


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
    return _finish(app, get_store(app).create_flag(fields, actor, request_id), "created")


def update(
    ident: str, changes: dict[str, Any], actor: str, request_id: str | None = None, expected_version: int | None = None
) -> dict[str, Any]:
    """Apply validated changes; the rules are checked against the flag as it is at write time."""
    environments = current_app.config["FF"].environments
    known = current_snapshot()
    written = get_store().update_flag(
        ident, lambda current: flag_changes(current, changes, environments, known), actor, request_id, expected_version
    )
    return _finish(current_app, written, "updated")


def toggle(
    ident: str, environment: str, actor: str, request_id: str | None = None, expected_version: int | None = None
) -> dict[str, Any]:
    """Switch the flag in one environment; concurrent toggles are each applied once."""
    written = get_store().toggle_flag(ident, environment, actor, request_id, expected_version)
    return _finish(current_app, written, "toggled")


def _required_check(doing: str, force: bool):
    """Return the check a removal makes: refuse while live flags require the flag, unless forced."""
    if force:
        return None
    snapshot = current_snapshot()
    return lambda current: refuse_if_required(snapshot.ordered, current, doing)


def _forced(force: bool) -> dict[str, Any] | None:
    # On the event, so the audit trail says a prerequisite was removed from under the flags requiring it.
    return {"forced": True} if force else None


def archive(
    ident: str,
    actor: str,
    request_id: str | None = None,
    expected_version: int | None = None,
    force: bool = False,
) -> dict:
    """Archive the flag: evaluation stops serving it; an archived flag is returned as it is.

    A flag live flags require is refused (FlagRequired) unless force, which the event records.
    """
    written = get_store().archive_flag(
        ident, actor, request_id, expected_version, _required_check("archive", force), _forced(force)
    )
    return _finish(current_app, written, "archived")


def revive(ident: str, actor: str, request_id: str | None = None, expected_version: int | None = None) -> dict:
    """Revive an archived flag; a live flag is returned as it is."""
    written = get_store().revive_flag(ident, actor, request_id, expected_version)
    return _finish(current_app, written, "revived")


def delete(
    ident: str, actor: str, request_id: str | None = None, expected_version: int | None = None, force: bool = False
) -> dict:
    """Delete the flag; return it as it was. A flag live flags require is refused unless force (recorded)."""
    store = get_store()
    written = store.delete_flag(
        ident, actor, request_id, expected_version, _required_check("delete", force), _forced(force)
    )
    flag_cache().deleted(written.flag["_id"], written.revision)
    try:
        store.delete_usage(written.flag["_id"])
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

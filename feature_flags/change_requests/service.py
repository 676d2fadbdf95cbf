"""Change requests, written once: made, reviewed by someone else, then applied like a schedule (exactly once)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from flask import Flask

from ..audit import actions
from ..cache import current_snapshot, flag_cache
from ..errors import (
    ChangeRequestNotNeeded,
    ChangeRequestStale,
    ChangeRequestState,
    FlagArchived,
    FlagNotFound,
    FlagTooLarge,
    Forbidden,
    OwnChangeRequest,
    ScheduleNotPending,
    ValidationFailed,
    VersionConflict,
)
from ..extensions import get_metrics, get_store
from ..flags import reach
from ..flags.models import FlagUpdate
from ..flags.rules import flag_changes
from ..storage import utcnow
from ..tokens.access import Principal
from ..validation import parse
from .guard import needing_approval
from .models import MAX_OPEN_PER_FLAG, ChangeRequestCreate

logger = logging.getLogger(__name__)


def caller_key(principal: Principal) -> str:
    """Who a caller is, for telling a requester from an approver: the person, or the token."""
    if principal.user_id is not None:
        return f"user:{principal.user_id}"
    return f"token:{principal.token_id or principal.name}"


def _update(app: Flask, body: dict[str, Any]) -> dict[str, Any]:
    """Return a stored request body as update_flag takes it (re-read, so the environments are today's)."""
    return parse(FlagUpdate, body, app.config["FF"].environments).changes()


def reached(app: Flask, body: dict[str, Any], flag: dict[str, Any]) -> tuple[str, ...]:
    """The environments a request body changes, judged against the flag as it is."""
    return reach.of_update(_update(app, body), app.config["FF"].environments, flag)


# Fields a PUT merges key by key: a request's base holds only the keys it names.
MERGED_BY_KEY = ("environments", "targeting")


def base_of(flag: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """What the flag holds of each thing a request body changes: the other side of what a reviewer is shown."""
    base: dict[str, Any] = {}
    for field, value in body.items():
        if field in MERGED_BY_KEY and isinstance(value, dict):
            held = flag.get(field) or {}
            base[field] = {key: held.get(key) for key in value}
        else:
            base[field] = flag.get(field)
    return base


def create(
    app: Flask,
    flag: dict[str, Any],
    request: ChangeRequestCreate,
    body: dict[str, Any],
    principal: Principal,
    request_id: str | None,
) -> dict[str, Any]:
    """Store an open request; raise ValidationFailed if it could not apply now, or needs no approval."""
    store = get_store(app)
    environments = app.config["FF"].environments
    changes = request.changes.changes()
    if not changes:
        raise ValidationFailed(
            "changes: give at least one field PUT /flags/{flag} takes.",
            details=[{"field": "changes", "message": "no change", "type": "no_change"}],
        )
    if request.base_version is not None and request.base_version != flag["version"]:
        raise VersionConflict(current_version=flag["version"])
    touched = reach.of_update(changes, environments, flag)
    if not needing_approval(touched):
        raise ChangeRequestNotNeeded(
            f"This change reaches {', '.join(touched) or 'no environment'}, none of which needs approval; "
            f"make it directly (PUT /flags/{request.flag}).",
            details=[{"field": "changes", "message": "needs no approval", "type": "change_request_not_needed"}],
        )
    if flag["archived_at"] is not None:
        raise FlagArchived()
    # The same rules as the PUT, against the flag as it is now; they are checked again when it applies.
    flag_changes(flag, changes, environments, current_snapshot(app))
    return store.create_change_request(
        flag,
        body,
        touched,
        request.apply_at,
        request.comment,
        principal.name,
        caller_key(principal),
        request_id,
        max_open=MAX_OPEN_PER_FLAG,
        base=base_of(flag, body),
    )


def _refuse_own(change_request: dict[str, Any], principal: Principal, doing: str) -> None:
    if change_request["requested_by_key"] == caller_key(principal):
        raise OwnChangeRequest(f"You made this change request; someone else {doing} it.")


def approve(
    app: Flask, change_request: dict[str, Any], principal: Principal, comment: str, request_id: str | None
) -> dict[str, Any]:
    """Approve an open request made by someone else; it applies now (in this request) or at its apply_at."""
    store = get_store(app)
    _refuse_own(change_request, principal, "approves")
    if change_request["state"] != "open":
        raise ChangeRequestState(
            f"The change request is {change_request['state']}; only an open one is approved.",
            state=change_request["state"],
        )
    flag = store.find_flag(change_request["flag_id"])
    if flag["version"] != change_request["base_version"]:
        raise ChangeRequestStale(
            f"The flag is at version {flag['version']}; the request was made on version "
            f"{change_request['base_version']}. Rebase it onto the current version, then approve it.",
            base_version=change_request["base_version"],
            current_version=flag["version"],
        )
    now = utcnow()
    apply_at = change_request["apply_at"]
    at_once = apply_at is None or apply_at <= now
    lease = timedelta(seconds=app.config["FF"].schedule_lease_seconds)
    claimer = f"approval:{uuid.uuid4().hex}"
    fields: dict[str, Any] = {
        "reviewed_by": str(principal.name),
        "reviewed_at": now,
        "review_comment": comment,
        "apply_at": now if at_once else apply_at,
    }
    if at_once:
        # Claimed in the same write: this request applies it, and if it dies the scheduler takes it after the lease.
        fields.update(claimed_by=claimer, lease_until=now + lease)
    approved = store.change_change_request(
        change_request, ["open"], "approved", actions.CHANGE_REQUEST_APPROVED, principal.name, request_id, fields
    )
    if at_once:
        apply(app, {**approved, "claimed_by": claimer}, principal.name)
    return store.find_change_request(change_request["_id"])


def reject(
    app: Flask, change_request: dict[str, Any], principal: Principal, comment: str, request_id: str | None
) -> dict[str, Any]:
    """Reject a request someone else made, open or approved and waiting for its moment."""
    _refuse_own(change_request, principal, "rejects")
    fields = {"reviewed_by": str(principal.name), "reviewed_at": utcnow(), "review_comment": comment}
    return get_store(app).change_change_request(
        change_request,
        ["open", "approved"],
        "rejected",
        actions.CHANGE_REQUEST_REJECTED,
        principal.name,
        request_id,
        fields,
        unclaimed=True,
    )


def cancel(
    app: Flask, change_request: dict[str, Any], principal: Principal, comment: str, request_id: str | None
) -> dict[str, Any]:
    """Withdraw a request: its requester, or an admin; open, or approved and waiting for its moment."""
    if change_request["requested_by_key"] != caller_key(principal) and not principal.is_admin:
        raise Forbidden("Only who made a change request, or an admin, cancels it; reviewers reject it.")
    return get_store(app).change_change_request(
        change_request,
        ["open", "approved"],
        "cancelled",
        actions.CHANGE_REQUEST_CANCELLED,
        principal.name,
        request_id,
        {"review_comment": comment} if comment else None,
        unclaimed=True,
    )


def rebase(app: Flask, change_request: dict[str, Any], principal: Principal, request_id: str | None) -> dict[str, Any]:
    """Move an open or failed request onto the flag's current version, checked again; it needs approval anew."""
    store = get_store(app)
    flag = store.find_flag(change_request["flag_id"])
    if flag["archived_at"] is not None:
        raise FlagArchived()
    changes = _update(app, change_request["changes"])
    environments = app.config["FF"].environments
    flag_changes(flag, changes, environments, current_snapshot(app))
    fields = {
        "base_version": flag["version"],
        "base": base_of(flag, change_request["changes"]),
        "environments": list(reach.of_update(changes, environments, flag)),
        "flag_name": flag["name"],
        "reviewed_by": None,
        "reviewed_at": None,
        "review_comment": None,
        "reason": None,
        "finished_at": None,
    }
    return store.change_change_request(
        change_request, ["open", "failed"], "open", actions.CHANGE_REQUEST_REBASED, principal.name, request_id, fields
    )


def apply(app: Flask, change_request: dict[str, Any], actor: str) -> str:
    """Apply one claimed, approved request; return what became of it: applied, failed or gone."""
    store = get_store(app)
    environments = app.config["FF"].environments

    def fail(reason: str) -> str:
        store.change_change_request(
            change_request,
            ["approved"],
            "failed",
            actions.CHANGE_REQUEST_FAILED,
            actor,
            None,
            {"reason": reason, "lease_until": utcnow()},
        )
        return "failed"

    try:
        changes = _update(app, change_request["changes"])
    except ValidationFailed as error:
        # FF_ENVIRONMENTS changed since it was made, say.
        return fail(f"the change no longer fits this deployment: {error.message}")
    touched = change_request["environments"]
    try:
        written = store.apply_change_request(
            change_request,
            lambda current: flag_changes(current, changes, environments, current_snapshot(app)),
            actor,
            actions.FLAG_UPDATED,
            touched[0] if len(touched) == 1 else None,
        )
    except VersionConflict:
        return fail(
            f"the flag changed after the request was made on version {change_request['base_version']}; rebase it"
        )
    except FlagArchived:
        return fail("the flag is archived")
    except FlagNotFound:
        return fail("the flag no longer exists")
    except (ValidationFailed, FlagTooLarge) as error:
        return fail(error.message)
    except ScheduleNotPending:
        return "gone"
    if written.revision is not None:
        flag_cache(app).written(written.flag, written.revision)
        get_metrics(app).flag_changes.labels(action="updated").inc()
    return "applied"

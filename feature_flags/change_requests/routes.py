"""The change requests API: request a change to a flag, list and read requests, approve, reject, cancel, rebase."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request

from ..errors import ChangeRequestNotFound, FlagNotFound, ValidationFailed
from ..extensions import get_store
from ..flags.rules import UNSTATED_FLAG_RULES
from ..tokens.access import Principal, authenticate, require_editor, require_full_reader
from ..validation import parse
from ..web.bodies import read_json_object
from ..web.openapi import documented
from . import service
from .models import (
    MAX_OPEN_PER_FLAG,
    ChangeRequest,
    ChangeRequestCreate,
    ChangeRequestPage,
    ChangeRequestQuery,
    ChangeRequestReview,
)

bp = Blueprint("change_requests", __name__)

REVIEW = (
    "Someone other than the requester (another person or token) with editor rights in every environment the "
    "request changes reviews it: 403 own_change_request for the requester, 403 forbidden without the rights."
)


@bp.before_request
def require_token():
    authenticate()


def _environments() -> tuple[str, ...]:
    return current_app.config["FF"].environments


def _visible(ident: str) -> dict:
    """Find a request the caller may read: a token bound to one environment sees the requests changing only it."""
    principal = authenticate()
    change_request = get_store().find_change_request(ident)
    bound = principal.environment
    if principal.role in ("client", "server") or (bound is not None and set(change_request["environments"]) != {bound}):
        raise ChangeRequestNotFound()
    return change_request


def _shown(change_request: dict) -> dict:
    return {key: value for key, value in change_request.items() if key != "requested_by_key"}


@bp.post("/change-requests")
@documented(
    "Request a change to a flag in an environment that needs approval (FF_APPROVALS); it applies once approved",
    description="The changes are a PUT /flags/{flag} body, checked now against the flag as it is (400 naming the "
    "field, as changes.<field>) and again when applied, under the flag version it was made on: a flag changed "
    "meanwhile makes approval answer 409 change_request_stale until the request is rebased. A change reaching no "
    "environment that needs approval answers 400 change_request_not_needed: make it directly. The requester needs "
    f"editor rights where the change reaches. At most {MAX_OPEN_PER_FLAG} open requests per flag. "
    + UNSTATED_FLAG_RULES,
    body=ChangeRequestCreate,
    response=ChangeRequest,
    status=201,
    errors=[400, 404, 409, 412],
)
def create_change_request():
    principal = require_editor()
    data = read_json_object()
    body = parse(ChangeRequestCreate, data, _environments())
    flag = get_store().find_flag(body.flag)
    require_editor(service.reached(current_app, data["changes"], flag))
    created = service.create(current_app, flag, body, data["changes"], principal, g.request_id)
    return jsonify(created), 201


LIST_PARAMETERS = frozenset(ChangeRequestQuery.model_fields)


@bp.get("/change-requests")
@documented(
    "Change requests, newest first: filter by state and flag, page with before",
    description="For callers who read every environment (people, unbound tokens).",
    params={
        "state": "open, approved, applied, rejected, cancelled or failed",
        "flag": "a flag's id or name (one that does not exist has none)",
        "before": "a change request id to page from",
        "limit": "1-100, default 50",
    },
    query=ChangeRequestQuery,
    response=ChangeRequestPage,
    errors=[400],
)
def list_change_requests():
    require_full_reader()
    for name in request.args:
        if name not in LIST_PARAMETERS or len(request.args.getlist(name)) > 1:
            raise ValidationFailed(
                f"{name}: not a parameter of this list, or given twice (known: {', '.join(sorted(LIST_PARAMETERS))}).",
                details=[{"field": name, "message": "unknown or repeated parameter", "type": "unknown_parameter"}],
            )
    query = parse(ChangeRequestQuery, request.args.to_dict(), _environments())
    store = get_store()
    flag_id = None
    if query.flag is not None:
        try:
            flag_id = store.find_flag(query.flag)["_id"]
        except FlagNotFound:
            # No such flag has requests, as GET /audit answers for it: an empty page, not an error.
            return jsonify({"change_requests": [], "next_before": None})
    found = store.find_change_requests(state=query.state, flag_id=flag_id, before=query.before, limit=query.limit)
    next_before = found[-1]["_id"] if len(found) == query.limit else None
    return jsonify({"change_requests": found, "next_before": next_before})


@bp.get("/change-requests/<ident>")
@documented("One change request", response=ChangeRequest, errors=[404])
def get_change_request(ident: str):
    return jsonify(_shown(_visible(ident)))


def _review() -> ChangeRequestReview:
    return parse(ChangeRequestReview, read_json_object(required=False), _environments())


def _reviewer(ident: str) -> tuple[dict, Principal]:
    change_request = _visible(ident)
    return change_request, require_editor(change_request["environments"])


def _step(ident: str, step) -> Response:
    """Take a request one step (approve, reject, cancel) for a caller with editor rights where it reaches."""
    change_request, principal = _reviewer(ident)
    review = _review()
    return jsonify(_shown(step(current_app, change_request, principal, review.comment, g.request_id)))


@bp.post("/change-requests/<ident>/approve")
@documented(
    "Approve an open change request: it applies now, or at its apply_at",
    description=REVIEW + " Applied under the version it was made on; a flag changed since answers 409 "
    "change_request_stale and nothing changes. Applied at once, the answer shows it applied (or failed, with a "
    "reason, if the change no longer fits the flag).",
    body=ChangeRequestReview,
    body_required=False,
    response=ChangeRequest,
    errors=[400, 403, 404, 409],
)
def approve_change_request(ident: str):
    return _step(ident, service.approve)


@bp.post("/change-requests/<ident>/reject")
@documented(
    "Reject a change request, open or approved and waiting for its moment",
    description=REVIEW,
    body=ChangeRequestReview,
    body_required=False,
    response=ChangeRequest,
    errors=[400, 403, 404, 409],
)
def reject_change_request(ident: str):
    return _step(ident, service.reject)


@bp.post("/change-requests/<ident>/cancel")
@documented(
    "Withdraw a change request (its requester, or an admin), open or approved and waiting for its moment",
    body=ChangeRequestReview,
    body_required=False,
    response=ChangeRequest,
    errors=[400, 403, 404, 409],
)
def cancel_change_request(ident: str):
    return _step(ident, service.cancel)


@bp.post("/change-requests/<ident>/rebase")
@documented(
    "Move an open or failed change request onto the flag's current version; it needs approval again",
    description="Checked against the flag as it is now (400 naming the field if the change no longer fits). "
    "Anyone with editor rights where it reaches may rebase; the approver must still be someone other than "
    "the requester.",
    response=ChangeRequest,
    errors=[400, 403, 404, 409],
)
def rebase_change_request(ident: str):
    change_request, principal = _reviewer(ident)
    return jsonify(_shown(service.rebase(current_app, change_request, principal, g.request_id)))

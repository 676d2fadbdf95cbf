"""The flags API: create, read, update, toggle and delete flags per environment."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, g, jsonify, request

from ..cache import Snapshot, current_snapshot, flag_cache
from ..change_requests.guard import needing_approval, refuse_unapproved
from ..errors import Forbidden, ValidationFailed
from ..extensions import get_store
from ..tokens.access import actor_name, authenticate, environment_for_read, require_editor
from ..unleash.features import local_evaluation
from ..usage import last_seen
from ..validation import parse
from ..web.bodies import read_json_object, to_json
from ..web.conditional import body_etag, expected_version, if_match_check, prebuilt_response
from ..web.openapi import documented
from . import reach, service
from .dependencies import UNSTATED_DEPENDENCY_RULES
from .listing import View, clock, derived_tag, presented, required_flags, select, tag_counts
from .models import Flag, FlagCreate, FlagUpdate, ListQuery, RemovalQuery, TagCount, ToggleRequest
from .rules import UNSTATED_FLAG_RULES

bp = Blueprint("flags", __name__)

FLAG_RULES = f"{UNSTATED_FLAG_RULES} {UNSTATED_DEPENDENCY_RULES}"
REQUIRED = (
    "A flag other live flags require as a prerequisite answers 409 flag_required, whose details name them, "
    "unless ?force=true, which the audit event records as forced: true (the flags requiring it then serve their "
    "off variant, reason PREREQUISITE_FAILED)."
)
FORCE_PARAMS = {"force": "true removes a flag other flags require (see the description)"}


def _force() -> bool:
    """Read ?force=: true or false, anything else a 400 naming it."""
    value = request.args.get("force", "false")
    if value not in {"true", "false"} or len(request.args.getlist("force")) > 1:
        raise ValidationFailed(
            "force: give true or false, once.",
            details=[{"field": "force", "message": "give true or false", "type": "bool_parsing"}],
        )
    return value == "true"


@bp.before_request
def require_token():
    authenticate()


def _environments() -> tuple[str, ...]:
    return current_app.config["FF"].environments


def etag_of(flag: dict[str, Any]) -> str:
    """Return the version tag of one flag: its id and version, which If-Match names (the UI builds it too)."""
    return f"{flag['_id']}.{flag['version']}"


def _with_enabled(flag: dict[str, Any], environment: str) -> dict[str, Any]:
    return {**flag, "enabled": flag["environments"].get(environment, False)}


def scoped_to(flag: dict[str, Any], environment: str) -> dict[str, Any]:
    """Return the flag as a token bound to one environment sees it: that environment's state and targeting only.

    A production application has no business reading staging's rules (they may name unreleased plans or
    test accounts), nor another environment's switches.
    """
    return {
        **flag,
        "environments": {environment: flag["environments"].get(environment, False)},
        "targeting": {key: value for key, value in flag["targeting"].items() if key == environment},
    }


def _bound_environment() -> str | None:
    return authenticate().environment


def _view(snapshot: Snapshot | None) -> View:
    """What answers add to flags now: staleness at this minute, last evaluations as this process knows them.

    The snapshot says which flags others require; a write's answer passes the one held, if any, since loading
    every flag to answer one write would cost a new process seconds at 10,000 flags.
    """
    config = current_app.config["FF"]
    return View(
        now=clock(time.time()),
        last_evaluations=last_seen(),
        # Without counting, "never evaluated" would only mean "not counted": no flag is called unused then.
        unused_after=timedelta(days=config.stale_after_days) if config.usage_tracking else None,
        required=frozenset() if snapshot is None else required_flags(snapshot),
    )


def _shown(flag: dict[str, Any], view: View, bound: str | None, environment: str | None = None) -> dict[str, Any]:
    """Return the flag as this caller sees it: scoped to its token's environment, decorated, with `enabled`."""
    shown = presented(flag if bound is None else scoped_to(flag, bound), view)
    return shown if environment is None else _with_enabled(shown, environment)


def _representation_tag(flag: dict[str, Any], view: View, bound: str | None) -> str:
    # The version tag, then whose view (a bound token sees less), then what the answer derives: usage and
    # staleness change without a new version, and a client holding the old bytes must not be told 304.
    scope = "" if bound is None else f".{bound}"
    return f"{etag_of(flag)}{scope}.{derived_tag(flag, view)}"


def _matches_version(tag: str, flag: dict[str, Any]) -> bool:
    # Any tag of this version will do: what follows the version only describes the answer it came with.
    version = etag_of(flag)
    return tag == version or tag.startswith(f"{version}.")


def _expected_version(ident: str) -> int | None:
    """Turn If-Match into the version a write to this flag must find; raise VersionConflict if already stale."""
    return expected_version(lambda: get_store().find_flag(ident), _matches_version)


def _one_flag(
    flag: dict[str, Any], view: View, bound: str | None, snapshot: Snapshot | None, environment: str | None = None
) -> dict[str, Any]:
    """One flag as its own answer shows it: as in lists, and whether Unleash's SDKs can evaluate it in process."""
    shown = _shown(flag, view, bound, environment)
    if snapshot is not None:
        environments = (bound,) if bound else _environments()
        shown["local_evaluation"] = local_evaluation(
            flag, snapshot.served_by_name, snapshot.segments_by_name, environments
        )
    return shown


def _flag_response(flag: dict[str, Any], status: int = 200, environment: str | None = None) -> Response:
    snapshot = flag_cache().loaded
    view = _view(snapshot)
    bound = _bound_environment()
    response = jsonify(_one_flag(flag, view, bound, snapshot, environment))
    response.status_code = status
    response.set_etag(_representation_tag(flag, view, bound))
    return response


def _judged_write() -> service.Judge:
    """The checks a direct change makes on the flag as the write finds it: If-Match, roles and approvals there."""
    if_match = if_match_check(_matches_version)

    def judge(current: dict[str, Any], touched: tuple[str, ...]) -> None:
        if if_match is not None:
            if_match(current)
        require_editor(touched)
        refuse_unapproved(touched)

    return judge


def _judged_removal(reviving: bool = False) -> service.Judge:
    """The checks archiving, reviving or deleting makes on the flag as the write finds it.

    What it reaches (its own answers, on or off, and the flags requiring it) needs the caller's roles there. Where
    changes need approval: a flag on there is switched off through a change request first; anything else the
    removal changes there (an off value, a dependent flag's answer, a revival) is left to an admin, since a change
    request holds an update of one flag, not its removal.
    """
    if_match = if_match_check(_matches_version)

    def judge(current: dict[str, Any], touched: tuple[str, ...]) -> None:
        if if_match is not None:
            if_match(current)
        principal = require_editor(touched)
        if not reviving:
            refuse_unapproved(reach.switched_on(current, touched), "switch it off there through a change request first")
        gated = needing_approval(touched)
        if gated and not principal.is_admin:
            doing = "Reviving it changes" if reviving else "Removing it changes"
            raise Forbidden(
                f"{doing} what {', '.join(gated)} serves, where changes need approval: an admin does it.",
                environments=list(gated),
            )

    return judge


LIST_PARAMETERS = frozenset(ListQuery.model_fields)
REPEATABLE_PARAMETERS = frozenset({"tag"})


def _list_query() -> ListQuery:
    """Read GET /flags' query string; a parameter it does not know, or one given twice, is a 400 naming it."""
    data: dict[str, Any] = {}
    for name in request.args:
        values = request.args.getlist(name)
        if name not in LIST_PARAMETERS:
            known = ", ".join(sorted(LIST_PARAMETERS))
            raise ValidationFailed(
                f"{name}: not a parameter of this list (known: {known}).",
                details=[{"field": name, "message": "unknown parameter", "type": "unknown_parameter"}],
            )
        if name in REPEATABLE_PARAMETERS:
            data[name] = values
        elif len(values) > 1:
            raise ValidationFailed(
                f"{name}: give it once.", details=[{"field": name, "message": "given twice", "type": "repeated"}]
            )
        else:
            data[name] = values[0]
    return parse(ListQuery, data, _environments())


def _page_url(cursor: str) -> str:
    """Return this request's URL with the next page's cursor: every filter carries over."""
    pairs = [(name, value) for name, value in request.args.items(multi=True) if name != "cursor"]
    return f"{request.base_url}?{urlencode([*pairs, ('cursor', cursor)])}"


LIST_PARAMS = {
    "environment": "Whose state `enabled` and `state` mean (a client token's own by default)",
    "q": "Case-insensitive substring of the name or description",
    "tag": "Repeatable; a flag must carry every one given",
    "type": "Only flags of this type",
    "state": "on or off in the chosen environment",
    "stale": "true: only stale flags (any reason); false: only flags that are not",
    "archived": "true: only archived flags; false (the default): only live ones",
    "sort": "name (natural, case-insensitive), updated_at or created_at; a leading '-' reverses",
    "limit": "1-1000; when more match, a Link header (rel=next) gives the next page's URL",
    "cursor": "Where the next page starts; from the Link header",
}
LIST_HEADERS = {
    "X-Total-Count": ("How many flags match, on every page", {"type": "integer"}),
    "Link": ('<url>; rel="next" while more pages remain (RFC 8288)', {"type": "string"}),
}


@bp.get("/flags")
@documented(
    "List flags: filter, sort and page; a client token sees its own environment only",
    description="The body stays a JSON array whatever the parameters; without any, every live flag in natural "
    "name order. Names sort naturally (feature-2 before feature-10), case-insensitively.",
    params=LIST_PARAMS,
    query=ListQuery,
    response=list[Flag],
    headers=LIST_HEADERS,
    errors=[304, 400],
)
def list_flags():
    query = _list_query()
    environment = environment_for_read(query.environment)
    bound = _bound_environment()
    snapshot = current_snapshot()
    view = _view(snapshot)
    if set(request.args) <= {"environment"}:

        def build() -> tuple[bytes, str, int]:
            flags = [_shown(flag, view, bound, environment) for flag in snapshot.served]
            body = to_json(flags).encode()
            return body, body_etag(body), len(flags)

        # Built once per snapshot, environment and scope (and minute, and usage reading): a request only looks it up.
        body, etag, total = snapshot.memo_latest(("list", environment, bound), view.key, build)
        response = prebuilt_response(body, etag)
        response.headers["X-Total-Count"] = str(total)
        return response
    page = select(snapshot, query, environment, view)
    body = to_json([_shown(flag, view, bound, environment) for flag in page.flags]).encode()
    response = prebuilt_response(body, body_etag(body))
    response.headers["X-Total-Count"] = str(page.total)
    if page.next_cursor is not None:
        response.headers["Link"] = f'<{_page_url(page.next_cursor)}>; rel="next"'
    return response


@bp.get("/tags")
@documented("Every tag live flags carry, with how many carry it, in natural order", response=list[TagCount])
def list_tags():
    snapshot = current_snapshot()
    body = snapshot.memo(("tags",), lambda: to_json(tag_counts(snapshot.served)).encode())
    return prebuilt_response(body, body_etag(body))


@bp.post("/flags")
@documented(
    "Create a flag",
    description=FLAG_RULES,
    body=FlagCreate,
    response=Flag,
    status=201,
    errors=[400, 409],
)
def create_flag():
    require_editor()
    fields = parse(FlagCreate, read_json_object(), _environments()).model_dump()
    # With the flags that require its name: re-creating a deleted prerequisite changes their answers.
    touched = reach.of_creation(fields, _environments(), current_snapshot().ordered)
    require_editor(touched)
    refuse_unapproved(touched, "create it off there, then request the change through /change-requests")
    return _flag_response(service.create(fields, actor_name(), g.request_id), 201)


@bp.get("/flags/<ident>")
@documented(
    "Get one flag by id or name, archived or not; a client token sees its own environment's state and targeting",
    response=Flag,
    errors=[304, 404],
)
def get_flag(ident: str):
    bound = _bound_environment()
    snapshot = current_snapshot()
    flag = snapshot.find(ident)
    view = _view(snapshot)

    def build() -> tuple[bytes, str]:
        return to_json(_one_flag(flag, view, bound, snapshot)).encode(), _representation_tag(flag, view, bound)

    # Serialised once per snapshot and view: a read only looks the bytes up.
    body, tag = snapshot.memo_latest(("flag", flag["_id"], bound), view.key, build)
    return prebuilt_response(body, tag)


@bp.put("/flags/<ident>")
@documented(
    "Change a flag's fields; environments and targeting merge environment by environment; tags are replaced",
    description=FLAG_RULES + " An archived flag answers 409 flag_archived until it is revived. A flag other flags "
    "require keeps its name: renaming it answers 409 flag_required, naming them.",
    body=FlagUpdate,
    response=Flag,
    errors=[400, 404, 409, 412],
)
def update_flag(ident: str):
    require_editor()
    changes = parse(FlagUpdate, read_json_object(), _environments()).changes()
    if not changes:
        raise ValidationFailed(
            "Give at least one of name, description, environments, variants, off_variant, targeting, stickiness, "
            "tags, type or stale."
        )
    # Judged against the flag as the write finds it: a form's unchanged fields (its name, say) reach nothing.
    flag = service.update(ident, changes, actor_name(), g.request_id, judge=_judged_write())
    return _flag_response(flag)


@bp.post("/flags/<ident>/toggle")
@documented(
    "Switch a flag on or off in one environment (the default environment when the body is left out)",
    description="An archived flag answers 409 flag_archived until it is revived.",
    body=ToggleRequest,
    body_required=False,
    response=Flag,
    errors=[400, 404, 409, 412],
)
def toggle_flag(ident: str):
    require_editor()
    environment = parse(ToggleRequest, read_json_object(required=False), _environments()).environment
    environment = environment or current_app.config["FF"].default_environment
    require_editor([environment])
    refuse_unapproved([environment], 'POST {"changes": {"environments": {...}}} to /change-requests')
    flag = service.toggle(ident, environment, actor_name(), g.request_id, _expected_version(ident))
    return _flag_response(flag, environment=environment)


@bp.post("/flags/<ident>/archive")
@documented(
    "Archive a flag: evaluation no longer serves it and lists leave it out, but its name stays taken",
    description="Archiving an archived flag changes nothing. Revive it to serve and change it again. " + REQUIRED,
    params=FORCE_PARAMS,
    query=RemovalQuery,
    response=Flag,
    errors=[400, 404, 409, 412],
)
def archive_flag(ident: str):
    require_editor()
    force = _force()
    flag = service.archive(ident, actor_name(), g.request_id, force=force, judge=_judged_removal())
    return _flag_response(flag)


@bp.post("/flags/<ident>/revive")
@documented(
    "Revive an archived flag as it was archived: served and listed again",
    description="Reviving a live flag changes nothing.",
    response=Flag,
    errors=[404, 412],
)
def revive_flag(ident: str):
    require_editor()
    return _flag_response(service.revive(ident, actor_name(), g.request_id, judge=_judged_removal(reviving=True)))


@bp.delete("/flags/<ident>")
@documented(
    "Delete a flag for good, archived or not",
    description=REQUIRED,
    params=FORCE_PARAMS,
    query=RemovalQuery,
    status=204,
    errors=[400, 404, 409, 412],
)
def delete_flag(ident: str):
    require_editor()
    force = _force()
    service.delete(ident, actor_name(), g.request_id, force=force, judge=_judged_removal())
    return Response(status=204)

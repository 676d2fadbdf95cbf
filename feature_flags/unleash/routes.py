"""Unleash's client and frontend APIs: every Unleash SDK evaluates our flags, in process or for one context.

Server SDKs (`/api/client/...`) read the rules of one environment (features.py), poll them with ETags or follow
them over Server-Sent Events, register, and report how often they evaluated each flag. Their token is a server
token (or an admin or editor one, naming the environment as OFREP does); a client token, which browsers hold,
never reads the rules. The frontend API (`/api/frontend`) answers evaluated toggles for one context, as OFREP's
bulk evaluation does, for Unleash's browser and mobile SDKs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from pydantic import BaseModel

from ..cache import Snapshot, change_notices, current_snapshot, flag_cache
from ..errors import ApiError, Forbidden
from ..evaluation.engine import EvaluationError, check_context
from ..evaluation.event_stream import held_stream, token_still_active
from ..extensions import get_metrics, get_store
from ..storage.applications import report_key
from ..tokens.access import authenticate, environment_for_read
from ..usage import usage_recorder
from ..validation import parse
from ..web.bodies import read_json_object, to_json
from ..web.conditional import body_etag, prebuilt_response
from ..web.openapi import documented
from . import features
from .models import Application, FrontendBody, Metrics, Registration

bp = Blueprint("unleash", __name__, url_prefix="/api")

# The roles whose tokens may read an environment's rules: a client token is in browsers, the rules are not.
RULE_READERS = frozenset({"admin", "editor", "server"})
# The context fields Unleash's SDKs send at the top level; anything else is a property.
STANDARD_FIELDS = features.STANDARD_FIELDS


class ClientFeatures(BaseModel):
    """An environment's flags as Unleash features (the client API's version 2)."""

    version: int
    features: list[dict[str, Any]]
    segments: list[dict[str, Any]]
    query: dict[str, Any]


class DeltaEvents(BaseModel):
    """The delta API's answer: one hydration event with every feature and segment."""

    events: list[dict[str, Any]]


class FrontendToggles(BaseModel):
    """Evaluated toggles for one context: the flags that are enabled for it, each with its variant."""

    toggles: list[dict[str, Any]]


class NotAcceptable(ApiError):
    status_code = 406
    code = "not_acceptable"
    message = "This is a stream of Server-Sent Events: send Accept: text/event-stream."


@bp.before_request
def require_token():
    authenticate()


@bp.errorhandler(EvaluationError)
def _invalid_context(error: EvaluationError) -> Response:
    # A context the engine cannot evaluate (too many attributes, a value of the wrong kind) is the caller's to fix.
    response = current_app.json.response({"error": "invalid_context", "message": error.message})
    response.status_code = 400
    return response


def _rules_environment() -> str:
    """The environment whose rules the caller reads; a client token may not read rules."""
    principal = authenticate()
    if principal.role not in RULE_READERS and principal.user_id is None:
        raise Forbidden(
            "A client token reads evaluated answers only (OFREP, /api/frontend): reading the rules takes a server "
            "token, which stays on servers."
        )
    return environment_for_read(request.args.get("environment"))


def _document(snapshot: Snapshot, environment: str) -> tuple[dict[str, Any], bytes, str, int]:
    """An environment's features document, its bytes, their ETag and its event id, made once per snapshot."""

    def build() -> tuple[dict[str, Any], bytes, str, int]:
        made, _ = features.document(snapshot.served, snapshot.segments_by_name, environment)
        body = to_json(made).encode()
        etag = body_etag(body)
        # Delta and streaming events carry an id the SDKs keep as a number up to 2^32: one from the same bytes, so
        # every worker and instance gives the same configuration the same id.
        return made, body, etag, int(etag[:7], 16)

    return snapshot.memo(("unleash-features", environment), build)


def left_out(snapshot: Snapshot, environment: str) -> dict[str, str]:
    """The flags of an environment the SDKs are not sent, each with why (see features.NotExpressible)."""
    return snapshot.memo(
        ("unleash-left-out", environment),
        lambda: features.document(snapshot.served, snapshot.segments_by_name, environment)[1],
    )


@bp.get("/client/features")
@documented(
    "Every flag of an environment as Unleash features, for Unleash's server SDKs to evaluate in process",
    description=(
        "Unleash's client API (version 2) with an ETag; If-None-Match answers 304. A server, editor or admin "
        "token reads it (an admin token names the environment with ?environment=); a client token is refused "
        "(403): rules stay on servers. A flag Unleash's SDKs cannot evaluate exactly is left out (its "
        "local_evaluation says why)."
    ),
    params={"environment": "Whose flags (an admin token's choice; a server token's own by default)"},
    response=ClientFeatures,
    errors=[304, 400],
)
def client_features():
    _, body, etag, _ = _document(current_snapshot(), _rules_environment())
    return prebuilt_response(body, etag)


@bp.get("/client/delta")
@documented(
    "The environment's features as a delta document: one hydration event (Unleash's delta API)",
    description="Its ETag is the event id; If-None-Match with it answers 304 while nothing changed.",
    params={"environment": "Whose flags (an admin token's choice; a server token's own by default)"},
    response=DeltaEvents,
    errors=[304, 400],
)
def client_delta():
    made, _, _, event_id = _document(current_snapshot(), _rules_environment())
    body = to_json({"events": [_hydration(made, event_id)]}).encode()
    return prebuilt_response(body, str(event_id))


def _hydration(made: dict[str, Any], event_id: int) -> dict[str, Any]:
    return {"eventId": event_id, "type": "hydration", "features": made["features"], "segments": made["segments"]}


def _changes(before: dict[str, Any], after: dict[str, Any], event_id: int) -> list[dict[str, Any]]:
    """The delta events that turn one document into the other: features and segments updated or removed."""
    events: list[dict[str, Any]] = []
    old = {feature["name"]: feature for feature in before["features"]}
    new = {feature["name"]: feature for feature in after["features"]}
    old_segments = {segment["id"]: segment for segment in before["segments"]}
    new_segments = {segment["id"]: segment for segment in after["segments"]}
    # Segments first: a feature updated in the same delta may name one.
    for segment_id, segment in new_segments.items():
        if old_segments.get(segment_id) != segment:
            events.append({"eventId": event_id, "type": "segment-updated", "segment": segment})
    for name, feature in new.items():
        if old.get(name) != feature:
            events.append({"eventId": event_id, "type": "feature-updated", "feature": feature})
    for name in old.keys() - new.keys():
        events.append({"eventId": event_id, "type": "feature-removed", "featureName": name, "project": "default"})
    for segment_id in old_segments.keys() - new_segments.keys():
        events.append({"eventId": event_id, "type": "segment-removed", "segmentId": segment_id})
    return events


def _update(before: dict[str, Any], after: dict[str, Any], event_id: int) -> str:
    """The unleash-updated event between two documents, or nothing when no feature or segment differs."""
    events = _changes(before, after, event_id)
    return _sse("unleash-updated", event_id, {"events": events}) if events else ""


def _sse(name: str, event_id: int, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _stream(app: Flask, environment: str, token_id: str | None, stopping: Any) -> Iterator[str]:
    """The SSE stream: unleash-connected with every feature, then unleash-updated with what changed, as it changes."""
    notices = change_notices(app)
    heartbeat = app.config["FF"].stream_heartbeat_seconds
    held = notices.peek(environment)
    with app.app_context():
        snapshot = flag_cache(app).get()
        sent, _, _, sent_id = _document(snapshot, environment)
    # Each text is made once per worker and configuration, however many streams (thousands) send it.
    yield snapshot.memo(
        ("unleash-connected", environment),
        lambda: _sse("unleash-connected", sent_id, {"events": [_hydration(sent, sent_id)]}),
    )
    seen = held.etag
    while not stopping():
        held = notices.peek(environment)
        if held.etag != seen:
            if not token_still_active(app, token_id):
                return
            seen = held.etag
            snapshot = flag_cache(app).loaded
            if snapshot is None:
                continue
            with app.app_context():
                made, _, _, event_id = _document(snapshot, environment)
            # Worked out once per worker for each change, however many streams carry it.
            update = snapshot.memo(("unleash-updated", environment, sent_id), partial(_update, sent, made, event_id))
            sent, sent_id = made, event_id
            if update:
                yield update
                get_metrics(app).stream_events[environment].inc()
            continue
        if not held.changed.wait(heartbeat) and not stopping():
            if not token_still_active(app, token_id):
                return
            # A comment: the SDKs' readers time out after 30 s of silence, and proxies close idle connections.
            yield ": keep-alive\n\n"


@bp.get("/client/streaming")
@documented(
    "The environment's features as Server-Sent Events: unleash-connected, then unleash-updated as they change",
    description=(
        "For Unleash's server SDKs in streaming mode (Accept: text/event-stream; otherwise 406). The first event, "
        "unleash-connected, carries a hydration of every feature; each later unleash-updated carries the features "
        "and segments that changed (or were removed), within a second of the change on every instance; a "
        "': keep-alive' comment comes every FF_STREAM_HEARTBEAT_SECONDS in between. Streams count against the "
        "same bounds as OFREP's (FF_STREAM_MAX_PER_WORKER, FF_STREAM_MAX_PER_CLIENT); a revoked token's stream "
        "ends before its next event or comment."
    ),
    params={"environment": "Whose flags (an admin token's choice; a server token's own by default)"},
    errors=[400, 406, 429],
)
def client_streaming():
    environment = _rules_environment()
    if "text/event-stream" not in request.headers.get("Accept", ""):
        raise NotAcceptable()
    principal = authenticate()
    app = current_app._get_current_object()
    return held_stream(
        environment,
        principal.token_id,
        lambda slots: _stream(app, environment, principal.token_id, lambda: slots.stopping),
    )


def _report(model: type[BaseModel]) -> Any:
    """Read a registration or metrics body into its model."""
    return parse(model, read_json_object(), current_app.config["FF"].environments)


@bp.post("/client/register")
@documented(
    "An SDK instance says it started: listed under GET /applications for a week after it was last heard of",
    body=Registration,
    status=202,
    errors=[400],
)
def client_register():
    environment = _rules_environment()
    registration = _report(Registration)
    fields = {
        "app_name": registration.app_name,
        "instance_id": registration.instance_id,
        "sdk_version": registration.sdk_version,
        "started": registration.started,
        "interval": registration.interval,
    }
    key = report_key(registration.app_name, registration.instance_id, environment)
    get_store().note_application(key, fields, environment, registered=True)
    return Response(status=202)


def _reported_counts(flag: dict[str, Any], counts: Any) -> list[tuple[str, int]]:
    """What an SDK's counts for one flag come to as our variants: isEnabled's yes/no for a boolean flag, the
    variants getVariant named for any other (its 'disabled' is not one of ours, and is left out)."""
    variants = flag.get("variants") or {}
    if features.is_boolean(flag):
        true_name = next((name for name, value in variants.items() if value is True), None)
        false_name = next((name for name, value in variants.items() if value is False), None)
        return [(name, n) for name, n in ((true_name, counts.yes), (false_name, counts.no)) if name and n]
    return [(name, n) for name, n in counts.variants.items() if name in variants and n]


@bp.post("/client/metrics")
@documented(
    "An SDK instance reports how often it evaluated each flag: added to the flags' usage, once per report",
    description=(
        "The bucket's counts become usage counts (GET /flags/{ident}/usage) in the token's environment: isEnabled's "
        "yes and no as a boolean flag's true and false variants, getVariant's variants as the variants named. The "
        "same report sent again (the same instance and period) is added once; names that are no flag are ignored."
    ),
    body=Metrics,
    status=202,
    errors=[400],
)
def client_metrics():
    environment = _rules_environment()
    metrics = _report(Metrics)
    store = get_store()
    key = report_key(metrics.app_name, metrics.instance_id, environment)
    store.note_application(
        key, {"app_name": metrics.app_name, "instance_id": metrics.instance_id}, environment, registered=False
    )
    bucket = metrics.bucket
    if not store.first_report(
        report_key(metrics.app_name, metrics.instance_id, environment, bucket.start, bucket.stop)
    ):
        return Response(status=202)
    snapshot = current_snapshot()
    reported, flag_ids = [], []
    for name, counts in bucket.toggles.items():
        flag = snapshot.served_by_name.get(name)
        if flag is None:
            continue
        flag_ids.append(flag["_id"])
        reported += [(flag["_id"], variant, n) for variant, n in _reported_counts(flag, counts)]
    usage_recorder().count_reported(environment, reported)
    store.note_flag_applications(environment, metrics.app_name, flag_ids)
    return Response(status=202)


# -- the frontend API ------------------------------------------------------------------------------------------


def _query_context() -> dict[str, Any]:
    """An Unleash context from the query string, as unleash-proxy-client sends it (properties[name]=value)."""
    given: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    for name, value in request.args.items():
        if name.startswith("properties[") and name.endswith("]"):
            properties[name[len("properties[") : -1]] = value
        else:
            given[name] = value
    if properties:
        given["properties"] = properties
    return given


def _evaluation_context(given: dict[str, Any]) -> dict[str, Any]:
    """An Unleash context as our evaluation context: its properties as attributes, userId as the targetingKey."""
    given = dict(given)
    properties = given.pop("properties", None) or {}
    if not isinstance(properties, dict):
        raise EvaluationError("INVALID_CONTEXT", "properties must be an object")
    context = {**properties, **{name: value for name, value in given.items() if value is not None}}
    context.setdefault("remoteAddress", request.remote_addr)
    if context.get("userId") is not None:
        # The contract: Unleash's userId is our targetingKey (and stays userId for rules that name it).
        context["targetingKey"] = str(context["userId"])
    check_context(context)
    return context


def _toggle(flag: dict[str, Any], variant: str, value: Any) -> dict[str, Any] | None:
    """One toggle as the frontend API lists it; None for a flag that is off (disabled) for the context."""
    if features.is_boolean(flag):
        if value is not True:
            return None
        shown = {"name": features.DISABLED_VARIANT, "enabled": False}
    elif features.is_native(flag):
        # An imported Unleash variant object: the toggle is that very variant, listed while it enables the feature.
        if not value["feature_enabled"]:
            return None
        shown = dict(value)
        del shown["feature_enabled"]
    else:
        shown = {"name": variant, "enabled": True, "payload": features.payload(value)}
    shown.update(feature_enabled=True, featureEnabled=True)
    return {"name": flag["name"], "enabled": True, "impressionData": False, "variant": shown}


FRONTEND = (
    "Lists the flags enabled for the context (a boolean flag when true; any other flag always, with its variant "
    "and value as the payload), never a rule. Any token; the environment is the token's (an admin token's is the "
    "default environment: the context's environment is only a context field). An ETag of the answer; "
    "If-None-Match gives 304. A context of the wrong kind is a 400."
)


@bp.get("/frontend")
@documented(
    "Evaluated toggles for one context, for Unleash's browser and mobile SDKs (unleash-proxy-client)",
    description="The context is the query string: userId, sessionId, remoteAddress, appName, environment, "
    "currentTime, and properties[name] for any other. " + FRONTEND,
    response=FrontendToggles,
    errors=[304, 400],
)
def frontend():
    return _frontend(_query_context())


@bp.post("/frontend")
@documented(
    "Evaluated toggles for the context in the body, for Unleash's browser and mobile SDKs (usePOSTrequests)",
    description=FRONTEND,
    body=FrontendBody,
    body_required=False,
    response=FrontendToggles,
    errors=[304, 400],
)
def frontend_for_body():
    given = dict(parse(FrontendBody, read_json_object(required=False), ()).context)
    return _frontend(given)


def _frontend(given: dict[str, Any]) -> Response:
    environment = environment_for_read(None)
    context = _evaluation_context(given)
    snapshot = current_snapshot()
    lookup = snapshot.lookup()
    toggles, outcomes = [], []
    for flag in snapshot.served:
        try:
            answer = lookup.evaluate(flag, environment, context)
        except EvaluationError:
            continue
        outcomes.append((flag["_id"], answer.variant, answer.reason))
        toggle = _toggle(flag, answer.variant, answer.value)
        if toggle is not None:
            toggles.append(toggle)
    usage_recorder().count_many(environment, outcomes, context)
    body = to_json({"toggles": toggles}).encode()
    response = prebuilt_response(body, body_etag(body))
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.post("/frontend/client/metrics")
@documented(
    "A browser SDK's evaluation counts: accepted (its evaluations were counted when /api/frontend answered)",
    status=202,
)
def frontend_metrics():
    return Response(status=202)


@bp.post("/frontend/client/register")
@documented("A browser SDK says it started: accepted", status=202)
def frontend_register():
    return Response(status=202)


applications_bp = Blueprint("applications", __name__)


@applications_bp.get("/applications")
@documented(
    "The SDK instances heard of within a week (registered or reporting), most recently heard of first",
    description="Admins and people who read every environment; at most 500.",
    response=list[Application],
)
def list_applications():
    from ..tokens.access import require_full_reader

    require_full_reader()
    return current_app.json.response(get_store().find_applications())

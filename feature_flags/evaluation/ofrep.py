"""OpenFeature Remote Evaluation Protocol (OFREP) v1: any OpenFeature SDK evaluates flags here.

Shapes and error codes follow open-feature/protocol's service/openapi.yaml. The environment is the
client token's; an admin token names it with ?environment= (the default environment otherwise).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request, url_for

from ..cache import change_notices, current_snapshot, flag_cache
from ..errors import BodyTooLarge, InvalidJson, UnknownEnvironment
from ..tokens.access import authenticate, environment_for_read
from ..usage import usage_recorder
from ..web.bodies import read_json_object, to_json
from ..web.conditional import body_etag, prebuilt_response
from ..web.openapi import documented
from . import stream_tickets
from .engine import (
    ERROR,
    GENERAL,
    INVALID_CONTEXT,
    MAX_CONTEXT_BYTES,
    EvaluationError,
    Lookup,
    check_context,
    check_targeting_key,
    evaluate,
)
from .event_stream import stream_entry
from .models import (
    MAX_FLAG_CONFIG_ETAG_CHARS,
    MAX_FLAG_CONFIG_LAST_MODIFIED_CHARS,
    OfrepBulkEvaluation,
    OfrepBulkFailure,
    OfrepBulkQuery,
    OfrepEvaluation,
    OfrepEvaluationFailure,
    OfrepFlagNotFound,
    OfrepRequest,
)

PARSE_ERROR = "PARSE_ERROR"
FLAG_NOT_FOUND = "FLAG_NOT_FOUND"

# The context's needs depend on the flag, not on the request's shape, so only words can say them.
UNSTATED_CONTEXT_RULES = (
    "The context's attributes are all optional to the schema, but a flag decides what it needs: one that splits "
    "answers 400 TARGETING_KEY_MISSING without its stickiness attribute (targetingKey unless it names another), "
    "and a rule comparing an attribute of the wrong kind answers 400 INVALID_CONTEXT. A flag whose prerequisite "
    "(another flag, evaluated for the same context) does not serve a required variant answers its off variant "
    'with reason PREREQUISITE_FAILED and metadata {"prerequisite": "<name>"}.'
)

bp = Blueprint("ofrep", __name__, url_prefix="/ofrep/v1")


class OfrepFailure(Exception):
    """An evaluation request OFREP answers with an error body: {"key"?, "errorCode", "errorDetails"}."""

    def __init__(self, status: int, code: str, details: str) -> None:
        super().__init__(details)
        self.status = status
        self.code = code
        self.details = details


@bp.before_request
def require_token():
    authenticate()


@bp.errorhandler(OfrepFailure)
def _failure(error: OfrepFailure) -> Response:
    body: dict[str, Any] = {"errorCode": error.code, "errorDetails": error.details}
    key = (request.view_args or {}).get("key")
    if key is not None:
        body = {"key": key, **body}
    return _json(body, error.status)


@bp.errorhandler(EvaluationError)
def _evaluation_failed(error: EvaluationError) -> Response:
    # An evaluation that cannot be made for this context is the client's to fix: 400 with its OpenFeature code.
    return _failure(OfrepFailure(400, error.code, error.message))


@bp.errorhandler(UnknownEnvironment)
def _unknown_environment(error: UnknownEnvironment) -> Response:
    return _failure(OfrepFailure(400, GENERAL, error.message))


def _json(body: Any, status: int = 200) -> Response:
    return current_app.response_class(to_json(body), status=status, mimetype="application/json")


def _context() -> dict[str, Any]:
    """Return the request's evaluation context within its bounds; an absent body or context is an empty one."""
    if (request.content_length or 0) > MAX_CONTEXT_BYTES:
        raise _context_too_large()
    try:
        body = read_json_object(required=False, max_bytes=MAX_CONTEXT_BYTES)
    except BodyTooLarge:
        raise _context_too_large() from None
    except InvalidJson as error:
        raise OfrepFailure(400, PARSE_ERROR, f'{error.message} Send {{"context": {{...}}}}.') from None
    context = body.get("context", {})
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise OfrepFailure(400, INVALID_CONTEXT, "context must be a JSON object.")
    check_context(context)
    return context


def _context_too_large() -> OfrepFailure:
    return OfrepFailure(400, INVALID_CONTEXT, f"The request is over {MAX_CONTEXT_BYTES} bytes, the bound of a context.")


def _success(flag: dict[str, Any], environment: str, context: dict[str, Any], lookup: Lookup) -> dict[str, Any]:
    result = evaluate(flag, environment, context, lookup)
    return {
        "key": flag["name"],
        "value": result.value,
        "reason": result.reason,
        "variant": result.variant,
        "metadata": result.metadata,
    }


@bp.post("/evaluate/flags/<key>")
@documented(
    "Evaluate one flag for a context (OFREP)",
    description=UNSTATED_CONTEXT_RULES,
    params=["environment"],
    body=OfrepRequest,
    body_required=False,
    response=OfrepEvaluation,
    errors={400: OfrepEvaluationFailure, 404: OfrepFlagNotFound},
)
def evaluate_flag(key: str):
    environment = environment_for_read(request.args.get("environment"))
    context = _context()
    snapshot = current_snapshot()
    flag = snapshot.served_by_name.get(key)
    if flag is None:
        raise OfrepFailure(404, FLAG_NOT_FOUND, f"No flag is named {key!r}.")
    recorder = usage_recorder()
    try:
        # Only the flag asked for is counted: its prerequisites were consulted, not evaluated for the caller.
        answer = _success(flag, environment, context, snapshot.lookup())
    except EvaluationError:
        recorder.count(flag["_id"], environment, None, ERROR, context)
        raise
    # By id: usage follows a flag through renames.
    recorder.count(flag["_id"], environment, answer["variant"], answer["reason"], context)
    return _json(answer)


def _flag_config_etag() -> str | None:
    """Return the flagConfigEtag of an event-triggered re-fetch (unquoted), checking both parameters' bounds."""
    etag = request.args.get("flagConfigEtag")
    if etag is not None and len(etag) > MAX_FLAG_CONFIG_ETAG_CHARS:
        raise OfrepFailure(400, GENERAL, f"flagConfigEtag is over {MAX_FLAG_CONFIG_ETAG_CHARS} characters.")
    last_modified = request.args.get("flagConfigLastModified")
    if last_modified is not None and len(last_modified) > MAX_FLAG_CONFIG_LAST_MODIFIED_CHARS:
        raise OfrepFailure(
            400, GENERAL, f"flagConfigLastModified is over {MAX_FLAG_CONFIG_LAST_MODIFIED_CHARS} characters."
        )
    return etag.removeprefix("W/").strip('"') if etag is not None else None


def _event_streams(environment: str, config_etag: str) -> list[dict[str, Any]]:
    principal = authenticate()
    ticket = stream_tickets.issue(environment, principal, config_etag)
    return [stream_entry(url_for("ofrep_events.flag_changes", ticket=ticket, _external=True))]


@bp.post("/evaluate/flags")
@documented(
    "Evaluate every flag for a context (OFREP bulk); ETag and If-None-Match; eventStreams",
    description=(
        "The answer's eventStreams names this environment's event stream (GET /ofrep/v1/flag-changes). A re-fetch an "
        "event caused sends its etag as flagConfigEtag: the answer reflects at least that configuration, and "
        "If-None-Match decides a 304 only while the configuration is still the event's."
    ),
    params=["environment", "flagConfigEtag", "flagConfigLastModified"],
    query=OfrepBulkQuery,
    body=OfrepRequest,
    body_required=False,
    response=OfrepBulkEvaluation,
    errors={304: None, 400: OfrepBulkFailure},
)
def evaluate_all_flags():
    environment = environment_for_read(request.args.get("environment"))
    heard = _flag_config_etag()
    context = _context()
    # Checked once for the whole answer, not once per flag (null is no key, as single evaluation has it).
    check_targeting_key(context)
    results = []
    outcomes = []
    snapshot = current_snapshot()
    notices = change_notices()
    config_etag = notices.etags(snapshot)[environment]
    if heard is not None and heard != config_etag:
        # The event may come from a worker or instance that saw the change first: ask the database, not the clock.
        snapshot = flag_cache().confirmed()
        config_etag = notices.etags(snapshot)[environment]
    # One lookup for the whole answer: a flag many others require is evaluated once, and counted once.
    lookup = snapshot.lookup()
    for flag in snapshot.served:
        try:
            answer = _success(flag, environment, context, lookup)
        except EvaluationError as error:
            results.append({"key": flag["name"], "errorCode": error.code, "errorDetails": error.message})
            outcomes.append((flag["_id"], None, ERROR))
            continue
        results.append(answer)
        outcomes.append((flag["_id"], answer["variant"], answer["reason"]))
    # Counted together: one lock for the whole answer (and its context's names), not one per flag.
    usage_recorder().count_many(environment, outcomes, context)
    body = to_json({"flags": results, "eventStreams": _event_streams(environment, config_etag)}).encode()
    # The ETag is the answer's own hash: equal answers share it, whatever changed elsewhere. The ticket in it
    # stays the same for half its lifetime, so it does not defeat If-None-Match.
    # An event whose configuration is no longer current is answered in full: the client's copy may predate both.
    return prebuilt_response(body, body_etag(body), conditional=heard is None or heard == config_etag)

"""OpenFeature Remote Evaluation Protocol (OFREP) v1: any OpenFeature SDK evaluates flags here.

Shapes and error codes follow open-feature/protocol's service/openapi.yaml. The environment is the
client token's; an admin token names it with ?environment= (the default environment otherwise).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from ..cache import current_snapshot
from ..errors import BodyTooLarge, InvalidJson, UnknownEnvironment
from ..tokens.access import authenticate, environment_for_read
from ..usage import usage_recorder
from ..web.bodies import read_json_object, to_json
from ..web.conditional import body_etag, prebuilt_response
from ..web.openapi import documented
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
from .models import (
    OfrepBulkEvaluation,
    OfrepBulkFailure,
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
        recorder.count(flag["_id"], environment, None, ERROR)
        raise
    # By id: usage follows a flag through renames.
    recorder.count(flag["_id"], environment, answer["variant"], answer["reason"])
    return _json(answer)


@bp.post("/evaluate/flags")
@documented(
    "Evaluate every flag for a context (OFREP bulk); ETag and If-None-Match",
    params=["environment"],
    body=OfrepRequest,
    body_required=False,
    response=OfrepBulkEvaluation,
    errors={304: None, 400: OfrepBulkFailure},
)
def evaluate_all_flags():
    environment = environment_for_read(request.args.get("environment"))
    context = _context()
    # Checked once for the whole answer, not once per flag (null is no key, as single evaluation has it).
    check_targeting_key(context)
    results = []
    outcomes = []
    snapshot = current_snapshot()
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
    # Counted together: one lock for the whole answer, not one per flag.
    usage_recorder().count_many(environment, outcomes)
    body = to_json({"flags": results}).encode()
    # The ETag is the answer's own hash: equal answers share it, whatever changed elsewhere.
    return prebuilt_response(body, body_etag(body))

"""Schemathesis hooks for tests/test_openapi_conformance.py: the rules the document states only in words.

JSON Schema cannot relate one field's values to another's keys (feature_flags.flags.rules.UNSTATED_FLAG_RULES), so
most generated flag bodies with variants or targeting would name variants they do not define. Positive cases
are brought in line with those rules, so they reach the 201 and 200 paths; what a rule still refuses, because
it depends on the stored flag (an update's variants against the serves it keeps), is not counted as a failure;
nor is an evaluation refused for lacking the targetingKey its flag's split needs (ofrep.UNSTATED_CONTEXT_RULES),
nor a list asked to continue from a cursor it never gave (the parameter says to take it from the Link header);
nor a stream asked for without Accept: text/event-stream, nor an import of repeated names, nor a copy to
the environment it copies from, nor a webhook past their bound
or to a refused address, nor a context field past theirs (their descriptions say so).
A schedule's moment is brought within its bounds (a minute ago to 5 years ahead) and its targeting in line with
the flag's variants; one refused for the clock, the pending bound or the flag as stored is not a failure either.
A change request is made for the flag the test leaves on in production, switching it off there (what needs
approval); one refused for its changes' rules, or as needing no approval, is not a failure.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis
from schemathesis import GenerationMode

FLAG_BODIES = {"POST /flags", "PUT /flags/{ident}"}
DEFAULT_VARIANTS = {"on": True, "off": False}
# What the conformance test creates for generated rules and prerequisites to name (flags.dependencies' rules).
KNOWN_SEGMENT = "conformance-segment"
KNOWN_PREREQUISITE = {"flag": "conformance-read", "variants": ["on"]}
UNSTATED_RULE_TYPES = {"unknown_variant", "missing_serve", "too_many_segments"}
CURSOR_RULE_TYPES = {"invalid_cursor"}
SCHEDULE_BODY = "POST /flags/{ident}/schedules"
# A schedule's targeting names segments and flags as stored; the schema's examples may name ones that do not exist.
DEPENDENCY_RULE_TYPES = {"unknown_segment", "unknown_flag", "prerequisite_cycle", "archived_flag"}
SCHEDULE_RULE_TYPES = UNSTATED_RULE_TYPES | DEPENDENCY_RULE_TYPES | {"at_in_past", "at_too_far", "too_many_schedules"}
IMPORT = "POST /import"
# An import's flags are checked as POST /flags' body is, and its names are unique; a copy goes to another environment.
IMPORT_RULE_TYPES = UNSTATED_RULE_TYPES | {"repeated"}
COPIES = {"POST /flags/{ident}/copy", "POST /environments/{source}/copy"}
COPY_RULE_TYPES = {"same_environment"}
# The number of webhooks is bounded (the operation's description says so); generated bodies reach the bound.
# So is where they may be sent: a generated host may be this host ("0", "127.1") or a metadata service.
WEBHOOK_RULE_TYPES = {"too_many_webhooks", "address"}
# Described context fields are bounded too (the operation's description says so).
CONTEXT_FIELD_RULE_TYPES = {"too_many_context_fields"}
SPLIT_TOTAL = "of a split add up to"
CHANGE_REQUEST_BODY = "POST /change-requests"
# What the conformance test creates, on in production: a request switching it off there needs approval.
REQUESTED_FLAG = "conformance-read"
# A request's changes are checked as a PUT's; one that reaches no approval environment, or past the bound, is refused.
CHANGE_REQUEST_RULE_TYPES = (
    UNSTATED_RULE_TYPES
    | DEPENDENCY_RULE_TYPES
    | {"change_request_not_needed", "too_many_change_requests", "at_in_past", "at_too_far"}
)


def _split(serve: dict[str, Any], names: list[str]) -> dict[str, int]:
    chosen = names[: max(1, min(len(serve), len(names)))]
    shares = [100 // len(chosen)] * len(chosen)
    shares[0] += 100 - sum(shares)
    return dict(zip(chosen, shares, strict=True))


def _coherent(body: dict[str, Any], environments: list[str], creating: bool) -> None:
    variants = body.get("variants") or DEFAULT_VARIANTS
    names = sorted(variants)

    def serve(value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("weights"), dict):
            # A weighted split's weights add up to 1 to 100,000: the percentages do.
            return {**value, "weights": _split(value["weights"], names)}
        if isinstance(value, dict):
            return _split(value, names)
        return value if value in variants else names[0]

    if body.get("off_variant") is not None:
        body["off_variant"] = serve(body["off_variant"])
    elif creating and "off" not in variants:
        body["off_variant"] = names[0]
    targeting = body.get("targeting")
    if isinstance(targeting, dict):
        for settings in targeting.values():
            if settings is None:
                continue
            for rule in settings.get("rules", ()):
                rule["serve"] = serve(rule["serve"])
                for item in rule.get("when", ()):
                    if isinstance(item, dict) and "segment" in item:
                        item["segment"] = KNOWN_SEGMENT
            if settings.get("prerequisites"):
                settings["prerequisites"] = [dict(KNOWN_PREREQUISITE)]
            if "serve" in settings:
                settings["serve"] = serve(settings["serve"])
            elif "on" not in variants:
                settings["serve"] = names[0]
    if creating and "on" not in variants:
        body["targeting"] = targeting = targeting or {}
        for environment in environments:
            targeting.setdefault(environment, {"serve": names[0]})


@schemathesis.hook
def map_case(context, case):
    """Bring positive flag bodies in line with the rules the operations' descriptions state."""
    label = case.operation.label
    if label in FLAG_BODIES and case.meta.generation.mode == GenerationMode.POSITIVE and isinstance(case.body, dict):
        schema = case.operation.schema.raw_schema["components"]["schemas"]["FlagCreate"]
        environments = schema["properties"]["targeting"]["propertyNames"]["enum"]
        body = json.loads(json.dumps(case.body))
        _coherent(body, environments, creating=label == "POST /flags")
        case.body = body
    if label == SCHEDULE_BODY and case.meta.generation.mode == GenerationMode.POSITIVE and isinstance(case.body, dict):
        body = json.loads(json.dumps(case.body))
        body["at"] = (datetime.now(UTC) + timedelta(hours=random.randint(1, 1000))).isoformat()
        if isinstance(body.get("targeting"), dict) and "environment" in body:
            wrapped = {"targeting": {body["environment"]: body["targeting"]}}
            _coherent(wrapped, [], creating=False)
            body["targeting"] = wrapped["targeting"][body["environment"]]
        case.body = body
    positive = case.meta.generation.mode == GenerationMode.POSITIVE
    if label == CHANGE_REQUEST_BODY and positive and isinstance(case.body, dict):
        body = json.loads(json.dumps(case.body))
        if isinstance(body.get("changes"), dict):
            body["flag"] = REQUESTED_FLAG
            body.pop("base_version", None)
            _coherent(body["changes"], [], creating=False)
            body["changes"].setdefault("environments", {})["production"] = False
        if body.get("apply_at") is not None:
            body["apply_at"] = (datetime.now(UTC) + timedelta(hours=random.randint(1, 1000))).isoformat()
        case.body = body
    if label == IMPORT and case.meta.generation.mode == GenerationMode.POSITIVE and isinstance(case.body, dict):
        schema = case.operation.schema.raw_schema["components"]["schemas"]["FlagCreate"]
        environments = schema["properties"]["targeting"]["propertyNames"]["enum"]
        body = json.loads(json.dumps(case.body))
        for flag in body.get("flags") or ():
            if isinstance(flag, dict):
                _coherent(flag, environments, creating=True)
        case.body = body
        # Replacing would remove the flags the other operations are given; an Unleash body is described in words.
        case.query = {**(case.query or {}), "mode": "upsert", "format": "feature-flags"}
    return case


def _refused_for_unstated_rule(response, types: set[str] = UNSTATED_RULE_TYPES) -> bool:
    if response.status_code != 400:
        return False
    try:
        details = json.loads(response.content).get("details") or []
    except ValueError:
        return False
    return bool(details) and all(
        item.get("type") in types or SPLIT_TOTAL in item.get("message", "") for item in details
    )


def _split_without_key(response) -> bool:
    try:
        return response.status_code == 400 and json.loads(response.content)["errorCode"] == "TARGETING_KEY_MISSING"
    except (ValueError, KeyError, TypeError):
        return False


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure except a valid request refused for a rule only the operation's description states."""
    if failure.code != "ST202":
        return True
    label = case.operation.label
    if label in FLAG_BODIES:
        return not _refused_for_unstated_rule(response)
    if label == SCHEDULE_BODY:
        return not _refused_for_unstated_rule(response, SCHEDULE_RULE_TYPES)
    if label == IMPORT:
        return not _refused_for_unstated_rule(response, IMPORT_RULE_TYPES)
    if label in COPIES:
        return not _refused_for_unstated_rule(response, COPY_RULE_TYPES)
    if label == "GET /flags":
        return not _refused_for_unstated_rule(response, CURSOR_RULE_TYPES)
    if label == CHANGE_REQUEST_BODY:
        return not _refused_for_unstated_rule(response, CHANGE_REQUEST_RULE_TYPES)
    if label in ("POST /webhooks", "PATCH /webhooks/{webhook_id}"):
        return not _refused_for_unstated_rule(response, WEBHOOK_RULE_TYPES)
    if label == "POST /context-fields":
        return not _refused_for_unstated_rule(response, CONTEXT_FIELD_RULE_TYPES)
    if label == "POST /ofrep/v1/evaluate/flags/{key}":
        return not _split_without_key(response)
    if label == "GET /api/client/streaming":
        # Its description asks for Accept: text/event-stream (an OpenAPI schema cannot): a stream never ends.
        return response.status_code != 406
    return True

"""OFREP: the official OpenFeature client and raw HTTP against the running service."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import requests
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from feature_flags.evaluation.engine import bucket
from tests.support import ADMIN_TOKEN, auth

ALL_ENVIRONMENTS = ("development", "staging", "production")


def _everywhere(serve) -> dict:
    return {env: {"serve": serve} for env in ALL_ENVIRONMENTS}


FLAGS = [
    {"name": "dark-mode", "environments": {"production": True}},
    {"name": "maintenance", "environments": {"production": False}},
    {
        "name": "button-colour",
        "environments": {"production": True},
        "variants": {"blue": "#00f", "green": "#0f0"},
        "off_variant": "blue",
        "targeting": {
            **_everywhere("blue"),
            "production": {
                "rules": [
                    {"when": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "green"},
                    {"when": [{"attribute": "age", "op": "gte", "values": [18]}], "serve": "green"},
                ],
                "serve": "blue",
            },
        },
    },
    {
        "name": "page-size",
        "environments": {"production": True},
        "variants": {"small": 10, "large": 50},
        "off_variant": "small",
        "targeting": _everywhere("large"),
    },
    {
        "name": "discount",
        "environments": {"production": True},
        "variants": {"none": 0.0, "some": 12.5},
        "off_variant": "none",
        "targeting": _everywhere("some"),
    },
    {
        "name": "theme",
        "environments": {"production": True},
        "variants": {"light": {"bg": "#fff", "fg": "#000"}, "dark": {"bg": "#000", "fg": "#fff"}},
        "off_variant": "light",
        "targeting": _everywhere("dark"),
    },
    {
        "name": "new-checkout",
        "environments": {"production": True},
        "targeting": {"production": {"serve": {"on": 30, "off": 70}}},
    },
]


@pytest.fixture
def flags(client) -> list[dict]:
    """Create the flags every test here evaluates."""
    for flag in FLAGS:
        response = client.post("/flags", json=flag)
        assert response.status_code == 201, response.json
    return FLAGS


@pytest.fixture
def production_token(client) -> str:
    """A client token bound to production."""
    response = client.post("/tokens", json={"name": "shop", "role": "client", "environment": "production"})
    assert response.status_code == 201, response.json
    return response.json["token"]


@pytest.fixture
def of_client(live_server, flags, production_token) -> Iterator[OpenFeatureClient]:
    """The official OpenFeature client with the OFREP provider, as an application would set it up."""
    domain = f"test-{uuid.uuid4().hex}"
    provider = OFREPProvider(live_server, headers_factory=lambda: auth(production_token))
    api.set_provider(provider, domain)
    yield api.get_client(domain)
    api.clear_providers()


def test_openfeature__boolean_flag_on__true_static(of_client):
    details = of_client.get_boolean_details("dark-mode", False)
    assert (details.value, details.variant, details.reason, details.error_code) == (True, "on", Reason.STATIC, None)


def test_openfeature__boolean_flag_off__off_variant_disabled(of_client):
    details = of_client.get_boolean_details("maintenance", True)
    assert (details.value, details.variant, details.reason) == (False, "off", Reason.DISABLED)


def test_openfeature__string_flag_rule_matches__targeting_match(of_client):
    details = of_client.get_string_details("button-colour", "none", EvaluationContext(attributes={"plan": "pro"}))
    assert (details.value, details.variant, details.reason) == ("#0f0", "green", Reason.TARGETING_MATCH)
    assert details.flag_metadata == {"rule": 0}
    second = of_client.get_string_details("button-colour", "none", EvaluationContext(attributes={"age": 30}))
    assert (second.value, second.flag_metadata) == ("#0f0", {"rule": 1})


def test_openfeature__string_flag_no_rule_matches__default_serve(of_client):
    details = of_client.get_string_details("button-colour", "none", EvaluationContext("u1", {"plan": "free"}))
    assert (details.value, details.variant, details.reason) == ("#00f", "blue", Reason.DEFAULT)


def test_openfeature__number_flags__integer_and_float(of_client):
    assert of_client.get_integer_value("page-size", 1) == 50
    assert of_client.get_float_value("discount", 0.0) == 12.5


def test_openfeature__object_flag__object_value(of_client):
    details = of_client.get_object_details("theme", {})
    assert (details.value, details.variant, details.reason) == ({"bg": "#000", "fg": "#fff"}, "dark", Reason.STATIC)


def test_openfeature__split__sticky_bucket_split_reason(of_client):
    for user in ("alice", "bob", "carol", "dave", "erin"):
        details = of_client.get_boolean_details("new-checkout", False, EvaluationContext(user))
        assert details.reason == Reason.SPLIT
        assert details.value is (bucket("new-checkout", user) <= 30)
        again = of_client.get_boolean_details("new-checkout", False, EvaluationContext(user))
        assert again.value is details.value


def test_openfeature__split_without_targeting_key__targeting_key_missing(of_client):
    details = of_client.get_boolean_details("new-checkout", True, EvaluationContext(attributes={"plan": "pro"}))
    assert (details.value, details.error_code, details.reason) == (True, ErrorCode.TARGETING_KEY_MISSING, Reason.ERROR)


def test_openfeature__missing_flag__flag_not_found(of_client):
    details = of_client.get_boolean_details("no-such-flag", True)
    assert (details.value, details.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)


def test_openfeature__context_value_of_wrong_kind__invalid_context(of_client):
    details = of_client.get_string_details("button-colour", "none", EvaluationContext(attributes={"age": "old"}))
    assert (details.value, details.error_code) == ("none", ErrorCode.INVALID_CONTEXT)


def test_openfeature__wrong_type_asked__type_mismatch(of_client):
    details = of_client.get_boolean_details("button-colour", False)
    assert (details.value, details.error_code) == (False, ErrorCode.TYPE_MISMATCH)


def test_openfeature__bad_token__error_and_default(live_server, flags):
    domain = f"test-{uuid.uuid4().hex}"
    api.set_provider(OFREPProvider(live_server, headers_factory=lambda: auth("ff_client_wrong")), domain)
    try:
        details = api.get_client(domain).get_boolean_details("dark-mode", False)
    finally:
        api.clear_providers()
    assert (details.value, details.reason) == (False, Reason.ERROR)


# -- raw HTTP: the exact shapes of the spec ------------------------------------------------------


def _post(base: str, path: str, token: str, **kwargs) -> requests.Response:
    return requests.post(f"{base}/ofrep/v1/evaluate/flags{path}", headers=auth(token), timeout=5, **kwargs)


def test_single__success__spec_fields(live_server, flags, production_token):
    response = _post(live_server, "/dark-mode", production_token, json={"context": {"targetingKey": "u1"}})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"key": "dark-mode", "value": True, "reason": "STATIC", "variant": "on", "metadata": {}}


def test_single__api_key_header__accepted(live_server, flags, production_token):
    response = requests.post(
        f"{live_server}/ofrep/v1/evaluate/flags/dark-mode", headers={"X-API-Key": production_token}, timeout=5
    )
    assert response.status_code == 200 and response.json()["value"] is True


def test_single__missing_flag__404_flag_not_found(live_server, flags, production_token):
    response = _post(live_server, "/nope", production_token, json={"context": {}})
    assert response.status_code == 404
    assert response.json()["key"] == "nope"
    assert response.json()["errorCode"] == "FLAG_NOT_FOUND"
    assert response.json()["errorDetails"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "PARSE_ERROR"),
        (b"[1, 2]", "PARSE_ERROR"),
        (b'{"context": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "PARSE_ERROR"),
        (b'{"context": {"targetingKey": "u", "age": NaN}}', "PARSE_ERROR"),
        (b'{"context": "user-1"}', "INVALID_CONTEXT"),
        (json.dumps({"context": {"targetingKey": "u", "bio": "x" * 40_000}}).encode(), "INVALID_CONTEXT"),
        (json.dumps({"context": {f"a{i}": i for i in range(101)}}).encode(), "INVALID_CONTEXT"),
        (json.dumps({"context": {"targetingKey": "u", "plan": "p" * 1025}}).encode(), "INVALID_CONTEXT"),
        (json.dumps({"context": {"targetingKey": "u", "k" * 101: "v"}}).encode(), "INVALID_CONTEXT"),
        (b'{"context": {"targetingKey": 7}}', "INVALID_CONTEXT"),
        (b'{"context": {"targetingKey": "u", "age": {"years": 3}}}', "INVALID_CONTEXT"),
    ],
)
def test_single__bad_body__400_with_error_code(live_server, flags, production_token, body, code):
    response = requests.post(
        f"{live_server}/ofrep/v1/evaluate/flags/button-colour",
        data=body,
        headers={**auth(production_token), "Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["key"] == "button-colour"
    assert response.json()["errorCode"] == code
    assert isinstance(response.json()["errorDetails"], str)


def test_single__no_body__empty_context(live_server, flags, production_token):
    response = requests.post(
        f"{live_server}/ofrep/v1/evaluate/flags/page-size", headers=auth(production_token), timeout=5
    )
    assert response.status_code == 200 and response.json()["value"] == 50


def test_single__no_token__401(live_server, flags):
    response = requests.post(f"{live_server}/ofrep/v1/evaluate/flags/dark-mode", json={}, timeout=5)
    assert response.status_code == 401


def test_single__client_token_other_environment__403(live_server, flags, production_token):
    response = _post(live_server, "/dark-mode?environment=staging", production_token, json={})
    assert response.status_code == 403


def test_single__admin_names_environment__that_environment(live_server, flags):
    on = _post(live_server, "/dark-mode?environment=production", ADMIN_TOKEN, json={})
    off = _post(live_server, "/dark-mode?environment=development", ADMIN_TOKEN, json={})
    assert (on.json()["value"], off.json()["reason"]) == (True, "DISABLED")


def test_single__unknown_environment__400_general(live_server, flags):
    response = _post(live_server, "/dark-mode?environment=moon", ADMIN_TOKEN, json={})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "GENERAL"


def test_bulk__every_flag__successes_and_per_flag_errors(live_server, flags, production_token):
    response = _post(live_server, "", production_token, json={"context": {"plan": "pro"}})
    assert response.status_code == 200
    results = {item["key"]: item for item in response.json()["flags"]}
    assert set(results) == {flag["name"] for flag in FLAGS}
    assert results["button-colour"] == {
        "key": "button-colour",
        "value": "#0f0",
        "reason": "TARGETING_MATCH",
        "variant": "green",
        "metadata": {"rule": 0},
    }
    # The split needs a targeting key this context lacks: that flag alone fails
    assert results["new-checkout"]["errorCode"] == "TARGETING_KEY_MISSING"
    assert "value" not in results["new-checkout"]


def test_bulk__if_none_match_current__304_without_body(live_server, flags, production_token, client):
    body = {"context": {"targetingKey": "u1"}}
    first = _post(live_server, "", production_token, json=body)
    etag = first.headers["ETag"]
    # When: the same question with the ETag
    again = requests.post(
        f"{live_server}/ofrep/v1/evaluate/flags",
        json=body,
        headers={**auth(production_token), "If-None-Match": etag},
        timeout=5,
    )
    # Then
    assert again.status_code == 304 and again.content == b""
    # And after a change the answer is new
    assert client.post("/flags/dark-mode/toggle", json={"environment": "production"}).status_code == 200
    changed = requests.post(
        f"{live_server}/ofrep/v1/evaluate/flags",
        json=body,
        headers={**auth(production_token), "If-None-Match": etag},
        timeout=5,
    )
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert {f["key"]: f for f in changed.json()["flags"]}["dark-mode"]["reason"] == "DISABLED"


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"nope", "PARSE_ERROR"), (b"[" * 10_000 + b"]" * 10_000, "PARSE_ERROR"), (b'{"context": 5}', "INVALID_CONTEXT")],
)
def test_bulk__bad_body__400_error_code(live_server, flags, production_token, body, code):
    response = requests.post(
        f"{live_server}/ofrep/v1/evaluate/flags",
        data=body,
        headers={**auth(production_token), "Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["errorCode"] == code
    assert "key" not in response.json()


def test_single__context_at_its_bounds__evaluated(live_server, flags, production_token):
    # Strings of 1,024 characters up to nearly 32 KiB in all, and 100 attributes: both accepted
    long_strings = {"targetingKey": "u" * 1024, **{f"attribute-{i}": "v" * 1024 for i in range(29)}}
    many = {"targetingKey": "u", **{f"attribute-{i}": i for i in range(99)}}
    for context in (long_strings, many):
        response = _post(live_server, "/page-size", production_token, json={"context": context})
        assert response.status_code == 200, response.text
        assert response.json()["value"] == 50


def test_bulk__context_over_its_bounds__400_invalid_context(live_server, flags, production_token):
    context = {"targetingKey": "u", "plan": "p" * 5000}
    response = _post(live_server, "", production_token, json={"context": context})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "INVALID_CONTEXT"
    assert "1024" in response.json()["errorDetails"]

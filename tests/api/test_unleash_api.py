"""Unleash's client and frontend APIs over a real database: who may read the rules, the documents, the reports.

The SDKs themselves evaluating what these routes serve is tests/sdk/'s; here are the HTTP contracts they rely on.
"""

from __future__ import annotations

import time

import pytest

from feature_flags.extensions import get_store
from tests.support import ADMIN_TOKEN, auth

BETA = {"name": "beta", "conditions": [{"attribute": "plan", "op": "in", "values": ["beta"]}]}
CHECKOUT = {
    "name": "checkout",
    "environments": {"production": True},
    "targeting": {
        "production": {
            "rules": [
                {"when": [{"attribute": "country", "op": "in", "values": ["NZ"]}], "serve": "off"},
                {"when": [{"segment": "beta"}], "serve": "on"},
            ],
            "serve": {"on": 20, "off": 80},
        }
    },
}
COLOUR = {
    "name": "colour",
    "environments": {"production": True},
    "variants": {"blue": "#00f", "red": "#f00", "none": ""},
    "off_variant": "none",
    "targeting": {environment: {"serve": "blue"} for environment in ("development", "staging", "production")},
}


@pytest.fixture
def flags(client):
    assert client.post("/segments", json=BETA).status_code == 201
    for flag in (CHECKOUT, COLOUR):
        answer = client.post("/flags", json=flag)
        assert answer.status_code == 201, answer.json


def _token(client, role: str, environment: str = "production") -> str:
    answer = client.post("/tokens", json={"name": f"{role}-{environment}", "role": role, "environment": environment})
    assert answer.status_code == 201, answer.json
    return answer.json["token"]


def raw(token: str) -> dict[str, str]:
    """Authorization as Unleash's SDKs send it: the token itself, no scheme."""
    return {"Authorization": token}


def test_client_features__server_token_sent_raw__features_segments_etag_then_304(client, anonymous, flags):
    # Given: a server token for production, sent as Unleash's SDKs send it
    token = _token(client, "server")

    # When
    first = anonymous.get("/api/client/features", headers=raw(token))
    again = anonymous.get("/api/client/features", headers={**raw(token), "If-None-Match": first.headers["ETag"]})

    # Then: version 2 with our flags as features, the segment by number, and a 304 while nothing changed
    assert first.status_code == 200, first.json
    document = first.json
    assert document["version"] == 2 and document["query"] == {}
    by_name = {feature["name"]: feature for feature in document["features"]}
    assert set(by_name) == {"checkout", "colour"}
    assert document["segments"] == [
        {"id": 1, "name": "beta", "constraints": [{"contextName": "plan", "operator": "IN", "values": ["beta"],
                                                   "inverted": False, "caseInsensitive": False}]}
    ]  # fmt: skip
    checkout = by_name["checkout"]
    assert checkout["enabled"] is True
    # The rule serving off becomes an inverted constraint in every later strategy; the split a rollout of 20
    assert [strategy["name"] for strategy in checkout["strategies"]] == ["default", "flexibleRollout"]
    assert checkout["strategies"][0]["segments"] == [1]
    assert checkout["strategies"][0]["constraints"][0]["inverted"] is True
    assert checkout["strategies"][1]["parameters"] == {"rollout": "20", "stickiness": "userId", "groupId": "checkout"}
    colour = by_name["colour"]["strategies"]
    assert colour[0]["variants"] == [{"name": "blue", "weight": 1000, "weightType": "fix", "stickiness": "default",
                                      "payload": {"type": "string", "value": "#00f"}}]  # fmt: skip
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize("path", ["/api/client/features", "/api/client/delta", "/api/client/streaming"])
def test_client_api__client_token__403_and_no_rule_sent(client, anonymous, flags, path):
    token = _token(client, "client")
    answer = anonymous.get(path, headers={**raw(token), "Accept": "text/event-stream"})
    assert answer.status_code == 403, answer.data
    assert answer.json["error"] == "forbidden" and "server token" in answer.json["message"]
    assert b"beta" not in answer.data


def test_client_features__admin_token__names_the_environment(client, flags):
    staging = client.get("/api/client/features?environment=staging").json
    production = client.get("/api/client/features?environment=production").json
    assert {f["name"]: f["enabled"] for f in staging["features"]} == {"checkout": False, "colour": True}
    assert {f["name"]: f["enabled"] for f in production["features"]} == {"checkout": True, "colour": True}


def test_client_features__a_change__new_document_and_etag(client, anonymous, flags):
    token = _token(client, "server")
    before = anonymous.get("/api/client/features", headers=raw(token))
    assert client.post("/flags/checkout/toggle", json={"environment": "production"}).status_code == 200
    after = anonymous.get("/api/client/features", headers={**raw(token), "If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert next(f for f in after.json["features"] if f["name"] == "checkout")["enabled"] is False


def test_client_delta__hydration_with_its_event_id_then_304(client, anonymous, flags):
    token = _token(client, "server")
    answer = anonymous.get("/api/client/delta", headers=raw(token))
    (event,) = answer.json["events"]
    assert event["type"] == "hydration" and 0 < event["eventId"] < 2**32
    assert {f["name"] for f in event["features"]} == {"checkout", "colour"} and len(event["segments"]) == 1
    assert answer.headers["ETag"] == f'"{event["eventId"]}"'
    again = anonymous.get("/api/client/delta", headers={**raw(token), "If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304


def test_client_streaming__without_accepting_events__406(client, anonymous, flags):
    answer = anonymous.get("/api/client/streaming", headers=raw(_token(client, "server")))
    assert answer.status_code == 406 and answer.json["error"] == "not_acceptable"


def test_register_and_metrics__202__counted_once_as_usage_and_listed(make_app, flags, client):
    # Given: a service that writes its counts every second
    app = make_app(usage_flush_seconds=1)
    sdk = app.test_client()
    sdk.environ_base["HTTP_AUTHORIZATION"] = _token(client, "server")
    bucket = {"start": "2026-12-06T10:00:00.000Z", "stop": "2026-12-06T10:01:00.000Z",
              "toggles": {"checkout": {"yes": 7, "no": 3, "variants": {}},
                          "colour": {"yes": 5, "no": 0, "variants": {"blue": 5, "disabled": 2}},
                          "no-such-flag": {"yes": 1, "no": 0, "variants": {}}}}  # fmt: skip

    # When: an SDK registers, then reports the same bucket twice (its answer lost once)
    registered = sdk.post("/api/client/register", json={
        "appName": "checkout-service", "instanceId": "pod-1", "sdkVersion": "unleash-python-sdk:6.9.1",
        "strategies": [], "started": "2026-12-06T09:59:00Z", "interval": 15000, "platformName": "CPython"})  # fmt: skip
    reported = [sdk.post("/api/client/metrics", json={"appName": "checkout-service", "instanceId": "pod-1",
                                                      "bucket": bucket}) for _ in range(2)]  # fmt: skip

    # Then: 202 each time, the counts added once, as the flags' variants
    assert registered.status_code == 202 and [answer.status_code for answer in reported] == [202, 202]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        checkout = client.get("/flags/checkout/usage").json["environments"]["production"]["last_24_hours"]
        if checkout:
            break
        time.sleep(0.1)
    assert checkout == {"on": 7, "off": 3}
    assert client.get("/flags/colour/usage").json["environments"]["production"]["last_24_hours"] == {"blue": 5}
    # And the instance is listed, with the flags it reported
    (listed,) = client.get("/applications").json
    assert (listed["app_name"], listed["instance_id"], listed["environment"]) == ("checkout-service", "pod-1",
                                                                                 "production")  # fmt: skip
    assert listed["sdk_version"] == "unleash-python-sdk:6.9.1"
    flag_id = client.get("/flags/checkout").json["_id"]
    assert [a["name"] for a in get_store(app).find_flag_applications(flag_id)["production"]] == ["checkout-service"]


@pytest.mark.parametrize(
    "body",
    [{"instanceId": "x"}, {"appName": "a" * 201}, {"appName": "a", "bucket": {"start": "s", "stop": "t",
                                                                              "toggles": {"f": {"yes": -1}}}}],
)  # fmt: skip
def test_metrics__bad_body__400_and_nothing_counted(client, flags, body):
    token = _token(client, "server")
    answer = client.post("/api/client/metrics", json=body, headers=raw(token))
    assert answer.status_code == 400, answer.json
    assert client.get("/applications").json == []


def test_frontend__context_in_query_or_body__enabled_toggles_only_with_variants_and_etag(client, anonymous, flags):
    # Given: a browser's client token
    token = _token(client, "client")

    # When: a visitor from NZ, and one in the beta segment, ask (GET as the SDK does, and POST)
    nz = anonymous.get("/api/frontend?userId=u1&properties%5Bcountry%5D=NZ", headers=raw(token))
    beta = anonymous.post("/api/frontend", json={"context": {"userId": "u1", "properties": {"plan": "beta"}}},
                          headers=raw(token))  # fmt: skip
    again = anonymous.get("/api/frontend?userId=u1&properties%5Bcountry%5D=NZ",
                          headers={**raw(token), "If-None-Match": nz.headers["ETag"]})  # fmt: skip

    # Then: only what is enabled for each, never a rule; the variant flag with its value as the payload
    assert nz.status_code == 200 and beta.status_code == 200
    assert [toggle["name"] for toggle in nz.json["toggles"]] == ["colour"]
    assert [toggle["name"] for toggle in beta.json["toggles"]] == ["checkout", "colour"]
    colour = nz.json["toggles"][0]
    assert colour["enabled"] is True and colour["variant"]["name"] == "blue"
    assert colour["variant"]["payload"] == {"type": "string", "value": "#00f"}
    assert b"segment" not in nz.data and b"beta" not in nz.data
    assert again.status_code == 304


def test_frontend__context_of_the_wrong_kind__400(client, anonymous, flags):
    token = _token(client, "client")
    crowded = {f"a{i}": "x" for i in range(101)}
    answer = anonymous.post("/api/frontend", json={"context": {"properties": crowded}}, headers=raw(token))
    assert answer.status_code == 400 and answer.json["error"] == "invalid_context"


def test_token__server_role__needs_an_environment_and_cannot_write(client, anonymous):
    refused = client.post("/tokens", json={"name": "s", "role": "server"})
    token = _token(client, "server")
    write = anonymous.post("/flags", json={"name": "x"}, headers=auth(token))
    assert refused.status_code == 400
    assert write.status_code == 403
    assert anonymous.get("/auth/me", headers=auth(token)).json["role"] == "server"
    assert ADMIN_TOKEN not in token


def test_local_evaluation__a_construct_the_sdks_cannot_express__left_out_and_said_on_the_flag(client, flags):
    # Given: a boolean split serving false to the first buckets (an Unleash rollout enables the first ones only)
    backwards = {"name": "backwards", "environments": {"production": True},
                 "targeting": {"production": {"serve": {"off": 70, "on": 30}}}}  # fmt: skip
    assert client.post("/flags", json=backwards).status_code == 201

    # When
    shown = client.get("/flags/backwards").json["local_evaluation"]
    document = client.get("/api/client/features?environment=production").json

    # Then: the flag says why, per environment, and the SDKs are not sent it (they would answer differently)
    assert shown["production"]["available"] is False
    assert "serves false to the first buckets" in shown["production"]["reason"]
    assert shown["staging"] == {"available": True, "reason": None}
    assert "backwards" not in {feature["name"] for feature in document["features"]}
    assert client.get("/flags/checkout").json["local_evaluation"]["production"]["available"] is True


def _present(attribute: str) -> dict:
    return {"attribute": attribute, "op": "starts_with", "values": [""]}


PLAN_PRO = {"attribute": "plan", "op": "in", "values": ["pro"]}


@pytest.mark.parametrize(
    ("rules", "reason"),
    [
        # Requiring a field is a rollout of 100 stickied on it; requiring two cannot be one strategy
        ([{"when": [_present("company"), _present("team")], "serve": "on"}], "each of 'company', 'team'"),
        # A rule requiring a field that serves false: its contexts lacking the field must reach the next rule
        ([{"when": [_present("company")], "serve": "off"}, {"when": [PLAN_PRO], "serve": "on"}],
         "cannot express that a context field is absent"),
        # A split by one field in a rule requiring another
        ([{"when": [_present("company")], "serve": {"on": 50, "off": 50}}], "that splits by 'userId'"),
    ],
)  # fmt: skip
def test_local_evaluation__a_required_field_unleash_cannot_express__reason_named(client, rules, reason):
    # Given
    flag = {"name": "required", "environments": {"production": True},
            "targeting": {"production": {"rules": rules, "serve": "off"}}}  # fmt: skip
    assert client.post("/flags", json=flag).status_code == 201

    # When
    shown = client.get("/flags/required").json["local_evaluation"]["production"]

    # Then
    assert shown["available"] is False and reason in shown["reason"], shown
    assert client.get("/api/client/features?environment=production").json["features"] == []


def test_client_features__rule_requiring_a_field__rollout_of_100_stickied_on_it(client):
    # Given: what our import makes of an Unleash rollout of 100% by company
    flag = {"name": "required", "environments": {"production": True},
            "targeting": {"production": {"rules": [{"when": [_present("company"), PLAN_PRO], "serve": "on"}],
                                         "serve": "off"}}}  # fmt: skip
    assert client.post("/flags", json=flag).status_code == 201

    # When
    (feature,) = client.get("/api/client/features?environment=production").json["features"]

    # Then: one strategy, everyone with a company (and the pro plan)
    (strategy,) = feature["strategies"]
    assert strategy["name"] == "flexibleRollout"
    assert strategy["parameters"] == {"rollout": "100", "stickiness": "company", "groupId": "required"}
    assert [(c["contextName"], c["values"]) for c in strategy["constraints"]] == [("plan", ["pro"])]

"""Segments over the API: audiences defined once, named in rules, bounded, audited, guarded while in use."""

from __future__ import annotations

import pytest

from feature_flags.flags.models import MAX_SEGMENT_CONDITIONS, MAX_SEGMENT_REFERENCES
from tests.support import auth

BETA = {"name": "beta-users", "conditions": [{"attribute": "plan", "op": "in", "values": ["beta"]}]}


def _flag_using(segment: str, name: str = "new-checkout") -> dict:
    rule = {"when": [{"segment": segment}, {"attribute": "country", "op": "in", "values": ["NZ"]}], "serve": "on"}
    return {
        "name": name,
        "environments": {"production": True},
        "targeting": {"production": {"rules": [rule], "serve": "off"}},
    }


def _evaluate(client, name: str, context: dict) -> dict:
    return client.post(f"/ofrep/v1/evaluate/flags/{name}?environment=production", json={"context": context}).json


def test_segment__create_read_list_update_delete__each_answers_as_documented(client):
    # When a segment is created
    created = client.post("/segments", json={**BETA, "description": "People on the beta plan"})
    # Then it reads back by name and id, listed, with an ETag of its version
    assert created.status_code == 201, created.json
    segment = created.json
    assert (segment["name"], segment["version"], segment["description"]) == ("beta-users", 1, "People on the beta plan")
    assert client.get("/segments/beta-users").json == segment
    assert client.get(f"/segments/{segment['_id']}").json == segment
    assert [item["name"] for item in client.get("/segments").json] == ["beta-users"]
    # And If-Match guards an update
    stale = client.put("/segments/beta-users", json={"description": "x"}, headers={"If-Match": f'"{segment["_id"]}.9"'})
    assert stale.status_code == 412
    updated = client.put(
        "/segments/beta-users", json={"description": "Beta"}, headers={"If-Match": f'"{segment["_id"]}.1"'}
    )
    assert (updated.status_code, updated.json["version"], updated.json["description"]) == (200, 2, "Beta")
    # And a delete of an unused segment is a 204, after which it is gone
    assert client.delete("/segments/beta-users").status_code == 204
    assert client.get("/segments/beta-users").status_code == 404
    actions = [event["action"] for event in client.get("/audit?limit=10").json["events"]]
    assert actions[:3] == ["segment.deleted", "segment.updated", "segment.created"]


def test_segment__name_taken__409(client):
    assert client.post("/segments", json=BETA).status_code == 201
    clash = client.post("/segments", json=BETA)
    assert (clash.status_code, clash.json["error"]) == (409, "segment_name_taken")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "bad name", "conditions": BETA["conditions"]}, "name"),
        ({"name": "s", "conditions": []}, "conditions"),
        ({"name": "s", "conditions": [{"attribute": "a", "op": "nope", "values": ["x"]}]}, "conditions.0.op"),
        ({"name": "s", "conditions": [{"attribute": "a", "op": "lt", "values": ["x"]}]}, "conditions.0.values"),
        ({"name": "s", "conditions": BETA["conditions"] * (MAX_SEGMENT_CONDITIONS + 1)}, "conditions"),
        ({"name": "s", "conditions": BETA["conditions"], "extra": 1}, "extra"),
    ],
    ids=["name", "no conditions", "unknown op", "lt with a string", "too many conditions", "unknown field"],
)
def test_segment__bad_input__400_naming_the_field_nothing_written(client, body, field):
    response = client.post("/segments", json=body)
    assert response.status_code == 400
    assert field in [item["field"] for item in response.json["details"]]
    assert client.get("/segments").json == []


def test_segment__client_token__reads_but_cannot_write(client):
    assert client.post("/segments", json=BETA).status_code == 201
    token = client.post("/tokens", json={"name": "app", "role": "client", "environment": "production"}).json["token"]
    assert client.get("/segments", headers=auth(token)).status_code == 200
    assert client.post("/segments", json={**BETA, "name": "other"}, headers=auth(token)).status_code == 403
    assert client.delete("/segments/beta-users", headers=auth(token)).status_code == 403


def test_rule_with_segment__context_in_segment__rule_matches_until_segment_changes(client):
    # Given a flag whose rule names a segment beside a condition
    assert client.post("/segments", json=BETA).status_code == 201
    assert client.post("/flags", json=_flag_using("beta-users")).status_code == 201
    # Then a context meeting both matches, one outside the segment does not
    assert _evaluate(client, "new-checkout", {"plan": "beta", "country": "NZ"})["reason"] == "TARGETING_MATCH"
    assert _evaluate(client, "new-checkout", {"plan": "free", "country": "NZ"})["variant"] == "off"
    # When the segment changes, the flag serves by its new conditions at once
    conditions = [{"attribute": "plan", "op": "in", "values": ["free"]}]
    assert client.put("/segments/beta-users", json={"conditions": conditions}).status_code == 200
    assert _evaluate(client, "new-checkout", {"plan": "free", "country": "NZ"})["variant"] == "on"
    assert _evaluate(client, "new-checkout", {"plan": "beta", "country": "NZ"})["variant"] == "off"


def test_rule_with_unknown_segment__400_naming_the_field_nothing_written(client):
    response = client.post("/flags", json=_flag_using("nobody"))
    assert response.status_code == 400
    assert [(item["field"], item["type"]) for item in response.json["details"]] == [
        ("targeting.production.rules.0.when.0.segment", "unknown_segment")
    ]
    assert client.get("/flags/new-checkout").status_code == 404
    # And an update naming it changes nothing either
    assert client.post("/flags", json={"name": "new-checkout"}).status_code == 201
    update = client.put("/flags/new-checkout", json={"targeting": _flag_using("nobody")["targeting"]})
    assert update.status_code == 400
    assert client.get("/flags/new-checkout").json["version"] == 1


def test_rule__more_segments_than_the_bound__400(client):
    for index in range(MAX_SEGMENT_REFERENCES + 1):
        assert client.post("/segments", json={**BETA, "name": f"s{index}"}).status_code == 201
    rule = {"when": [{"segment": f"s{index}"} for index in range(MAX_SEGMENT_REFERENCES + 1)], "serve": "on"}
    response = client.post("/flags", json={"name": "f", "targeting": {"production": {"rules": [rule]}}})
    assert response.status_code == 400
    assert response.json["details"][0]["type"] == "too_many_segments"


def test_segment_in_use__delete_or_rename__409_naming_the_flags(client):
    assert client.post("/segments", json=BETA).status_code == 201
    flag = client.post("/flags", json=_flag_using("beta-users")).json
    for response in (client.delete("/segments/beta-users"), client.put("/segments/beta-users", json={"name": "x"})):
        assert (response.status_code, response.json["error"]) == (409, "segment_in_use")
        assert response.json["details"] == [{"flag_id": flag["_id"], "flag": "new-checkout", "type": "segment_in_use"}]
    assert client.get("/segments/beta-users").json["name"] == "beta-users"


def test_flag_history__segment_changed__history_says_so(client):
    # Given a flag using a segment
    assert client.post("/segments", json=BETA).status_code == 201
    flag = client.post("/flags", json=_flag_using("beta-users")).json
    # When the segment changes
    conditions = [{"attribute": "plan", "op": "in", "values": ["beta", "pro"]}]
    assert client.put("/segments/beta-users", json={"conditions": conditions}).status_code == 200
    # Then the flag's history shows it, newest first, with before and after, and paging still works
    events = client.get(f"/flags/{flag['_id']}/history").json["events"]
    assert [event["action"] for event in events] == ["segment.updated", "flag.created"]
    change = events[0]
    assert (change["segment_name"], change["flag_ids"], change["flag_names"]) == (
        "beta-users",
        [flag["_id"]],
        ["new-checkout"],
    )
    assert change["before"]["conditions"] == BETA["conditions"] and change["after"]["conditions"] == conditions
    page = client.get("/flags/new-checkout/history?limit=1").json
    assert [event["action"] for event in page["events"]] == ["segment.updated"]
    older = client.get(f"/flags/new-checkout/history?limit=1&before={page['next_before']}").json
    assert [event["action"] for event in older["events"]] == ["flag.created"]

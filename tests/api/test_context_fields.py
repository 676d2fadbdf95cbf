"""Context fields: the attribute names applications send, learned per environment, and the fields admins
describe; over the API, on a real database, read back through the API and the audit trail."""

from __future__ import annotations

import pytest

from feature_flags.extensions import get_store
from feature_flags.usage import usage_recorder
from tests.api.test_usage_api import bulk, single
from tests.support import auth


def test_context_fields__names_applications_send__counted_per_environment_most_frequent_first(app, client, anonymous):
    # Given: contexts sent over OFREP and Unleash's frontend API in two environments
    client.post("/flags", json={"name": "checkout", "environments": {"staging": True, "production": True}})
    for n in range(3):
        single(client, "checkout", "production", key=f"user-{n}")
    bulk(client, "production", {"targetingKey": "u", "plan": "plan-value-7f3a", "country": "NZ"})
    bulk(client, "production", {"targetingKey": "u", "plan": "team", "bad name!": "x"})
    bulk(client, "staging", {"targetingKey": "u", "beta": True})
    browser = client.post("/tokens", json={"name": "web", "role": "client", "environment": "production"}).json["token"]
    frontend = anonymous.post(
        "/api/frontend", json={"context": {"userId": "u", "properties": {"region": "eu"}}}, headers=auth(browser)
    )
    assert frontend.status_code == 200, frontend.json

    # When: the counts are flushed, as the background thread does
    usage_recorder(app).flush()

    # Then: each environment's names with how often, most frequent first; no values; a name no rule could use left out
    production = client.get("/context-fields?environment=production")
    assert production.status_code == 200, production.json
    counted = [(entry["name"], entry["count"]) for entry in production.json["seen"]]
    assert counted[:2] == [("targetingKey", 6), ("plan", 2)]
    # (Unleash's frontend context keeps userId beside targetingKey, and the service adds the caller's remoteAddress.)
    assert set(counted[2:]) == {("country", 1), ("region", 1), ("userId", 1), ("remoteAddress", 1)}
    assert all(entry["environment"] == "production" and entry["last_seen_at"] for entry in production.json["seen"])
    assert "plan-value-7f3a" not in production.get_data(as_text=True)
    everywhere = {(entry["environment"], entry["name"]) for entry in client.get("/context-fields").json["seen"]}
    assert ("staging", "beta") in everywhere and ("staging", "plan") not in everywhere


def test_context_fields__past_the_bound__the_most_frequent_kept_and_clients_refused(app, client, anonymous):
    # Given: 250 names, each sent a different number of times
    store = get_store(app)
    store.note_context_attributes({("production", f"name-{n:03d}"): n + 1 for n in range(250)})

    # When
    seen = client.get("/context-fields?environment=production").json["seen"]

    # Then: 200 kept, the most frequent; a client token may not read them
    assert len(seen) == 200
    assert seen[0]["name"] == "name-249" and seen[-1]["name"] == "name-050"
    reader = client.post("/tokens", json={"name": "r", "role": "client", "environment": "production"}).json["token"]
    refused = anonymous.get("/context-fields", headers=auth(reader))
    assert refused.status_code == 403


PLAN = {"name": "plan", "description": "The customer's subscription", "type": "string", "values": ["free", "pro"]}


def test_describe__created_listed_changed_removed__each_audited(client):
    # When: a field is described, changed, then removed
    created = client.post("/context-fields", json=PLAN)
    listed = client.get("/context-fields").json["fields"]
    changed = client.patch("/context-fields/plan", json={"values": ["free", "pro", "team"]})
    removed = client.delete("/context-fields/plan")

    # Then: each answer as the API documents it, and the trail has all three, before and after
    assert created.status_code == 201, created.json
    assert {key: created.json[key] for key in PLAN} == PLAN and created.json["created_by"]
    assert [field["name"] for field in listed] == ["plan"]
    assert changed.status_code == 200 and changed.json["values"] == ["free", "pro", "team"]
    assert changed.json["description"] == PLAN["description"]
    assert removed.status_code == 204
    assert client.get("/context-fields").json["fields"] == []
    events = client.get("/audit").json["events"]
    assert [e["action"] for e in events[:3]] == [
        "context_field.deleted",
        "context_field.updated",
        "context_field.created",
    ]
    assert all(e["context_field_name"] == "plan" for e in events[:3])
    assert events[1]["before"] == {"values": ["free", "pro"]} and events[1]["after"] == {
        "values": ["free", "pro", "team"]
    }


def test_describe__a_name_twice__409_and_one_kept(client):
    assert client.post("/context-fields", json=PLAN).status_code == 201

    again = client.post("/context-fields", json={**PLAN, "description": "other"})

    assert again.status_code == 409 and again.json["error"] == "context_field_name_taken"
    assert [f["description"] for f in client.get("/context-fields").json["fields"]] == [PLAN["description"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "has space"}, "name"),
        ({"name": "$where"}, "name"),
        ({"name": "plan", "type": "colour"}, "type"),
        ({"name": "plan", "values": ["a", "a"]}, "values"),
        ({"name": "plan", "values": [""]}, "values.0"),
        ({"name": "plan", "values": ["x"] * 101}, "values"),
        ({"name": "plan", "description": "d" * 501}, "description"),
        ({"name": "plan", "colour": "red"}, "colour"),
    ],
)
def test_describe__bad_field__400_naming_it_and_nothing_stored(client, body, field):
    response = client.post("/context-fields", json=body)

    assert response.status_code == 400, response.json
    assert field in {item["field"] for item in response.json["details"]}
    assert client.get("/context-fields").json["fields"] == []


def test_describe__not_an_admin__403_but_editors_read(client, anonymous):
    editor = client.post("/tokens", json={"name": "ed", "role": "editor"}).json["token"]

    refused = anonymous.post("/context-fields", json=PLAN, headers=auth(editor))
    read = anonymous.get("/context-fields", headers=auth(editor))

    assert refused.status_code == 403
    assert read.status_code == 200 and read.json == {"fields": [], "seen": []}


def test_change_and_remove__unknown_field__404(client):
    assert client.patch("/context-fields/nothing", json={"type": "number"}).status_code == 404
    assert client.delete("/context-fields/nothing").status_code == 404
    assert client.patch("/context-fields/nothing", json={}).status_code == 400

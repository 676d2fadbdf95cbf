"""The audit trail: every change leaves a record, and no change exists without one."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from bson import ObjectId
from pymongo import MongoClient

from feature_flags.extensions import get_store
from feature_flags.storage import utcnow
from tests.support import app_on, auth


def events(client, **query):
    response = client.get("/audit", query_string=query)
    assert response.status_code == 200, response.json
    return response.json["events"]


def test_every_change__recorded_with_actor_action_values_and_request_id(client):
    # Given one of every kind of change, each with its own request id
    def send(method, path, body=None, rid=None):
        response = getattr(client, method)(path, json=body, headers={"X-Request-ID": rid})
        assert response.status_code in {200, 201, 204}, response.json
        assert response.headers["X-Request-ID"] == rid
        return response

    flag = send("post", "/flags", {"name": "audited"}, "req-create").json
    send("put", "/flags/audited", {"description": "now described"}, "req-update")
    send("post", "/flags/audited/toggle", {"environment": "production"}, "req-toggle")
    token = send("post", "/tokens", {"name": "svc", "role": "client", "environment": "staging"}, "req-token").json
    send("delete", f"/tokens/{token['id']}", None, "req-revoke")
    send("delete", "/flags/audited", None, "req-delete")

    # Then each has an event, newest first, with who, what, before and after
    recorded = events(client)
    assert [(e["action"], e["request_id"]) for e in recorded] == [
        ("flag.deleted", "req-delete"),
        ("token.revoked", "req-revoke"),
        ("token.created", "req-token"),
        ("flag.toggled", "req-toggle"),
        ("flag.updated", "req-update"),
        ("flag.created", "req-create"),
    ]
    assert all(e["actor"] == "bootstrap" and e["at"].endswith("Z") for e in recorded)
    by_action = {e["action"]: e for e in recorded}
    assert by_action["flag.updated"]["before"] == {"description": ""}
    assert by_action["flag.updated"]["after"] == {"description": "now described", "version": 2}
    assert by_action["flag.toggled"]["environment"] == "production"
    assert by_action["flag.toggled"]["before"] == {"environments": {"production": False}}
    assert by_action["flag.toggled"]["after"]["environments"] == {"production": True}
    assert by_action["flag.deleted"]["before"]["name"] == "audited" and by_action["flag.deleted"]["after"] is None
    assert all(by_action[a]["flag_id"] == flag["_id"] for a in ("flag.created", "flag.deleted"))
    assert by_action["token.created"]["token_name"] == "svc"
    assert "token" not in by_action["token.created"]["after"]


def test_actor__named_token__recorded_by_name(client, anonymous):
    secret = client.post("/tokens", json={"name": "release-bot", "role": "admin"}).json["token"]
    anonymous.post("/flags", json={"name": "by-bot"}, headers=auth(secret))
    assert events(client, action="flag.created")[0]["actor"] == "release-bot"


def test_history__after_delete__still_answers_by_id_and_by_name(client):
    flag = client.post("/flags", json={"name": "gone"}).json
    client.post("/flags/gone/toggle")
    client.delete("/flags/gone")
    for ident in (flag["_id"], "gone"):
        response = client.get(f"/flags/{ident}/history")
        assert response.status_code == 200
        assert [e["action"] for e in response.json["events"]] == ["flag.deleted", "flag.toggled", "flag.created"]


def test_history__renamed_flag__whole_history_under_new_name(client):
    client.post("/flags", json={"name": "old-name"})
    client.put("/flags/old-name", json={"name": "new-name"})
    actions = [e["action"] for e in client.get("/flags/new-name/history").json["events"]]
    assert actions == ["flag.updated", "flag.created"]


def test_history__only_that_flag(client):
    client.post("/flags", json={"name": "a"})
    client.post("/flags", json={"name": "b"})
    assert {e["flag_name"] for e in client.get("/flags/a/history").json["events"]} == {"a"}


def test_history__paginated_with_limit_and_before(client):
    client.post("/flags", json={"name": "paged"})
    for _ in range(4):
        client.post("/flags/paged/toggle")
    first = client.get("/flags/paged/history?limit=2").json
    assert len(first["events"]) == 2 and first["next_before"] == first["events"][-1]["_id"]
    second = client.get(f"/flags/paged/history?limit=2&before={first['next_before']}").json
    third = client.get(f"/flags/paged/history?limit=2&before={second['next_before']}").json
    seen = [e["_id"] for e in first["events"] + second["events"] + third["events"]]
    assert len(seen) == len(set(seen)) == 5
    assert third["next_before"] is None
    assert [e["after"]["version"] for e in first["events"] + second["events"]] == [5, 4, 3, 2]


def test_history__unknown_flag__empty(client):
    assert client.get("/flags/never-existed/history").json == {"events": [], "next_before": None}


def test_audit__filters_by_actor_action_flag_since(client, anonymous):
    secret = client.post("/tokens", json={"name": "bot", "role": "admin"}).json["token"]
    client.post("/flags", json={"name": "x"})
    anonymous.post("/flags/x/toggle", headers=auth(secret))
    anonymous.post("/flags", json={"name": "y"}, headers=auth(secret))

    assert {e["action"] for e in events(client, actor="bot")} == {"flag.toggled", "flag.created"}
    assert [e["flag_name"] for e in events(client, action="flag.created")] == ["y", "x"]
    assert [e["action"] for e in events(client, flag="x")] == ["flag.toggled", "flag.created"]
    future = (utcnow() + timedelta(hours=1)).isoformat()
    assert events(client, since=future) == []
    assert len(events(client, since="2000-01-01T00:00:00Z")) == 4


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=501", "limit=ten", "since=yesterday", "since=2026-01-01T00:00:00", "action=flag.exploded",
     "colour=blue", "since=0.5", "since=1700000000", "since=9999-12-31T23:59:59-01:00"],
)  # fmt: skip
def test_audit__bad_query__400(client, query):
    response = client.get(f"/audit?{query}")
    assert response.status_code == 400 and response.json["error"] == "validation_error"


WRITES_TO_AUDIT = [
    ("delete", "/audit"),
    ("put", "/audit"),
    ("post", "/audit"),
    ("delete", "/flags/x/history"),
    ("post", "/flags/x/history"),
]


@pytest.mark.parametrize(("method", "path"), WRITES_TO_AUDIT)
def test_audit__append_only__no_way_to_edit_or_delete(client, method, path):
    client.post("/flags", json={"name": "x"})
    assert getattr(client, method)(path).status_code == 405
    assert len(events(client)) == 1


def test_transaction__event_write_fails__change_rolled_back(database_server):
    # Given a replica-set deployment (transactions) whose next insert will fail
    server = database_server("--enable-test-commands")
    client = app_on(server, "tx").test_client()
    client.post("/flags", json={"name": "atomic"}, headers=auth())
    admin = MongoClient(server.uri)
    admin.admin.command(
        "configureFailPoint", "failCommand", mode={"times": 1}, data={"failCommands": ["insert"], "errorCode": 2}
    )

    # When a change is made, the event insert fails
    response = client.put("/flags/atomic", json={"description": "half-done"}, headers=auth())

    # Then the change did not happen either
    assert response.status_code == 500
    stored = admin.tx.flags.find_one({"name": "atomic"})
    assert stored["description"] == "" and stored["version"] == 1
    assert admin.tx.audit.count_documents({"action": "flag.updated"}) == 0


@pytest.fixture
def standalone(database_server):
    """A deployment without transactions, like a standalone mongod."""
    return database_server("--standalone")


def test_standalone__changes_recorded_without_transactions(standalone):
    app = app_on(standalone, "solo")
    assert get_store(app).supports_transactions is False
    client = app.test_client()
    client.post("/flags", json={"name": "solo"}, headers=auth())
    client.post("/flags/solo/toggle", headers=auth())
    client.delete("/flags/solo", headers=auth())
    history = client.get("/flags/solo/history", headers=auth()).json["events"]
    assert [e["action"] for e in history] == ["flag.deleted", "flag.toggled", "flag.created"]
    assert MongoClient(standalone.uri).solo.audit.count_documents({"state": "pending"}) == 0
    # Hung up, so the server stops at once rather than waiting for the connection to go.
    get_store(app).client.close()


def test_standalone__crash_between_change_and_confirmation__recovery_keeps_applied_drops_unapplied(standalone):
    # Given events left pending by a crash: one whose change landed, one whose change never did
    app = app_on(standalone, "crash")
    client = app.test_client()
    flag = client.post("/flags", json={"name": "crashy"}, headers=auth()).json
    database = MongoClient(standalone.uri).crash
    long_ago = utcnow() - timedelta(minutes=5)
    applied = database.audit.find_one({"action": "flag.created"})
    database.audit.update_one({"_id": applied["_id"]}, {"$set": {"state": "pending", "at": long_ago}})
    database.audit.insert_one(
        {"at": long_ago, "actor": "x", "action": "flag.toggled", "flag_id": flag["_id"], "flag_name": "crashy",
         "state": "pending", "before": {}, "after": {}}
    )  # fmt: skip
    assert client.get("/flags/crashy/history", headers=auth()).json["events"] == []  # pending is not shown

    # When the recovery step runs (every start runs it)
    settled = get_store(app).recover_pending_events()

    # Then the applied change keeps its event and the phantom one is gone
    assert settled == 2
    history = client.get("/flags/crashy/history", headers=auth()).json["events"]
    assert [e["action"] for e in history] == ["flag.created"]
    assert database.audit.count_documents({"state": "pending"}) == 0


def test_audit__events_of_every_age__newest_first_and_paged_across_any_gap(app, client):
    # Given: events from now back to two years ago, with long quiet gaps between them (written as they would
    # have been then: an event's id carries its moment)
    now = utcnow()
    ages = [timedelta(0), timedelta(minutes=30), timedelta(hours=3), timedelta(days=2), timedelta(days=40),
            timedelta(days=730)]  # fmt: skip
    made = []
    for index, age in enumerate(ages):
        moment = now - age
        event_id = ObjectId(ObjectId.from_datetime(moment).binary[:4] + os.urandom(8))
        made.append(str(event_id))
        get_store(app).db.audit.insert_one(
            {"_id": event_id, "at": moment, "actor": "past", "action": "flag.toggled", "request_id": f"r{index}"}
        )

    # When: the log is read a page of two at a time, and since five days ago
    pages, before = [], None
    while True:
        page = client.get("/audit", query_string={"limit": 2, **({"before": before} if before else {})}).json
        pages.append([event["_id"] for event in page["events"]])
        before = page["next_before"]
        if before is None:
            break
    recent = events(client, since=(now - timedelta(days=5)).isoformat())

    # Then: every event once, newest first, and the filter keeps the newest four
    assert [event_id for page in pages for event_id in page] == made
    assert [event["_id"] for event in recent] == made[:4]
    assert [event["_id"] for event in events(client, actor="past", limit=5)] == made[:5]

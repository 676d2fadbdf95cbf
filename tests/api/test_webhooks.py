"""The /webhooks API: created, listed, read and deleted by admins, validated strictly, secrets never shown."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pymongo import MongoClient

from feature_flags.webhooks.models import MAX_URL_LENGTH, MAX_WEBHOOKS
from tests.support import auth

SECRET = "whsec-0123456789abcdef"
GOOD = {"url": "https://hooks.example.com/ff", "events": ["flag.*", "segment.created"], "secret": SECRET}
MISSING_ID = "0123456789abcdef01234567"


@pytest.fixture
def config(config):
    """A longer database bound: one test writes 50 webhooks in a row, and a single write that outwaits the ordinary
    second on two busy cores (answered 503, by design) is not what these tests are about."""
    return replace(config, db_timeout_ms=5_000)


def _create(client, **changes):
    response = client.post("/webhooks", json={**GOOD, **changes})
    assert response.status_code == 201, response.json
    return response.json


def test_create__valid_body__201_without_the_secret(client):
    response = client.post("/webhooks", json=GOOD)

    assert response.status_code == 201
    body = response.json
    assert set(body) == {"id", "url", "events", "format", "has_secret", "created_at", "created_by"}
    assert (body["url"], body["events"], body["format"]) == (GOOD["url"], GOOD["events"], "json")
    assert body["has_secret"] is True and body["created_by"] is not None
    assert SECRET not in response.get_data(as_text=True)


def test_create__no_secret_slack_format__has_secret_false(client):
    body = _create(client, secret=None, format="slack", events=["*"])
    assert (body["has_secret"], body["format"], body["events"]) == (False, "slack", ["*"])


def test_list_and_get__created_webhooks__shown_without_secrets(client):
    first = _create(client)
    second = _create(client, url="http://127.0.0.1:9000/hook", events=["token.*"])

    listed = client.get("/webhooks")
    fetched = client.get(f"/webhooks/{second['id']}")

    assert listed.status_code == 200 and [w["id"] for w in listed.json] == [first["id"], second["id"]]
    assert fetched.status_code == 200 and fetched.json == second
    assert SECRET not in listed.get_data(as_text=True)


def test_delete__existing__204_then_404_and_gone_from_list(client):
    webhook = _create(client)

    deleted = client.delete(f"/webhooks/{webhook['id']}")

    assert deleted.status_code == 204 and deleted.get_data() == b""
    assert client.get(f"/webhooks/{webhook['id']}").status_code == 404
    assert client.delete(f"/webhooks/{webhook['id']}").status_code == 404
    assert client.get("/webhooks").json == []


def test_create_and_delete__audited__without_secret_or_credentials(client, config):
    # Given a webhook whose address carries credentials and a secret path
    webhook = _create(client, url="https://user:pw@hooks.example.com/services/T0/B0/XYZ?token=abc")

    # When it is deleted
    client.delete(f"/webhooks/{webhook['id']}")

    # Then both changes are in the audit trail, saying where it went but no credential, path or secret
    events = client.get("/audit").json["events"]
    assert [e["action"] for e in events] == ["webhook.deleted", "webhook.created"]
    assert all(e["webhook_id"] == webhook["id"] for e in events)
    created = events[1]["after"]
    assert created == {
        "url": "https://hooks.example.com/…",
        "events": GOOD["events"],
        "format": "json",
        "has_secret": True,
    }
    assert events[0]["before"] == created and events[0]["after"] is None
    stored_audit = str(list(MongoClient(config.mongo_uri)[config.mongo_db].audit.find()))
    for leaked in (SECRET, "pw@", "XYZ", "token=abc"):
        assert leaked not in stored_audit


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"url": "ftp://hooks.example.com/ff"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": "https://hooks.example.com/with space"}, "url"),
        ({"url": "https://hooks.example.com:99999/"}, "url"),
        ({"url": "https://hooks.example.com/" + "a" * MAX_URL_LENGTH}, "url"),
        ({"url": 42}, "url"),
        ({"url": None}, "url"),
        ({"events": []}, "events"),
        ({"events": ["flag.exploded"]}, "events.0"),
        ({"events": ["flag.*", "flag.*"]}, "events"),
        ({"events": "flag.*"}, "events"),
        ({"events": ["*"] * 100}, "events"),
        ({"secret": "short"}, "secret"),
        ({"secret": "with spaces in the secret"}, "secret"),
        ({"secret": "x" * 257}, "secret"),
        ({"format": "xml"}, "format"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_create__bad_field__400_naming_it_and_nothing_written(client, changes, field):
    response = client.post("/webhooks", json={**GOOD, **changes})

    assert response.status_code == 400
    assert response.json["error"] == "validation_error"
    assert field in {detail["field"] for detail in response.json["details"]}
    assert client.get("/webhooks").json == []
    assert client.get("/audit").json["events"] == []


@pytest.mark.parametrize("missing", ["url", "events"])
def test_create__required_field_missing__400_naming_it(client, missing):
    body = {key: value for key, value in GOOD.items() if key != missing}
    response = client.post("/webhooks", json=body)
    assert response.status_code == 400 and response.json["details"][0]["field"] == missing


@pytest.mark.parametrize("body", [b"[]", b"not json", b""])
def test_create__not_a_json_object__400(client, body):
    response = client.post("/webhooks", data=body, content_type="application/json")
    assert response.status_code == 400 and response.json["error"] == "invalid_json"


def test_create__past_the_bound__400_too_many_and_nothing_written(client):
    for index in range(MAX_WEBHOOKS):
        _create(client, url=f"https://hooks.example.com/{index}")

    response = client.post("/webhooks", json=GOOD)

    assert response.status_code == 400 and response.json["error"] == "too_many_webhooks"
    assert len(client.get("/webhooks").json) == MAX_WEBHOOKS


@pytest.mark.parametrize("webhook_id", [MISSING_ID, "not-an-id"])
@pytest.mark.parametrize(("method", "suffix"), [("get", ""), ("delete", ""), ("post", "/test"), ("get", "/deliveries")])
def test_unknown_webhook__404_webhook_not_found(client, webhook_id, method, suffix):
    response = getattr(client, method)(f"/webhooks/{webhook_id}{suffix}")
    assert response.status_code == 404 and response.json["error"] == "webhook_not_found"


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("post", "", GOOD), ("get", "", None), ("get", "/{id}", None), ("delete", "/{id}", None),
     ("post", "/{id}/test", None), ("get", "/{id}/deliveries", None)],
)  # fmt: skip
def test_non_admin__401_without_token_403_with_client_token_and_nothing_changed(
    client, anonymous, method, suffix, body
):
    webhook = _create(client)
    client_token = client.post("/tokens", json={"name": "app", "role": "client", "environment": "production"}).json
    path = "/webhooks" + suffix.format(id=webhook["id"])

    unauthenticated = getattr(anonymous, method)(path, json=body)
    forbidden = getattr(anonymous, method)(path, json=body, headers=auth(client_token["token"]))

    assert unauthenticated.status_code == 401
    assert forbidden.status_code == 403
    assert client.get("/webhooks").json == [webhook]
    assert client.get(f"/webhooks/{webhook['id']}/deliveries").json == []


def test_test_delivery__queued__202_pending_and_listed(client):
    webhook = _create(client)

    response = client.post(f"/webhooks/{webhook['id']}/test")

    assert response.status_code == 202
    assert response.json["status"] == "pending" and response.json["action"] == "ping"
    assert [d["id"] for d in client.get(f"/webhooks/{webhook['id']}/deliveries").json] == [response.json["id"]]


def test_update__address_events_and_secret__changed_audited_without_secret(client, config):
    # Given a signed webhook
    webhook = _create(client)

    # When its address and events change, and then it stops signing
    moved = client.patch(
        f"/webhooks/{webhook['id']}", json={"url": "https://user:pw@other.example.com/x", "events": ["*"]}
    )
    unsigned = client.patch(f"/webhooks/{webhook['id']}", json={"secret": None})

    # Then each answer is the webhook as it now is; what was left out stayed
    assert moved.status_code == 200, moved.json
    assert (moved.json["url"], moved.json["events"], moved.json["format"]) == (
        "https://user:pw@other.example.com/x",
        ["*"],
        "json",
    )
    assert moved.json["has_secret"] is True
    assert unsigned.status_code == 200 and unsigned.json["has_secret"] is False
    assert client.get(f"/webhooks/{webhook['id']}").json == unsigned.json
    # And each change is audited, before and after, with no credential or secret
    events = client.get("/audit?action=webhook.updated").json["events"]
    assert [e["webhook_id"] for e in events] == [webhook["id"]] * 2
    assert events[1]["before"]["url"] == "https://hooks.example.com/…"
    assert events[1]["after"] == {
        "url": "https://other.example.com/…",
        "events": ["*"],
        "format": "json",
        "has_secret": True,
    }
    assert (events[0]["before"]["has_secret"], events[0]["after"]["has_secret"]) == (True, False)
    stored_audit = str(list(MongoClient(config.mongo_uri)[config.mongo_db].audit.find()))
    for leaked in (SECRET, "pw@"):
        assert leaked not in stored_audit


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({}, "(body)"),
        ({"url": None}, "(body)"),
        ({"events": []}, "events"),
        ({"events": ["flag.*", "flag.*"]}, "events"),
        ({"url": "ftp://hooks.example.com/ff"}, "url"),
        ({"url": "http://169.254.169.254/latest"}, "url"),
        ({"secret": "short"}, "secret"),
        ({"format": "xml"}, "format"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_update__bad_field__400_naming_it_and_nothing_changed(client, changes, field):
    webhook = _create(client)

    response = client.patch(f"/webhooks/{webhook['id']}", json=changes)

    assert response.status_code == 400, response.json
    assert field in {item["field"] for item in response.json["details"]}
    assert client.get(f"/webhooks/{webhook['id']}").json == webhook
    assert client.get("/audit?action=webhook.updated").json["events"] == []


def test_update__unknown_webhook__404(client):
    response = client.patch(f"/webhooks/{MISSING_ID}", json={"events": ["*"]})
    assert response.status_code == 404 and response.json["error"] == "webhook_not_found"

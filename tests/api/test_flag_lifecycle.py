"""Tags, types, archive and revive, and staleness: the fields that keep hundreds of flags in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from feature_flags.extensions import get_store
from feature_flags.usage import last_seen, usage_recorder


def create(client, name="checkout", **fields):
    response = client.post("/flags", json={"name": name, **fields})
    assert response.status_code == 201, response.json
    return response.json


def ofrep(client, name, environment="production"):
    return client.post(f"/ofrep/v1/evaluate/flags/{name}?environment={environment}", json={"context": {}})


# -- tags and types ---------------------------------------------------------------------------------


def test_create__tags__kept_as_a_sorted_set_and_read_back(client):
    create(client, tags=["payments", "checkout", "payments", "Team-A"])
    flag = client.get("/flags/checkout").json
    assert flag["tags"] == ["Team-A", "checkout", "payments"]


def test_create__no_tags_or_type__empty_and_release(client):
    flag = create(client)
    assert flag["tags"] == [] and flag["type"] == "release"
    assert flag["archived_at"] is None and flag["stale"] is False and flag["stale_reason"] is None
    assert flag["last_evaluated_at"] == {"development": None, "staging": None, "production": None}


def test_update__tags__replace_the_set_and_audited(client):
    flag = create(client, tags=["a", "b"])
    response = client.put(f"/flags/{flag['_id']}", json={"tags": ["c"]})
    assert response.status_code == 200 and response.json["tags"] == ["c"]
    assert client.get("/flags/checkout").json["tags"] == ["c"]
    event = client.get("/flags/checkout/history").json["events"][0]
    assert event["before"]["tags"] == ["a", "b"] and event["after"]["tags"] == ["c"]


@pytest.mark.parametrize("kind", ["release", "experiment", "operational", "kill-switch", "permission"])
def test_create__each_type__kept(client, kind):
    assert create(client, type=kind)["type"] == kind
    assert client.get("/flags/checkout").json["type"] == kind


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tags": ["has space"]}, "tags.0"),
        ({"tags": ["x" * 51]}, "tags.0"),
        ({"tags": [""]}, "tags.0"),
        ({"tags": [f"t{n}" for n in range(21)]}, "tags"),
        ({"tags": "payments"}, "tags"),
        ({"tags": [7]}, "tags.0"),
        ({"type": "forever"}, "type"),
        ({"type": None}, "type"),
    ],
)
def test_create__bad_tags_or_type__400_naming_the_field_and_nothing_created(client, body, field):
    response = client.post("/flags", json={"name": "checkout", **body})
    assert response.status_code == 400
    assert response.json["error"] == "validation_error"
    assert field in {item["field"] for item in response.json["details"]}
    assert client.get("/flags/checkout").status_code == 404


def test_update__bad_stale_value__400_and_unchanged(client):
    create(client)
    response = client.put("/flags/checkout", json={"stale": "yes"})
    assert response.status_code == 400 and response.json["details"][0]["field"] == "stale"
    assert client.get("/flags/checkout").json["version"] == 1


# -- archive and revive -------------------------------------------------------------------------------


def test_archive__not_served_by_ofrep_nor_listed_name_stays_taken(client):
    create(client, environments={"production": True})
    create(client, name="other", environments={"production": True})
    assert ofrep(client, "checkout").status_code == 200

    response = client.post("/flags/checkout/archive")

    assert response.status_code == 200
    assert response.json["archived_at"] is not None and response.json["version"] == 2
    missing = ofrep(client, "checkout")
    assert missing.status_code == 404 and missing.json["errorCode"] == "FLAG_NOT_FOUND"
    bulk = client.post("/ofrep/v1/evaluate/flags?environment=production", json={"context": {}}).json
    assert [entry["key"] for entry in bulk["flags"]] == ["other"]
    assert [flag["name"] for flag in client.get("/flags").json] == ["other"]
    assert [flag["name"] for flag in client.get("/flags?archived=true").json] == ["checkout"]
    # Still readable by name, and still taken
    assert client.get("/flags/checkout").json["archived_at"] == response.json["archived_at"]
    assert client.post("/flags", json={"name": "checkout"}).status_code == 409
    assert client.put("/flags/other", json={"name": "checkout"}).status_code == 409


def test_revive__served_and_listed_again_as_it_was(client):
    create(client, environments={"production": True}, tags=["t"])
    client.post("/flags/checkout/archive")

    response = client.post("/flags/checkout/revive")

    assert response.status_code == 200 and response.json["archived_at"] is None
    assert response.json["environments"]["production"] is True and response.json["tags"] == ["t"]
    assert ofrep(client, "checkout").json["value"] is True
    assert [flag["name"] for flag in client.get("/flags").json] == ["checkout"]


def test_archive_and_revive__audited_each_once(client):
    create(client)
    client.post("/flags/checkout/archive")
    client.post("/flags/checkout/archive")  # already archived: nothing changes, nothing recorded
    client.post("/flags/checkout/revive")
    actions = [event["action"] for event in client.get("/flags/checkout/history").json["events"]]
    assert actions == ["flag.revived", "flag.archived", "flag.created"]
    assert client.get("/flags/checkout").json["version"] == 3


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("put", "/flags/checkout", {"description": "changed"}),
        ("post", "/flags/checkout/toggle", {"environment": "production"}),
    ],
)
def test_archived_flag__changes_refused_409_until_revived(client, method, path, body):
    create(client)
    client.post("/flags/checkout/archive")

    refused = getattr(client, method)(path, json=body)

    assert refused.status_code == 409 and refused.json["error"] == "flag_archived"
    assert client.get("/flags/checkout").json["version"] == 2
    client.post("/flags/checkout/revive")
    assert getattr(client, method)(path, json=body).status_code == 200


@pytest.mark.parametrize("action", ["archive", "revive"])
def test_archive_and_revive__honour_if_match(client, action):
    flag = create(client)
    if action == "revive":
        flag = client.post("/flags/checkout/archive").json
    stale_tag = f'"{flag["_id"]}.{flag["version"] - 1}"'

    refused = client.post(f"/flags/checkout/{action}", headers={"If-Match": stale_tag})

    assert refused.status_code == 412
    assert client.get("/flags/checkout").json["version"] == flag["version"]
    current = client.get("/flags/checkout").headers["ETag"]
    assert client.post(f"/flags/checkout/{action}", headers={"If-Match": current}).status_code == 200


def test_delete__archived_flag__gone_for_good_and_name_free(client):
    create(client)
    client.post("/flags/checkout/archive")
    assert client.delete("/flags/checkout").status_code == 204
    assert client.get("/flags/checkout").status_code == 404
    assert client.get("/flags?archived=true").json == []
    assert client.post("/flags", json={"name": "checkout"}).status_code == 201


def test_archive__unknown_flag__404(client):
    assert client.post("/flags/nothing/archive").status_code == 404
    assert client.post("/flags/nothing/revive").status_code == 404


def test_archive__client_token__403(client, anonymous):
    create(client)
    secret = client.post("/tokens", json={"name": "app", "role": "client", "environment": "production"}).json["token"]
    response = anonymous.post("/flags/checkout/archive", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 403
    assert client.get("/flags/checkout").json["archived_at"] is None


# -- staleness ------------------------------------------------------------------------------------


def _age(app, name: str, days: float, **fields) -> None:
    """Make a flag look created days ago, before anything has loaded the flags (the snapshot reads it so)."""
    moment = datetime.now(UTC) - timedelta(days=days)
    get_store(app).db.flags.update_one({"name": name}, {"$set": {"created_at": moment, **fields}})


def _stored(app, name: str, **fields) -> None:
    get_store(app).create_flags([{"name": name, **fields}], actor="test")


def test_stale__marked_by_hand__reason_marked_and_unmarked(client):
    create(client)
    marked = client.put("/flags/checkout", json={"stale": True})
    assert marked.status_code == 200
    assert (marked.json["stale"], marked.json["stale_reason"]) == (True, "marked")
    assert client.get("/flags/checkout").json["stale_reason"] == "marked"
    unmarked = client.put("/flags/checkout", json={"stale": False}).json
    assert (unmarked["stale"], unmarked["stale_reason"]) == (False, None)


@pytest.mark.parametrize(
    ("kind", "days", "reason"),
    [
        ("release", 41, "lifetime"),
        ("release", 39, "unused"),  # past FF_STALE_AFTER_DAYS (30) and never evaluated
        ("release", 20, None),
        ("experiment", 41, "lifetime"),
        ("operational", 8, "lifetime"),
        ("operational", 6, None),
        ("kill-switch", 400, None),
        ("permission", 400, None),
    ],
)
def test_stale__by_type_and_age__reason(app, client, kind, days, reason):
    _stored(app, "old", type=kind)
    _age(app, "old", days)
    flag = client.get("/flags/old").json
    assert (flag["stale"], flag["stale_reason"]) == (reason is not None, reason)
    listed = client.get("/flags").json[0]
    assert listed["stale_reason"] == reason


def test_stale__marked_wins_over_lifetime(app, client):
    _stored(app, "old")
    _age(app, "old", 100, marked_stale=True)
    assert client.get("/flags/old").json["stale_reason"] == "marked"


def test_stale__stale_after_days_setting__moves_the_unused_bound(make_app):
    app = make_app(stale_after_days=10)
    _stored(app, "quiet")
    _age(app, "quiet", 12)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {app.config['FF'].admin_token}"
    assert client.get("/flags/quiet").json["stale_reason"] == "unused"


# -- staleness and usage ---------------------------------------------------------------------------


def _evaluated_and_flushed(app, client, name: str, environment: str = "production") -> None:
    assert ofrep(client, name, environment).status_code == 200
    usage_recorder(app).flush()
    last_seen(app).refresh(get_store(app))


def test_last_evaluated_at__after_an_evaluation_is_flushed__in_the_flag_and_the_list(app, client):
    create(client, environments={"production": True})
    assert client.get("/flags/checkout").json["last_evaluated_at"]["production"] is None
    etag = client.get("/flags/checkout").headers["ETag"]

    _evaluated_and_flushed(app, client, "checkout")

    single = client.get("/flags/checkout")
    seen = single.json["last_evaluated_at"]
    assert seen["production"] is not None and seen["staging"] is None and seen["development"] is None
    moment = datetime.fromisoformat(seen["production"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 30
    assert client.get("/flags").json[0]["last_evaluated_at"] == seen
    # Same version, another answer: the old ETag no longer gets a 304, but still names the version for If-Match
    assert single.headers["ETag"] != etag
    assert client.get("/flags/checkout", headers={"If-None-Match": etag}).status_code == 200
    assert client.put("/flags/checkout", json={"description": "x"}, headers={"If-Match": etag}).status_code == 200


def test_stale__old_but_evaluated_recently__not_stale(app, client):
    _stored(app, "busy", environments={"production": True})
    _age(app, "busy", 35)
    assert client.get("/flags/busy").json["stale_reason"] == "unused"

    _evaluated_and_flushed(app, client, "busy")

    flag = client.get("/flags/busy").json
    assert (flag["stale"], flag["stale_reason"]) == (False, None)
    assert client.get("/flags?stale=false").json[0]["name"] == "busy"


def test_stale__last_evaluated_longer_ago_than_the_bound__unused(app, client):
    _stored(app, "forgotten")
    _age(app, "forgotten", 35)
    flag_id = get_store(app).find_flag("forgotten")["_id"]
    long_ago = datetime.now(UTC) - timedelta(days=31)
    get_store(app).db.flag_usage.insert_one(
        {"_id": flag_id, "last_evaluated_at": {"staging": long_ago}, "updated_at": datetime.now(UTC)}
    )
    last_seen(app).refresh(get_store(app))

    flag = client.get("/flags/forgotten").json
    assert flag["stale_reason"] == "unused"
    assert flag["last_evaluated_at"]["staging"] is not None
    assert [f["name"] for f in client.get("/flags?stale=true").json] == ["forgotten"]


def test_stale__usage_tracking_off__never_called_unused(make_app):
    app = make_app(usage_tracking=False)
    _stored(app, "uncounted")
    _age(app, "uncounted", 35)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {app.config['FF'].admin_token}"
    assert client.get("/flags/uncounted").json["stale_reason"] is None


def test_delete__flag_with_usage__its_usage_goes_too(app, client):
    create(client, environments={"production": True})
    flag_id = client.get("/flags/checkout").json["_id"]
    _evaluated_and_flushed(app, client, "checkout")
    assert get_store(app).db.flag_usage.count_documents({"_id": flag_id}) == 1

    assert client.delete("/flags/checkout").status_code == 204

    assert get_store(app).db.flag_usage.count_documents({"_id": flag_id}) == 0
    assert get_store(app).db.usage_hours.count_documents({"flag_id": flag_id}) == 0


def test_stale__never_evaluated_itself_but_required_by_a_live_flag__not_unused(app, client):
    # Its evaluations happen on the dependent flag's behalf, and only the flag asked for is counted.
    _stored(app, "payments-enabled")
    _stored(
        app,
        "new-checkout",
        targeting={
            "production": {
                "rules": [],
                "serve": "on",
                "prerequisites": [{"flag": "payments-enabled", "variants": ["on"]}],
            }
        },
    )
    _age(app, "payments-enabled", 35)
    assert client.get("/flags/payments-enabled").json["stale_reason"] is None
    client.post("/flags/new-checkout/archive", query_string={"force": "true"})
    # Once nothing live requires it, it is as unused as its counts say
    assert client.get("/flags/payments-enabled").json["stale_reason"] == "unused"

"""The flags API over a real database: the contract clients rely on."""

from __future__ import annotations

import re

import pytest

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def create(client, name="new-checkout", **fields):
    response = client.post("/flags", json={"name": name, **fields})
    assert response.status_code == 201, response.json
    return response.json


def test_create__name_only__201_with_every_environment_off(client):
    # When a flag is created with only a name
    response = client.post("/flags", json={"name": "new-checkout"})

    # Then it starts off everywhere, at version 1, with UTC timestamps
    assert response.status_code == 201
    flag = response.json
    assert flag["name"] == "new-checkout"
    assert flag["description"] == ""
    assert flag["environments"] == {"development": False, "staging": False, "production": False}
    assert flag["version"] == 1
    assert re.fullmatch(r"[0-9a-f]{24}", flag["_id"])
    assert ISO_UTC.match(flag["created_at"]) and flag["created_at"] == flag["updated_at"]
    # The ETag starts with the version's tag, which If-Match names
    assert response.headers["ETag"].startswith(f'"{flag["_id"]}.1.')


def test_create__environments_given__kept_and_the_rest_off(client):
    flag = create(client, description="Redesign", environments={"production": True})
    assert flag["environments"] == {"development": False, "staging": False, "production": True}
    assert flag["description"] == "Redesign"


def test_get__by_id_and_by_name__same_flag(client):
    flag = create(client)
    by_id = client.get(f"/flags/{flag['_id']}")
    by_name = client.get("/flags/new-checkout")
    assert by_id.status_code == by_name.status_code == 200
    assert by_id.json == by_name.json == flag


@pytest.mark.parametrize("ident", ["missing", "0" * 24, "not a valid id!", "6b06e1398dca3459e6dd0b2"])
def test_get__unknown_or_malformed_id__404_json(client, ident):
    response = client.get(f"/flags/{ident}")
    assert response.status_code == 404
    assert response.json["error"] == "flag_not_found"
    assert response.json["message"]


def test_list__no_environment__staging_state_as_enabled(client):
    create(client, "a", environments={"staging": True})
    create(client, "b", environments={"production": True})

    response = client.get("/flags")

    assert response.status_code == 200
    assert [(f["name"], f["enabled"]) for f in response.json] == [("a", True), ("b", False)]


def test_list__production__production_state_as_enabled(client):
    create(client, "a", environments={"staging": True})
    create(client, "b", environments={"production": True})
    response = client.get("/flags?environment=production")
    assert [(f["name"], f["enabled"]) for f in response.json] == [("a", False), ("b", True)]


def test_list__empty_database__empty_array(client):
    response = client.get("/flags")
    assert response.status_code == 200 and response.json == []


def test_list__if_none_match_current_etag__304(client):
    create(client)
    first = client.get("/flags")
    again = client.get("/flags", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    client.post("/flags/new-checkout/toggle")
    changed = client.get("/flags", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200


def test_update__partial__only_given_fields_change_and_environments_merge(client):
    flag = create(client, description="old", environments={"staging": True})

    response = client.put(f"/flags/{flag['_id']}", json={"environments": {"production": True}})

    assert response.status_code == 200
    updated = response.json
    assert updated["environments"] == {"development": False, "staging": True, "production": True}
    assert updated["description"] == "old"
    assert updated["version"] == 2
    assert updated["updated_at"] >= flag["updated_at"]
    assert client.get("/flags/new-checkout").json == updated


def test_update__rename__old_name_gone_new_name_found(client):
    flag = create(client)
    response = client.put("/flags/new-checkout", json={"name": "checkout-v2", "description": "renamed"})
    assert response.status_code == 200
    assert response.json["name"] == "checkout-v2"
    assert client.get("/flags/new-checkout").status_code == 404
    assert client.get("/flags/checkout-v2").json["_id"] == flag["_id"]


def test_update__same_values__no_new_version(client):
    create(client, description="same")
    response = client.put("/flags/new-checkout", json={"description": "same"})
    assert response.status_code == 200 and response.json["version"] == 1


def test_update__unknown_flag__404(client):
    response = client.put("/flags/nope", json={"description": "x"})
    assert response.status_code == 404 and response.json["error"] == "flag_not_found"


def test_toggle__default_environment__staging_flips_and_version_advances(client):
    create(client)
    response = client.post("/flags/new-checkout/toggle")
    assert response.status_code == 200
    assert response.json["enabled"] is True
    assert response.json["environments"]["staging"] is True
    assert response.json["version"] == 2
    back = client.post("/flags/new-checkout/toggle", json={})
    assert back.json["enabled"] is False and back.json["version"] == 3


@pytest.mark.parametrize("environment", ["development", "staging", "production"])
def test_toggle__each_environment__only_that_one_flips(client, environment):
    create(client)
    response = client.post("/flags/new-checkout/toggle", json={"environment": environment})
    assert response.status_code == 200
    assert response.json["enabled"] is True
    stored = client.get("/flags/new-checkout").json["environments"]
    assert stored == {env: env == environment for env in stored}


def test_toggle__unknown_flag__404(client):
    assert client.post("/flags/nope/toggle").status_code == 404


def test_delete__existing__204_empty_and_gone(client):
    flag = create(client)
    response = client.delete(f"/flags/{flag['_id']}")
    assert response.status_code == 204 and response.data == b""
    assert client.get(f"/flags/{flag['_id']}").status_code == 404
    assert client.delete(f"/flags/{flag['_id']}").status_code == 404


def test_create__same_name_twice__409_and_one_flag(client):
    create(client)
    response = client.post("/flags", json={"name": "new-checkout"})
    assert response.status_code == 409
    assert response.json["error"] == "flag_name_taken"
    assert response.json["details"] == [
        {"field": "name", "message": "A flag with that name already exists.", "type": "flag_name_taken"}
    ]
    assert len(client.get("/flags").json) == 1


def test_update__rename_onto_taken_name__409_and_nothing_changed(client):
    create(client, "a")
    create(client, "b", description="kept")
    response = client.put("/flags/b", json={"name": "a", "description": "changed"})
    assert response.status_code == 409
    assert client.get("/flags/b").json["description"] == "kept"
    assert client.get("/flags/b").json["version"] == 1


def test_get__etag__from_version(client):
    flag = create(client)
    response = client.get(f"/flags/{flag['_id']}")
    assert response.headers["ETag"].startswith(f'"{flag["_id"]}.1.')
    assert client.get(f"/flags/{flag['_id']}", headers={"If-None-Match": response.headers["ETag"]}).status_code == 304


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("put", "/flags/new-checkout", {"description": "x"}),
        ("post", "/flags/new-checkout/toggle", {"environment": "production"}),
        ("delete", "/flags/new-checkout", None),
    ],
)
def test_write__stale_if_match__412_and_nothing_changed(client, method, path, body):
    # Given a client that read version 1, and a change made since
    flag = create(client)
    etag = client.get("/flags/new-checkout").headers["ETag"]
    client.post("/flags/new-checkout/toggle")

    # When it writes with its stale ETag
    response = getattr(client, method)(path, json=body, headers={"If-Match": etag})

    # Then the write is refused and the flag is as the other change left it
    assert response.status_code == 412
    assert response.json["error"] == "version_conflict"
    current = client.get(f"/flags/{flag['_id']}").json
    assert current["version"] == 2 and current["description"] == ""


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("put", "/flags/new-checkout", {"description": "x"}, 200),
        ("post", "/flags/new-checkout/toggle", {"environment": "production"}, 200),
        ("delete", "/flags/new-checkout", None, 204),
    ],
)
def test_write__current_if_match__applies(client, method, path, body, status):
    create(client)
    etag = client.get("/flags/new-checkout").headers["ETag"]
    response = getattr(client, method)(path, json=body, headers={"If-Match": etag})
    assert response.status_code == status


def test_write__if_match_star__applies_to_existing(client):
    create(client)
    response = client.put("/flags/new-checkout", json={"description": "x"}, headers={"If-Match": "*"})
    assert response.status_code == 200


def test_unknown_path__404_json(client):
    response = client.get("/nothing-here")
    assert response.status_code == 404
    assert response.json["error"] == "not_found"


@pytest.mark.parametrize(("method", "path"), [("patch", "/flags/x"), ("delete", "/flags"), ("put", "/flags")])
def test_wrong_method__405_json(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert response.json["error"] == "method_not_allowed"
    assert "Allow" in response.headers


def test_configured_environments__listed_and_validated(make_app):
    from tests.support import auth

    client = make_app(environments=("dev", "live")).test_client()
    created = client.post("/flags", json={"name": "x", "environments": {"live": True}}, headers=auth())
    assert created.status_code == 201
    assert created.json["environments"] == {"dev": False, "live": True}
    assert client.get("/flags?environment=staging", headers=auth()).status_code == 400
    assert client.get("/flags", headers=auth()).json[0]["enabled"] is False  # first environment by default

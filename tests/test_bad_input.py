"""Bad input: a clear JSON 4xx, never a 500, and nothing reaches the database."""

from __future__ import annotations

import pytest

LONG = "x" * 1001


@pytest.fixture
def flag(client):
    response = client.post("/flags", json={"name": "existing", "description": "kept"})
    assert response.status_code == 201
    return response.json


def assert_unchanged(client, flag):
    assert client.get("/flags/existing").json == flag
    assert [f["name"] for f in client.get("/flags").json] == ["existing"]


RAW_BODIES = [
    ("not json", b"name=x", "invalid_json"),
    ("truncated", b'{"name": "x"', "invalid_json"),
    ("array", b'[{"name": "x"}]', "invalid_json"),
    ("string", b'"x"', "invalid_json"),
    ("number", b"42", "invalid_json"),
    ("null", b"null", "invalid_json"),
    ("invalid utf-8", b'{"name": "\xff"}', "invalid_json"),
    ("empty", b"", "invalid_json"),
    ("nested too deeply", b"[" * 100_000, "invalid_json"),
    ("deep inside an object", b'{"name": "x", "description": ' + b"[" * 5000 + b"]" * 5000 + b"}", "invalid_json"),
]


@pytest.mark.parametrize(("case", "raw", "code"), RAW_BODIES, ids=[c[0] for c in RAW_BODIES])
@pytest.mark.parametrize(("method", "path"), [("post", "/flags"), ("put", "/flags/existing")])
def test_write__malformed_body__400_json_and_nothing_changed(client, flag, case, raw, code, method, path):
    response = getattr(client, method)(path, data=raw, content_type="application/json")
    assert response.status_code == 400, response.data
    assert response.json["error"] == code
    assert response.json["message"]
    assert_unchanged(client, flag)


CREATE_BODIES = [
    ("missing name", {"description": "x"}),
    ("empty name", {"name": ""}),
    ("name too long", {"name": "a" * 101}),
    ("name with space", {"name": "a b"}),
    ("name with dollar", {"name": "$where"}),
    ("name with slash", {"name": "a/b"}),
    ("name with html", {"name": "<b>x</b>"}),
    ("name not a string", {"name": 7}),
    ("name is object", {"name": {"$ne": None}}),
    ("description too long", {"name": "ok", "description": LONG}),
    ("description not a string", {"name": "ok", "description": ["x"]}),
    ("environments a string", {"name": "ok", "environments": "garbage"}),
    ("environments a list", {"name": "ok", "environments": ["production"]}),
    ("environment value a string", {"name": "ok", "environments": {"production": "true"}}),
    ("environment value a number", {"name": "ok", "environments": {"production": 1}}),
    ("unknown environment", {"name": "ok", "environments": {"prod": True}}),
    ("operator as environment", {"name": "ok", "environments": {"$set": True}}),
    ("dotted environment", {"name": "ok", "environments": {"production.x": True}}),
    ("unknown field", {"name": "ok", "enabled": True}),
    ("operator field", {"name": "ok", "$set": {"x": 1}}),
]


@pytest.mark.parametrize("body", [b for _, b in CREATE_BODIES], ids=[c for c, _ in CREATE_BODIES])
def test_create__invalid_fields__400_with_field_and_nothing_created(client, flag, body):
    response = client.post("/flags", json=body)
    assert response.status_code == 400, response.json
    assert response.json["error"] == "validation_error"
    assert response.json["details"][0]["field"]
    assert_unchanged(client, flag)


UPDATE_BODIES = [
    ("empty object", {}),
    ("environments garbage", {"environments": "garbage"}),
    ("unknown environment", {"environments": {"qa": True}}),
    ("bad name", {"name": "no spaces allowed"}),
    ("null name", {"name": None}),
    ("description too long", {"description": LONG}),
    ("unknown field", {"version": 99}),
    ("id field", {"_id": "0" * 24}),
]


@pytest.mark.parametrize("body", [b for _, b in UPDATE_BODIES], ids=[c for c, _ in UPDATE_BODIES])
def test_update__invalid_fields__400_and_nothing_changed(client, flag, body):
    response = client.put("/flags/existing", json=body)
    assert response.status_code == 400, response.json
    assert response.json["error"] == "validation_error"
    assert_unchanged(client, flag)


def test_update__garbage_environments__list_keeps_working(client, flag):
    # The old service stored this and then answered 500 to every list.
    client.put("/flags/existing", json={"environments": "garbage"})
    response = client.get("/flags")
    assert response.status_code == 200 and response.json[0]["name"] == "existing"


@pytest.mark.parametrize(
    "body",
    [{"environment": "prod"}, {"environment": 1}, {"environment": "$ne"}, {"env": "production"}, [1]],
)
def test_toggle__bad_body__400_and_nothing_changed(client, flag, body):
    response = client.post("/flags/existing/toggle", json=body)
    assert response.status_code == 400
    assert response.json["error"] in {"validation_error", "invalid_json"}
    assert_unchanged(client, flag)


@pytest.mark.parametrize("environment", ["prod", "", "$where", "production,staging"])
def test_list__unknown_environment__400_naming_the_known_ones(client, flag, environment):
    response = client.get("/flags", query_string={"environment": environment})
    assert response.status_code == 400
    assert response.json["error"] == "unknown_environment"
    assert response.json["environments"] == ["development", "staging", "production"]


def test_create__description_at_limit__accepted(client):
    response = client.post("/flags", json={"name": "ok", "description": "x" * 1000})
    assert response.status_code == 201


@pytest.mark.parametrize("name", ["a", "A.b-c_d", "9" * 100, "release.2026.q4"])
def test_create__valid_names__accepted(client, name):
    assert client.post("/flags", json={"name": name}).status_code == 201


def test_create__body_over_one_megabyte__413_json(client, flag):
    big = b'{"name": "big", "description": "' + b"x" * (1024 * 1024) + b'"}'
    response = client.post("/flags", data=big, content_type="application/json")
    assert response.status_code == 413
    assert response.json["error"] == "request_entity_too_large"
    assert_unchanged(client, flag)


def test_create__json_without_content_type__accepted(client):
    # curl -d without -H sends form encoding; the body is still JSON and is read as such.
    response = client.post("/flags", data='{"name": "plain"}')
    assert response.status_code == 201

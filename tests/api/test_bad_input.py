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
    ("NaN in a variant", b'{"name": "n", "variants": {"on": {"x": NaN}, "off": {"x": 1}}}', "invalid_json"),
    ("Infinity in a variant", b'{"name": "n", "variants": {"on": Infinity, "off": 0}}', "invalid_json"),
    (
        "-Infinity in a condition",
        b'{"name": "n", "targeting": {"production": {"rules": [{"when": [{"attribute": "a", "op": "in", '
        b'"values": [-Infinity]}], "serve": "on"}]}}}',
        "invalid_json",
    ),
    ("deep inside an object", b'{"name": "x", "description": ' + b"[" * 5000 + b"]" * 5000 + b"}", "invalid_json"),
    ("a key twice", b'{"name": "x", "description": "a", "description": "b"}', "invalid_json"),
    (
        "a key twice, nested",
        b'{"name": "x", "environments": {"production": false, "production": true}}',
        "invalid_json",
    ),
]


@pytest.mark.parametrize(
    ("path", "raw", "key"),
    [
        ("/flags", b'{"name": "a", "name": "b"}', "name"),
        ("/segments", b'{"name": "s", "conditions": [], "conditions": []}', "conditions"),
        ("/tokens", b'{"name": "t", "role": "client", "role": "admin"}', "role"),
    ],
)
def test_body__a_key_given_twice__400_naming_it_and_nothing_made(client, flag, path, raw, key):
    # When: a body names one key twice (JSON leaves which one counts undefined)
    response = client.post(path, data=raw, content_type="application/json")

    # Then: refused, naming the key, and nothing was made
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_json" and repr(key) in response.json["message"]
    assert response.json["details"] == [{"field": key, "message": "given twice", "type": "duplicate_key"}]
    assert_unchanged(client, flag)
    assert client.get("/segments").json == [] and [t["name"] for t in client.get("/tokens").json] == []


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
    ("name of 24 hex digits, like an id", {"name": "5f0c2a9e1b3d4c5e6f708192"}),
    ("name of 24 hex digits in capitals", {"name": "5F0C2A9E1B3D4C5E6F708192"}),
    ("name a dot", {"name": "."}),
    ("name only dots", {"name": ".."}),
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


@pytest.mark.parametrize("name", ["a", "A.b-c_d", "9" * 100, "release.2026.q4", "5f0c2a9e1b3d4c5e6f70819", "..a"])
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


def test_rename__to_another_flags_id__400_and_both_flags_unchanged(client, flag):
    # Given a second flag, whose id is 24 hex digits
    other = client.post("/flags", json={"name": "other"}).json

    # When the first is renamed to that id
    response = client.put("/flags/existing", json={"name": other["_id"]})

    # Then it is refused, naming the field, and the id still finds the second flag
    assert response.status_code == 400
    assert response.json["details"][0]["field"] == "name"
    assert "flag id" in response.json["message"]
    assert client.get(f"/flags/{other['_id']}").json["name"] == "other"
    assert client.get("/flags/existing").json == flag


def test_json_out__non_finite_number__refused_rather_than_emitted(app):
    # Whatever reaches a response, it is standard JSON or nothing: NaN and Infinity raise.
    with app.app_context():
        for value in (float("nan"), float("inf"), float("-inf")):
            with pytest.raises(ValueError):
                app.json.dumps({"x": value})
        assert app.json.dumps({"x": 1.5}) == '{"x": 1.5}'


def _rule(conditions: int = 1, values: int = 1, value: str = "v") -> dict:
    return {"when": [{"attribute": "plan", "op": "in", "values": [value] * values}] * conditions, "serve": "on"}


OVERSIZED_TARGETING = [
    ("51 rules in an environment", {"rules": [_rule()] * 51}),
    ("21 conditions in a rule", {"rules": [_rule(conditions=21)]}),
    ("1,001 values in a condition", {"rules": [_rule(values=1001)]}),
    ("a condition value of 1,025 characters", {"rules": [_rule(value="v" * 1025)]}),
]


@pytest.mark.parametrize("targeting", [t for _, t in OVERSIZED_TARGETING], ids=[c for c, _ in OVERSIZED_TARGETING])
def test_write__targeting_over_its_bounds__400_and_nothing_changed(client, flag, targeting):
    for response in (
        client.post("/flags", json={"name": "big", "targeting": {"production": targeting}}),
        client.put("/flags/existing", json={"targeting": {"production": targeting}}),
    ):
        assert response.status_code == 400, response.json
        assert response.json["error"] == "validation_error"
        assert response.json["details"][0]["field"].startswith("targeting.production")
    assert_unchanged(client, flag)


def test_write__targeting_at_its_bounds__accepted(client):
    targeting = {"rules": [_rule(conditions=20, value="v" * 1024)] + [_rule()] * 49}
    response = client.post("/flags", json={"name": "at-bounds", "targeting": {"production": targeting}})
    assert response.status_code == 201, response.json
    assert len(response.json["targeting"]["production"]["rules"]) == 50


def test_create__flag_over_64_kib__413_naming_the_limit_and_nothing_created(client, flag):
    # Given variants that are small each but 70 KB together
    variants = {f"v{i}": {"text": "x" * 700} for i in range(100)}
    response = client.post(
        "/flags",
        json={
            "name": "huge",
            "variants": variants,
            "off_variant": "v0",
            "targeting": {env: {"serve": "v1"} for env in ("development", "staging", "production")},
        },
    )
    assert response.status_code == 413, response.json
    assert response.json["error"] == "flag_too_large"
    assert response.json["limit_bytes"] == 65536
    assert "65,536" in response.json["message"]
    assert_unchanged(client, flag)


def test_update__growing_a_flag_past_64_kib__413_and_nothing_changed(client, flag):
    # Given a flag of about 40 KB in one environment's rules
    rules = [_rule(values=40, value="u" * 20)] * 50
    assert client.put("/flags/existing", json={"targeting": {"production": {"rules": rules}}}).status_code == 200
    flag = client.get("/flags/existing").json

    # When another environment's targeting would take it past the bound (each change alone is small enough)
    response = client.put("/flags/existing", json={"targeting": {"staging": {"rules": rules}}})

    # Then it is refused and the flag is as it was
    assert response.status_code == 413, response.json
    assert response.json["error"] == "flag_too_large"
    assert_unchanged(client, flag)


def test_ofrep__a_context_key_given_twice__parse_error_naming_it(client, flag):
    raw = b'{"context": {"targetingKey": "u", "targetingKey": "v"}}'
    response = client.post("/ofrep/v1/evaluate/flags/existing", data=raw, content_type="application/json")
    assert response.status_code == 400, response.json
    assert response.json["errorCode"] == "PARSE_ERROR" and "'targetingKey' twice" in response.json["errorDetails"]


# What the validator would have said, never shown: its type names and "after validation" are not for people.
VALIDATOR_WORDING = ("Input should", "List should", "String should", "Value error", "Field required", "Extra inputs")


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"targeting": {"production": {"rules": [{"when": [], "serve": "on"}]}}},
            "targeting.production.rules.0.when",
            "a rule needs at least one condition or segment",
        ),
        ({"description": 5}, "description", "give text (a JSON string)"),
        ({"colour": "red"}, "colour", "this field is not one the API takes here"),
        ({"stale": "yes"}, "stale", "give true or false"),
        ({"description": LONG * 2}, "description", "use at most 1000 characters"),
        (
            {"targeting": {"production": {"serve": {"on": 50.5, "off": 49.5}}}},
            "targeting.production.serve.split.on",
            "give a whole number",
        ),
    ],
)
def test_update__refusals__worded_for_people_and_nothing_changed(client, flag, body, field, message):
    # When
    response = client.put("/flags/existing", json=body)

    # Then: each refusal names its field and says what to do, in words a person reads
    assert response.status_code == 400
    details = {item["field"]: item["message"] for item in response.json["details"]}
    assert details.get(field) == message, details
    for item in response.json["details"]:
        assert not any(words in item["message"] for words in VALIDATOR_WORDING), item
    assert_unchanged(client, flag)

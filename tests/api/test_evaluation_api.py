"""Variants, targeting and stickiness through the flags API: defaults, storage and strict validation."""

from __future__ import annotations

import pytest
from pymongo import MongoClient

TARGETING = {
    "production": {
        "rules": [
            {"when": [{"attribute": "plan", "op": "in", "values": ["pro", "team"]}], "serve": "green"},
            {
                "when": [{"attribute": "version", "op": "semver_gte", "values": ["2.0.0"]}],
                "serve": {"green": 30, "blue": 70},
            },
        ],
        "serve": "blue",
    }
}
COLOUR_FLAG = {
    "name": "button-colour",
    "variants": {"blue": "#00f", "green": "#0f0"},
    "off_variant": "blue",
    "targeting": {**TARGETING, "development": {"serve": "green"}, "staging": {"serve": "blue"}},
    "stickiness": "accountId",
}


def test_create__no_evaluation_fields__boolean_defaults(client):
    # When
    created = client.post("/flags", json={"name": "plain"})
    # Then
    assert created.status_code == 201
    read = client.get("/flags/plain").json
    for flag in (created.json, read):
        assert flag["variants"] == {"on": True, "off": False}
        assert flag["off_variant"] == "off"
        assert flag["targeting"] == {}
        assert flag["stickiness"] == "targetingKey"


def test_create__string_variants_with_targeting__stored_and_returned(client, config):
    # When
    created = client.post("/flags", json=COLOUR_FLAG)
    # Then
    assert created.status_code == 201, created.json
    read = client.get("/flags/button-colour").json
    assert read["variants"] == COLOUR_FLAG["variants"]
    assert read["off_variant"] == "blue"
    assert read["stickiness"] == "accountId"
    assert read["targeting"]["production"] == TARGETING["production"]
    assert read["targeting"]["development"] == {"rules": [], "serve": "green"}
    # And the document in the database carries them
    with MongoClient(config.mongo_uri) as mongo:
        stored = mongo[config.mongo_db].flags.find_one({"name": "button-colour"})
    assert stored["targeting"]["production"]["rules"][1]["serve"] == {"green": 30, "blue": 70}


@pytest.mark.parametrize(
    "variants",
    [{"small": 1, "large": 1000.5}, {"light": {"bg": "#fff", "nested": {"a": [1, 2]}}, "dark": {"bg": "#000"}}],
)
def test_create__number_and_object_variants__accepted(client, variants):
    names = list(variants)
    body = {
        "name": "typed",
        "variants": variants,
        "off_variant": names[0],
        "targeting": {env: {"serve": names[1]} for env in ("development", "staging", "production")},
    }
    response = client.post("/flags", json=body)
    assert response.status_code == 201, response.json
    assert client.get("/flags/typed").json["variants"] == variants


def test_read__flag_stored_before_variants__defaults(client, config):
    # Given: a flag document as the seed stored it, without the evaluation fields
    with MongoClient(config.mongo_uri) as mongo:
        mongo[config.mongo_db].flags.insert_one(
            {"name": "legacy", "description": "", "environments": {"production": True}, "version": 1,
             "created_at": None, "updated_at": None}
        )  # fmt: skip
    # When
    flag = client.get("/flags/legacy").json
    # Then
    assert (flag["variants"], flag["off_variant"], flag["targeting"], flag["stickiness"]) == (
        {"on": True, "off": False},
        "off",
        {},
        "targetingKey",
    )


def test_update__targeting_one_environment__merged_and_versioned(client):
    client.post("/flags", json=COLOUR_FLAG)
    # When: staging gets a rule; the others keep theirs
    staging = {
        "rules": [{"when": [{"attribute": "country", "op": "in", "values": ["NZ"]}], "serve": "green"}],
        "serve": "blue",
    }
    response = client.put("/flags/button-colour", json={"targeting": {"staging": staging}})
    # Then
    assert response.status_code == 200, response.json
    flag = client.get("/flags/button-colour").json
    assert flag["version"] == 2
    assert flag["targeting"]["staging"] == staging
    assert flag["targeting"]["production"] == TARGETING["production"]


def test_update__null_targeting__environment_falls_back_to_default(client):
    client.post("/flags", json={"name": "f", "targeting": {"production": {"serve": {"on": 10, "off": 90}}}})
    response = client.put("/flags/f", json={"targeting": {"production": None}})
    assert response.status_code == 200
    assert client.get("/flags/f").json["targeting"] == {}


def test_create__split_percentage_written_with_fraction_zero__stored_as_integer(client):
    # 30.0 is the integer 30 to JSON (and to the OpenAPI document's "type": "integer")
    response = client.post(
        "/flags", json={"name": "f", "targeting": {"production": {"serve": {"on": 30.0, "off": 70}}}}
    )
    assert response.status_code == 201, response.json
    served = client.get("/flags/f").json["targeting"]["production"]["serve"]
    assert served == {"on": 30, "off": 70} and type(served["on"]) is int


def test_create__weighted_seed_written_with_fraction_zero__stored_as_integer(client):
    serve = {"weights": {"on": 1, "off": 1}, "seed": 4799.0}
    response = client.post("/flags", json={"name": "f", "targeting": {"production": {"serve": serve}}})
    assert response.status_code == 201, response.json
    seed = client.get("/flags/f").json["targeting"]["production"]["serve"]["seed"]
    assert seed == 4799 and type(seed) is int


def test_update__variants_and_stickiness__replaced(client):
    client.post("/flags", json={"name": "f"})
    body = {
        "variants": {"on": "enabled", "off": "disabled"},
        "stickiness": "userId",
    }
    response = client.put("/flags/f", json=body)
    assert response.status_code == 200, response.json
    flag = client.get("/flags/f").json
    assert (flag["variants"], flag["stickiness"]) == (body["variants"], "userId")
    history = client.get("/flags/f/history").json
    events = history["events"] if isinstance(history, dict) else history
    assert events[0]["after"]["variants"] == body["variants"]


def test_update__removing_a_served_variant__400_names_the_rule(client):
    client.post("/flags", json=COLOUR_FLAG)
    # When: green is dropped though production's first rule serves it
    response = client.put("/flags/button-colour", json={"variants": {"blue": "#00f", "red": "#f00"}})
    # Then
    assert response.status_code == 400
    fields = {detail["field"] for detail in response.json["details"]}
    assert "targeting.production.rules.0.serve" in fields
    assert client.get("/flags/button-colour").json["version"] == 1


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"k": value}
    return value


def _valid(**changes) -> dict:
    return {**COLOUR_FLAG, **changes}


def _rule(condition: dict, serve="green") -> dict:
    return {"production": {"rules": [{"when": [condition], "serve": serve}], "serve": "blue"}}


BAD_FLAGS = [
    pytest.param(_valid(variants={"blue": "#00f", "green": 1}), "variants", id="mixed value types"),
    pytest.param(_valid(variants={"blue": "#00f", "green": None}), "variants", id="null value"),
    pytest.param(_valid(variants={"blue": "#00f", "green": [1]}), "variants", id="list value"),
    pytest.param(_valid(variants={}), "variants", id="no variants"),
    pytest.param(_valid(variants={"blue": {"$set": 1}, "green": {}}), "variants", id="dollar key in object value"),
    pytest.param(_valid(variants={"blue": _nested(40), "green": {}}), "variants", id="object nested too deep"),
    pytest.param(_valid(variants={"bl.ue": "#00f", "green": "#0f0"}), "variants.bl.ue.[key]", id="dot in variant name"),
    pytest.param(_valid(off_variant="red"), "off_variant", id="unknown off variant"),
    pytest.param(
        _valid(targeting={**COLOUR_FLAG["targeting"], "production": {"serve": "red"}}),
        "targeting.production.serve",
        id="unknown serve variant",
    ),
    pytest.param(
        _valid(targeting={**COLOUR_FLAG["targeting"], "production": {"serve": {"blue": 50, "green": 40}}}),
        "targeting.production.serve.split",
        id="split not adding to 100",
    ),
    pytest.param(
        _valid(targeting={**COLOUR_FLAG["targeting"], "production": {"serve": {"blue": 50.5, "green": 49.5}}}),
        "targeting.production.serve.split.blue",
        id="fractional split",
    ),
    pytest.param(
        _valid(targeting={**COLOUR_FLAG["targeting"], "production": {"serve": {"blue": 50, "red": 50}}}),
        "targeting.production.serve",
        id="split with unknown variant",
    ),
    pytest.param(
        _valid(targeting={**COLOUR_FLAG["targeting"], "production": {"serve": 3}}),
        "targeting.production.serve",
        id="serve neither name nor split",
    ),
    pytest.param(
        _valid(targeting={"prod": {"serve": "blue"}}),
        "targeting",
        id="unknown environment",
    ),
    pytest.param(
        _valid(targeting=_rule({"attribute": "plan", "op": "matches", "values": ["x"]})),
        "targeting.production.rules.0.when.0.op",
        id="unknown op",
    ),
    pytest.param(
        _valid(targeting=_rule({"attribute": "$where", "op": "in", "values": ["x"]})),
        "targeting.production.rules.0.when.0.attribute",
        id="dollar in attribute",
    ),
    pytest.param(
        _valid(targeting=_rule({"attribute": "plan", "op": "in", "values": []})),
        "targeting.production.rules.0.when.0.values",
        id="no values",
    ),
    pytest.param(
        _valid(targeting=_rule({"attribute": "age", "op": "gt", "values": ["18"]})),
        "targeting.production.rules.0.when.0.values",
        id="number op with a string",
    ),
    pytest.param(
        _valid(targeting=_rule({"attribute": "age", "op": "gt", "values": [1, 2]})),
        "targeting.production.rules.0.when.0.values",
        id="number op with two values",
    ),
    pytest.param(
        _valid(targeting=_rule({"attribute": "v", "op": "semver_lt", "values": ["v1.0"]})),
        "targeting.production.rules.0.when.0.values",
        id="invalid semver",
    ),
    pytest.param(
        _valid(targeting=_rule({"attribute": "at", "op": "before", "values": ["2030-01-01"]})),
        "targeting.production.rules.0.when.0.values",
        id="date without time zone",
    ),
    pytest.param(
        _valid(targeting=_rule({"attribute": "e", "op": "contains", "values": [1]})),
        "targeting.production.rules.0.when.0.values",
        id="string op with a number",
    ),
    pytest.param(
        _valid(targeting=_rule({"attribute": "p", "op": "in", "values": ["x"]}, serve="red")),
        "targeting.production.rules.0.serve",
        id="rule serves unknown variant",
    ),
    pytest.param(
        _valid(targeting={"production": {"rules": [{"when": [], "serve": "blue"}]}}),
        "targeting.production.rules.0.when",
        id="rule without conditions",
    ),
    pytest.param(
        _valid(targeting=_rule({"attribute": "p", "op": "in", "values": ["x"], "extra": 1})),
        "targeting.production.rules.0.when.0.extra",
        id="unknown condition field",
    ),
    pytest.param(_valid(stickiness="$id"), "stickiness", id="dollar in stickiness"),
    pytest.param(
        {"name": "colours", "variants": {"red": "r", "blue": "b"}, "off_variant": "red"},
        "targeting.development.serve",
        id="no 'on' variant and no serve",
    ),
]


@pytest.mark.parametrize(("body", "field"), BAD_FLAGS)
def test_create__invalid_evaluation_fields__400_with_field_path(client, body, field):
    # When
    response = client.post("/flags", json=body)
    # Then
    assert response.status_code == 400, response.json
    assert response.json["error"] == "validation_error"
    assert field in [detail["field"] for detail in response.json["details"]], response.json
    assert client.get(f"/flags/{body['name']}").status_code == 404


@pytest.mark.parametrize(("body", "field"), BAD_FLAGS[:-1])
def test_update__invalid_evaluation_fields__400_and_unchanged(client, body, field):
    client.post("/flags", json=COLOUR_FLAG)
    changes = {key: value for key, value in body.items() if key != "name"}
    response = client.put("/flags/button-colour", json=changes)
    assert response.status_code == 400, response.json
    assert any(detail["field"].startswith(field.split(".[key]")[0]) for detail in response.json["details"])
    assert client.get("/flags/button-colour").json["version"] == 1


def test_create__weighted_split__stored_and_served_as_given(client):
    split = {"weights": {"a": 600, "b": 400}, "seed": 86028157, "group": "exp-1", "stickiness": "userId"}
    # 86028157.0 is the integer 86028157 to JSON, as a whole percentage is
    written = {**split, "seed": 86028157.0}
    body = {"name": "w", "variants": {"a": "A", "b": "B"}, "off_variant": "a", "environments": {"production": True},
            "targeting": {env: {"serve": written} for env in ("development", "staging", "production")}}  # fmt: skip

    response = client.post("/flags", json=body)

    assert response.status_code == 201, response.json
    assert client.get("/flags/w").json["targeting"]["production"]["serve"] == split


@pytest.mark.parametrize(
    ("serve", "field"),
    [
        ({"weights": {"on": 0, "off": 0}}, "targeting.production.serve.weighted.weights"),
        ({"weights": {"on": 1, "blue": 1}}, "targeting.production.serve"),
        ({"weights": {"on": 1}, "seed": -1}, "targeting.production.serve.weighted.seed"),
        ({"weights": {"on": 1}, "group": ""}, "targeting.production.serve.weighted.group"),
        ({"weights": {"on": 1}, "stickiness": "$where"}, "targeting.production.serve.weighted.stickiness"),
        ({"weights": {"on": 100_001}}, "targeting.production.serve.weighted.weights.on"),
        ({"weights": {"on": 1}, "extra": 1}, "targeting.production.serve.weighted.extra"),
    ],
)
def test_create__bad_weighted_split__400_naming_the_field_and_nothing_written(client, serve, field):
    response = client.post("/flags", json={"name": "w", "targeting": {"production": {"serve": serve}}})

    assert response.status_code == 400, response.json
    assert field in [item["field"] for item in response.json["details"]], response.json
    assert client.get("/flags/w").status_code == 404

"""Unleash's client-specification documents, imported through POST /import?format=unleash and evaluated via OFREP.

Every test of each document either gives Unleash's expected answer here, or its feature is listed as unmapped:
none is skipped silently. An OFREP error (a context without the value a condition compares) is what an OpenFeature
client turns into its default, false, as Unleash answers such a context.
"""

from __future__ import annotations

import json
from pathlib import Path

import mmh3
import pytest

VECTORS = Path(__file__).resolve().parents[1] / "data" / "unleash-client-specification"
SPECIFICATIONS = sorted(path.name for path in VECTORS.glob("*.json"))
IMPORT = "/import?format=unleash&environment=production"


def flat(context: dict) -> dict:
    """Unleash's context with its properties as attributes of their own, as an OpenFeature context has them."""
    attributes = {key: value for key, value in context.items() if key != "properties"}
    attributes.update(context.get("properties") or {})
    return attributes


def evaluated(client, name: str, context: dict) -> tuple[int, dict]:
    response = client.post(f"/ofrep/v1/evaluate/flags/{name}?environment=production", json={"context": flat(context)})
    assert response.status_code in (200, 400, 404), response.json
    return response.status_code, response.json


def enabled(client, name: str, context: dict) -> bool | None:
    """Unleash's isEnabled through OFREP: an on/off flag's variant, a variant flag's feature_enabled."""
    status, answer = evaluated(client, name, context)
    if status == 404:
        return None
    if status == 400:
        return False
    if isinstance(answer["value"], dict):
        return answer["value"]["feature_enabled"]
    return answer["variant"] == "on"


DISABLED = {"name": "disabled", "enabled": False, "feature_enabled": False}


def variant(client, name: str, context: dict) -> dict:
    """Unleash's getVariant through OFREP: a variant flag's value, or the disabled variant of an on/off flag."""
    status, answer = evaluated(client, name, context)
    if status != 200:
        # Unknown, or an error an OpenFeature client turns into its default: Unleash's disabled variant.
        return DISABLED
    if isinstance(answer["value"], dict):
        return answer["value"]
    return {**DISABLED, "feature_enabled": answer["variant"] == "on"}


@pytest.mark.parametrize("file_name", SPECIFICATIONS)
def test_unleash_specification__imported__expected_results_or_listed_unmapped(client, file_name):
    # Given the document's state, planned and then imported into production
    spec = json.loads((VECTORS / file_name).read_text())
    plan = client.post(f"{IMPORT}&dry_run=true", json=spec["state"])
    assert plan.status_code == 200, plan.json
    unmapped = {part["flag"] for part in plan.json["unmapped"]}
    imported = client.post(f"{IMPORT}&allow_partial=true", json=spec["state"])
    assert imported.status_code == 200, imported.json

    # When each test's context is evaluated
    features = {feature["name"] for feature in spec["state"]["features"]}
    matched = 0
    for test in spec.get("tests", []):
        answer = enabled(client, test["toggleName"], test["context"])
        if answer is None and test["toggleName"] not in features:
            answer = False  # a feature Unleash does not know is off there too
        # Then the answer is Unleash's, or the feature was listed as unmapped
        if answer is not test["expectedResult"]:
            assert test["toggleName"] in unmapped, (test["description"], answer)
        else:
            matched += test["toggleName"] not in unmapped
    for test in spec.get("variantTests", []):
        answer = variant(client, test["toggleName"], test["context"])
        if answer != test["expectedResult"]:
            assert test["toggleName"] in unmapped, (test["description"], answer)
        else:
            matched += test["toggleName"] not in unmapped
    # And the file proves something: unless every feature is unmapped, some answers were compared and equal
    if features - unmapped:
        assert matched > 0


def test_unleash_import__unmapped_parts__refused_without_allow_partial_and_nothing_written(client):
    state = json.loads((VECTORS / "08-variants.json").read_text())["state"]

    response = client.post(IMPORT, json=state)

    assert response.status_code == 400
    assert response.json["error"] == "unmapped"
    assert {"flag", "what", "why"} <= set(response.json["unmapped"][0])
    assert client.get("/flags").json == []


def test_unleash_import__rollout__same_buckets_as_unleash_and_other_environments_kept(client):
    # Given a flag already on in staging, and an Unleash 30 % rollout by userId with the feature's name as groupId
    client.post("/flags", json={"name": "checkout", "environments": {"staging": True}})
    state = {
        "version": 1,
        "features": [{"name": "checkout", "enabled": True, "strategies": [{"name": "flexibleRollout", "parameters": {
            "rollout": "30", "stickiness": "userId", "groupId": "checkout"}, "constraints": [
            {"contextName": "country", "operator": "IN", "values": ["NO"]}]}]}],
    }  # fmt: skip

    response = client.post(IMPORT, json=state)

    assert response.status_code == 200, response.json
    flag = client.get("/flags/checkout").json
    assert flag["environments"] == {"development": False, "staging": True, "production": True}
    assert flag["stickiness"] == "userId"
    # userId 174 is in a 10 % rollout of Feature.flexibleRollout.10; here bucket("checkout", u) decides as Unleash does
    from feature_flags.evaluation.engine import bucket

    for user in ("1", "2", "174", "499", "u-9"):
        expected = bucket("checkout", user) <= 30
        assert enabled(client, "checkout", {"userId": user, "properties": {"country": "NO"}}) is expected
        assert enabled(client, "checkout", {"userId": user, "properties": {"country": "SE"}}) is False


@pytest.mark.parametrize(
    ("strategy", "what"),
    [
        ({"name": "remoteAddress", "parameters": {"IPs": "10.0.0.1"}}, "strategies.0.name"),
        ({"name": "flexibleRollout", "parameters": {"rollout": "50", "stickiness": "userId"},
          "variants": [{"name": "a", "weight": 500}, {"name": "b", "weight": 500}]},
         "strategies.0.parameters.rollout"),
        ({"name": "default", "variants": [{"name": "disabled", "weight": 1}]}, "strategies.0.variants.0.name"),
        ({"name": "default", "variants": [{"name": "a", "weight": 1, "stickiness": "random"},
                                          {"name": "b", "weight": 1}]}, "strategies.0.variants.0.stickiness"),
        ({"name": "default", "constraints": [{"contextName": "a", "operator": "STR_CONTAINS", "values": ["X"],
                                              "caseInsensitive": True}]}, "strategies.0.constraints.0.caseInsensitive"),
        ({"name": "default", "constraints": [{"contextName": "v", "operator": "SEMVER_EQ", "value": "1.0.0"}]},
         "strategies.0.constraints.0.operator"),
    ],
)  # fmt: skip
def test_unleash_import__inexpressible_part__listed_with_its_path(client, strategy, what):
    state = {"version": 1, "features": [{"name": "f", "enabled": True, "strategies": [strategy]}]}

    response = client.post(f"{IMPORT}&dry_run=true", json=state)

    assert response.status_code == 200, response.json
    assert [(part["flag"], part["what"]) for part in response.json["unmapped"]] == [("f", what)]


def test_unleash_import__rollout_with_another_group__hashes_that_group_as_unleash_does(client):
    # Given a 40 % rollout whose groupId is not the feature's name
    parameters = {"rollout": "40", "stickiness": "userId", "groupId": "spring"}
    strategy = {"name": "flexibleRollout", "parameters": parameters}
    state = {"version": 1, "features": [{"name": "banner", "enabled": True, "strategies": [strategy]}]}

    response = client.post(IMPORT, json=state)

    # Then each user is in exactly when Unleash's normalizedHash("spring:<id>", 100, seed 0) is at most 40
    assert response.status_code == 200, response.json
    assert response.json["unmapped"] == []
    for user in [str(number) for number in range(40)]:
        expected = mmh3.hash(f"spring:{user}", 0, signed=False) % 100 + 1 <= 40
        assert enabled(client, "banner", {"userId": user}) is expected, user


def test_unleash_import__feature_variants__unleash_variant_objects_hashed_with_its_seed(client):
    # Given a feature with three weighted variants, one overridden for a user, and a payload
    variants = [
        {"name": "red", "weight": 200, "stickiness": "userId", "payload": {"type": "string", "value": "#f00"},
         "overrides": [{"contextName": "userId", "values": ["vip"]}]},
        {"name": "green", "weight": 300, "stickiness": "userId"},
        {"name": "blue", "weight": 500, "stickiness": "userId"},
    ]  # fmt: skip
    state = {"version": 1, "features": [{"name": "colour", "enabled": True, "variants": variants,
                                         "strategies": [{"name": "default"}]}]}  # fmt: skip

    response = client.post(IMPORT, json=state)

    # Then the flag's values are Unleash's variant objects, off is its disabled variant
    assert response.status_code == 200, response.json
    flag = client.get("/flags/colour").json
    assert flag["off_variant"] == "disabled"
    payload = {"type": "string", "value": "#f00"}
    assert flag["variants"]["red"] == {"name": "red", "enabled": True, "feature_enabled": True, "payload": payload}
    # And each user gets the variant at Unleash's point murmur3("colour:<id>", 86028157) % 1000 + 1
    for user in [str(number) for number in range(30)]:
        point = mmh3.hash(f"colour:{user}", 86028157, signed=False) % 1000 + 1
        expected = "red" if point <= 200 else "green" if point <= 500 else "blue"
        assert variant(client, "colour", {"userId": user})["name"] == expected, user
    assert variant(client, "colour", {"userId": "vip"})["name"] == "red"
    # And switched off, everyone gets the disabled variant
    assert client.post("/flags/colour/toggle", json={"environment": "production"}).status_code == 200
    assert variant(client, "colour", {"userId": "1"}) == DISABLED

"""Prerequisites over the API: a flag serves its off variant unless the flags it requires serve what it needs."""

from __future__ import annotations

import pytest

from feature_flags.evaluation.engine import MAX_PREREQUISITE_DEPTH


def _requiring(name: str, *required: str, variants=("on",), environment: str = "production") -> dict:
    prerequisites = [{"flag": flag, "variants": list(variants)} for flag in required]
    return {
        "name": name,
        "environments": {environment: True},
        "targeting": {environment: {"prerequisites": prerequisites}},
    }


def _evaluate(client, name: str, context: dict | None = None):
    return client.post(f"/ofrep/v1/evaluate/flags/{name}?environment=production", json={"context": context or {}})


def _bulk(client, context: dict | None = None) -> dict:
    flags = client.post("/ofrep/v1/evaluate/flags?environment=production", json={"context": context or {}}).json
    return {flag["key"]: flag for flag in flags["flags"]}


def test_prerequisite__required_flag_off__off_variant_prerequisite_failed_single_and_bulk(client):
    # Given checkout requires payments, which is off in production
    assert client.post("/flags", json={"name": "payments"}).status_code == 201
    assert client.post("/flags", json=_requiring("checkout", "payments")).status_code == 201
    # Then checkout serves its off variant, saying which prerequisite failed
    single = _evaluate(client, "checkout").json
    expected = {"key": "checkout", "value": False, "variant": "off", "reason": "PREREQUISITE_FAILED"}
    assert single == {**expected, "metadata": {"prerequisite": "payments"}}
    assert _bulk(client)["checkout"] == single
    # When payments is switched on, checkout serves as its own targeting says
    assert client.post("/flags/payments/toggle", json={"environment": "production"}).status_code == 200
    assert _evaluate(client, "checkout").json["reason"] == "STATIC"
    assert _bulk(client)["checkout"]["variant"] == "on"


def test_prerequisite__variant_decided_by_rules__same_context_decides(client):
    # Given payments serves "on" to pro users only, and checkout needs it on
    rule = {"when": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}
    payments = {
        "name": "payments",
        "environments": {"production": True},
        "targeting": {"production": {"rules": [rule], "serve": "off"}},
    }
    assert client.post("/flags", json=payments).status_code == 201
    assert client.post("/flags", json=_requiring("checkout", "payments")).status_code == 201
    # Then the context decides both
    assert _evaluate(client, "checkout", {"plan": "pro"}).json["variant"] == "on"
    assert _evaluate(client, "checkout", {"plan": "free"}).json["reason"] == "PREREQUISITE_FAILED"


def test_prerequisite__chain_of_three__failure_at_the_bottom_fails_the_top(client):
    assert client.post("/flags", json={"name": "c"}).status_code == 201
    assert client.post("/flags", json=_requiring("b", "c")).status_code == 201
    assert client.post("/flags", json=_requiring("a", "b")).status_code == 201
    answers = _bulk(client)
    assert [answers[name]["metadata"] for name in ("a", "b")] == [{"prerequisite": "b"}, {"prerequisite": "c"}]
    assert client.post("/flags/c/toggle", json={"environment": "production"}).status_code == 200
    assert {name: _bulk(client)[name]["variant"] for name in ("a", "b", "c")} == dict.fromkeys("abc", "on")


@pytest.mark.parametrize(
    ("prerequisite", "field", "kind"),
    [
        ({"flag": "missing", "variants": ["on"]}, "targeting.production.prerequisites.0.flag", "unknown_flag"),
        (
            {"flag": "payments", "variants": ["maybe"]},
            "targeting.production.prerequisites.0.variants.0",
            "unknown_prerequisite_variant",
        ),
        ({"flag": "checkout", "variants": ["on"]}, "targeting.production.prerequisites.0.flag", "prerequisite_cycle"),
        ({"flag": "payments", "variants": []}, "targeting.production.prerequisites.0.variants", "too_short"),
        ({"flag": "payments"}, "targeting.production.prerequisites.0.variants", "missing"),
    ],
    ids=["unknown flag", "unknown variant", "itself", "no variants", "variants missing"],
)
def test_prerequisite__bad_input__400_naming_the_field_nothing_written(client, prerequisite, field, kind):
    assert client.post("/flags", json={"name": "payments"}).status_code == 201
    body = {"name": "checkout", "targeting": {"production": {"prerequisites": [prerequisite]}}}
    response = client.post("/flags", json=body)
    assert response.status_code == 400
    assert (field, kind) in [(item["field"], item["type"]) for item in response.json["details"]]
    assert client.get("/flags/checkout").status_code == 404


def test_prerequisite__more_than_the_bound__400(client):
    assert client.post("/flags", json={"name": "payments"}).status_code == 201
    response = client.post("/flags", json=_requiring("checkout", *["payments"] * 11))
    assert (response.status_code, response.json["details"][0]["field"]) == (400, "targeting.production.prerequisites")


def test_prerequisite__archived_flag__400(client):
    assert client.post("/flags", json={"name": "payments"}).status_code == 201
    assert client.post("/flags/payments/archive").status_code == 200
    response = client.post("/flags", json=_requiring("checkout", "payments"))
    assert (response.status_code, response.json["details"][0]["type"]) == (400, "archived_flag")


def test_prerequisite__direct_cycle__400_and_nothing_written(client):
    # Given a requires b
    assert client.post("/flags", json={"name": "b"}).status_code == 201
    assert client.post("/flags", json=_requiring("a", "b")).status_code == 201
    # When b is changed to require a
    response = client.put("/flags/b", json={"targeting": _requiring("b", "a")["targeting"]})
    # Then it is refused, naming the field and the loop
    assert response.status_code == 400
    detail = response.json["details"][0]
    assert (detail["field"], detail["type"]) == ("targeting.production.prerequisites.0.flag", "prerequisite_cycle")
    assert "b → a → b" in detail["message"]
    assert client.get("/flags/b").json["version"] == 1


def test_prerequisite__cycle_through_three_flags__400(client):
    assert client.post("/flags", json={"name": "c"}).status_code == 201
    assert client.post("/flags", json=_requiring("b", "c")).status_code == 201
    assert client.post("/flags", json=_requiring("a", "b")).status_code == 201
    response = client.put("/flags/c", json={"targeting": _requiring("c", "a")["targeting"]})
    assert response.status_code == 400
    assert "c → a → b → c" in response.json["details"][0]["message"]
    # A cycle in another environment is a cycle too; the same edges across environments are not
    other = client.put("/flags/c", json={"targeting": _requiring("c", "a", environment="staging")["targeting"]})
    assert other.status_code == 200


def test_prerequisite__chain_deeper_than_the_bound__400(client):
    assert client.post("/flags", json={"name": "f0"}).status_code == 201
    for index in range(1, MAX_PREREQUISITE_DEPTH + 1):
        assert client.post("/flags", json=_requiring(f"f{index}", f"f{index - 1}")).status_code == 201
    response = client.post("/flags", json=_requiring("deep", f"f{MAX_PREREQUISITE_DEPTH}"))
    assert (response.status_code, response.json["details"][0]["type"]) == (400, "prerequisites_too_deep")


@pytest.mark.parametrize("removal", ["archive", "delete"])
def test_required_flag__archive_or_delete__409_naming_dependents_unless_forced(client, removal):
    # Given checkout requires payments
    payments = client.post("/flags", json={"name": "payments", "environments": {"production": True}}).json
    checkout = client.post("/flags", json=_requiring("checkout", "payments")).json

    def remove(query: str = ""):
        if removal == "archive":
            return client.post(f"/flags/payments/archive{query}")
        return client.delete(f"/flags/payments{query}")

    # When payments is removed without force: a 409 naming checkout, nothing changed
    refused = remove()
    assert (refused.status_code, refused.json["error"]) == (409, "flag_required")
    assert refused.json["details"] == [{"flag_id": checkout["_id"], "flag": "checkout", "type": "flag_required"}]
    assert client.get("/flags/payments").json["version"] == 1
    assert remove("?force=maybe").status_code == 400
    # When forced: done, recorded as forced, and checkout's prerequisite now fails
    assert remove("?force=true").status_code in {200, 204}
    event = client.get(f"/flags/{payments['_id']}/history").json["events"][0]
    assert (event["action"], event["forced"]) == (f"flag.{removal}d", True)
    answer = _evaluate(client, "checkout").json
    assert (answer["reason"], answer["metadata"]) == ("PREREQUISITE_FAILED", {"prerequisite": "payments"})


def test_required_flag__rename__409(client):
    assert client.post("/flags", json={"name": "payments"}).status_code == 201
    assert client.post("/flags", json=_requiring("checkout", "payments")).status_code == 201
    response = client.put("/flags/payments", json={"name": "payments-v2"})
    assert (response.status_code, response.json["error"]) == (409, "flag_required")
    # Other changes to it are fine
    assert client.put("/flags/payments", json={"description": "x"}).status_code == 200


def test_unrequired_flag__archive__no_force_needed(client):
    assert client.post("/flags", json={"name": "payments"}).status_code == 201
    archived = client.post("/flags/payments/archive")
    assert archived.status_code == 200
    event = client.get("/flags/payments/history").json["events"][0]
    assert event.get("forced") is None

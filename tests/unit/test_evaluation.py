"""The evaluation engine: conditions, rules, splits and Unleash-compatible bucketing."""

from __future__ import annotations

import json
from pathlib import Path

import mmh3
import pytest

from feature_flags.evaluation.engine import (
    DEFAULT,
    DISABLED,
    GENERAL,
    INVALID_CONTEXT,
    MAX_PREREQUISITE_DEPTH,
    PREREQUISITE_FAILED,
    SPLIT,
    STATIC,
    TARGETING_KEY_MISSING,
    TARGETING_MATCH,
    EvaluationError,
    Lookup,
    bucket,
    compare_semver,
    evaluate,
    with_defaults,
)

VECTORS = Path(__file__).resolve().parents[1] / "data" / "unleash-client-specification"
# Chi-square critical value for 99 degrees of freedom at p = 0.001 (tables: 148.23).
CHI_SQUARE_CRITICAL_99_DF = 148.23


def make_flag(name: str = "checkout", on: bool = True, **fields) -> dict:
    """A boolean flag in production, switched on or off, with extra fields."""
    return with_defaults({"name": name, "environments": {"production": on}, **fields})


def with_rules(*rules, serve="on", **fields) -> dict:
    return make_flag(targeting={"production": {"rules": list(rules), "serve": serve}}, **fields)


def rule(attribute: str, op: str, values: list, serve="on") -> dict:
    return {"when": [{"attribute": attribute, "op": op, "values": values}], "serve": serve}


# -- Unleash compatibility -------------------------------------------------------------------


def _rollout_cases() -> list:
    cases = []
    for file_name in ("10-flexible-rollout-strategy.json", "12-custom-stickiness.json"):
        spec = json.loads((VECTORS / file_name).read_text())
        features = {feature["name"]: feature for feature in spec["state"]["features"]}
        for test in spec["tests"]:
            cases.append(pytest.param(features[test["toggleName"]], test, id=test["description"]))
    return cases


@pytest.mark.parametrize(("feature", "test"), _rollout_cases())
def test_split__unleash_flexible_rollout_vectors__same_bucket(feature: dict, test: dict):
    # Given: Unleash's flexible rollout as our split: the first `rollout` percent get "on"
    strategy = feature["strategies"][0]["parameters"]
    rollout = int(strategy["rollout"])
    context = {k: v for k, v in test["context"].items() if k != "properties"}
    context.update(test["context"].get("properties", {}))
    stickiness = strategy["stickiness"]
    if stickiness == "default":
        # Unleash's "default" is userId, then sessionId (then random, which only 0 and 100 tolerate).
        stickiness = next((k for k in ("userId", "sessionId") if k in context), "userId")
    flag = make_flag(
        name=strategy["groupId"],
        stickiness=stickiness,
        targeting={"production": {"serve": {"on": rollout, "off": 100 - rollout}}},
    )
    # When
    try:
        enabled = evaluate(flag, "production", context).variant == "on"
    except EvaluationError as error:
        # Unleash treats a missing stickiness value as "not in the rollout"; we say why instead.
        assert error.code == TARGETING_KEY_MISSING
        enabled = False
    # Then
    assert enabled is test["expectedResult"]


def test_bucket__known_unleash_value__matches():
    # userId 174 is in the 10 % rollout of Feature.flexibleRollout.10 and 499 is not (vector 10).
    assert bucket("Feature.flexibleRollout.10", "174") <= 10
    assert bucket("Feature.flexibleRollout.10", "499") > 10


def test_bucket__100000_keys__uniform_by_chi_square():
    counts = [0] * 100
    for i in range(100_000):
        counts[bucket("checkout", f"user-{i}") - 1] += 1
    expected = 100_000 / 100
    chi_square = sum((count - expected) ** 2 / expected for count in counts)
    assert chi_square < CHI_SQUARE_CRITICAL_99_DF, chi_square
    assert min(counts) > 0


def test_bucket__two_flags__independent():
    # Being in the first half of one flag says nothing about another flag: about a quarter are in both.
    both = sum(1 for i in range(20_000) if bucket("a", f"u{i}") <= 50 and bucket("b", f"u{i}") <= 50)
    assert 4_600 < both < 5_400


def _semver_cases() -> list:
    spec = json.loads((VECTORS / "14-constraint-semver-operators.json").read_text())
    operators = {f["name"]: f["strategies"][0]["constraints"][0] for f in spec["state"]["features"]}
    cases = []
    for test in spec["tests"]:
        if test["toggleName"] in operators:
            constraint = operators[test["toggleName"]]
            cases.append(
                pytest.param(
                    test["context"]["properties"]["version"],
                    constraint["operator"],
                    constraint["value"],
                    test["expectedResult"],
                    id=test["description"],
                )
            )
    return cases


@pytest.mark.parametrize(("version", "operator", "value", "expected"), _semver_cases())
def test_compare_semver__unleash_vectors__same_answer(version: str, operator: str, value: str, expected: bool):
    order = compare_semver(version, value)
    holds = {
        "SEMVER_EQ": lambda o: o == 0,
        "SEMVER_GT": lambda o: o > 0,
        "SEMVER_GTE": lambda o: o >= 0,
        "SEMVER_LT": lambda o: o < 0,
        "SEMVER_LTE": lambda o: o <= 0,
    }[operator]
    assert (order is not None and holds(order)) is expected


# -- conditions --------------------------------------------------------------------------------

CONDITION_CASES = [
    ("plan", "in", ["pro", "team"], {"plan": "pro"}, True),
    ("plan", "in", ["pro", "team"], {"plan": "free"}, False),
    ("plan", "in", ["pro"], {}, False),
    ("age", "in", [30], {"age": "30"}, True),
    ("beta", "in", [True], {"beta": True}, True),
    ("plan", "not_in", ["free"], {"plan": "pro"}, True),
    ("plan", "not_in", ["free"], {"plan": "free"}, False),
    ("plan", "not_in", ["free"], {}, True),
    ("email", "starts_with", ["admin@"], {"email": "admin@example.com"}, True),
    ("email", "starts_with", ["admin@"], {"email": "user@example.com"}, False),
    ("email", "ends_with", ["@example.com", "@example.org"], {"email": "a@example.org"}, True),
    ("email", "ends_with", ["@example.com"], {"email": "a@example.net"}, False),
    ("email", "contains", ["staff"], {"email": "jo.staff@example.com"}, True),
    ("email", "contains", ["staff"], {"email": "jo@example.com"}, False),
    ("age", "lt", [18], {"age": 17}, True),
    ("age", "lt", [18], {"age": 18}, False),
    ("age", "lte", [18], {"age": 18}, True),
    ("age", "gt", [18], {"age": 18.5}, True),
    ("age", "gt", [18], {"age": "18"}, False),
    ("age", "gte", [18], {"age": 18}, True),
    ("age", "gte", [18], {}, False),
    ("version", "semver_lt", ["2.0.0"], {"version": "1.9.9"}, True),
    ("version", "semver_lt", ["2.0.0"], {"version": "2.0.0-rc.1"}, True),
    ("version", "semver_lt", ["2.0.0"], {"version": "2.0.0"}, False),
    ("version", "semver_gte", ["2.0.0"], {"version": "2.0.0"}, True),
    ("version", "semver_gte", ["2.0.0"], {"version": "10.0.0"}, True),
    ("version", "semver_gte", ["2.0.0"], {"version": "1.10.0"}, False),
    ("signup", "before", ["2024-01-01T00:00:00Z"], {"signup": "2023-12-31T23:59:59Z"}, True),
    ("signup", "before", ["2024-01-01T00:00:00Z"], {"signup": "2024-01-01T01:00:00+02:00"}, True),
    ("signup", "after", ["2024-01-01T00:00:00Z"], {"signup": "2024-01-01T00:00:01Z"}, True),
    ("signup", "after", ["2024-01-01T00:00:00Z"], {"signup": "2023-06-01T00:00:00Z"}, False),
    ("currentTime", "after", ["2000-01-01T00:00:00Z"], {}, True),
    ("currentTime", "before", ["2000-01-01T00:00:00Z"], {}, False),
]


@pytest.mark.parametrize(("attribute", "op", "values", "context", "matches"), CONDITION_CASES)
def test_condition__each_op__matches_as_documented(attribute, op, values, context, matches):
    flag = with_rules(rule(attribute, op, values, serve="on"), serve="off")
    result = evaluate(flag, "production", context)
    assert (result.variant, result.reason) == (("on", TARGETING_MATCH) if matches else ("off", DEFAULT))


@pytest.mark.parametrize(
    ("attribute", "op", "values", "context"),
    [
        ("age", "lt", [18], {"age": "seventeen"}),
        ("age", "gt", [18], {"age": True}),
        ("version", "semver_gte", ["2.0.0"], {"version": "v2.0.0"}),
        ("version", "semver_lt", ["2.0.0"], {"version": 2}),
        ("signup", "before", ["2024-01-01T00:00:00Z"], {"signup": "yesterday"}),
        ("signup", "before", ["2024-01-01T00:00:00Z"], {"signup": "2023-01-01T00:00:00"}),
        ("plan", "in", ["pro"], {"plan": {"name": "pro"}}),
        ("tags", "contains", ["x"], {"tags": ["x"]}),
    ],
)
def test_condition__value_of_wrong_kind__invalid_context(attribute, op, values, context):
    flag = with_rules(rule(attribute, op, values))
    with pytest.raises(EvaluationError) as raised:
        evaluate(flag, "production", context)
    assert raised.value.code == INVALID_CONTEXT


# -- rules, serves and reasons -----------------------------------------------------------------


def test_evaluate__flag_off__off_variant_disabled():
    flag = make_flag(on=False, variants={"red": "#f00", "blue": "#00f"}, off_variant="red")
    result = evaluate(flag, "production", {"targetingKey": "u1"})
    assert (result.value, result.variant, result.reason) == ("#f00", "red", DISABLED)


def test_evaluate__environment_not_listed__disabled():
    result = evaluate(make_flag(), "staging", {})
    assert (result.value, result.reason) == (False, DISABLED)


def test_evaluate__on_without_targeting__static_on():
    result = evaluate(make_flag(), "production", {})
    assert (result.value, result.variant, result.reason, result.metadata) == (True, "on", STATIC, {})


def test_evaluate__several_matching_rules__first_wins():
    flag = with_rules(
        rule("plan", "in", ["pro"], serve="off"),
        rule("country", "in", ["NZ"], serve="on"),
        serve="on",
    )
    result = evaluate(flag, "production", {"plan": "pro", "country": "NZ"})
    assert (result.variant, result.reason, result.metadata) == ("off", TARGETING_MATCH, {"rule": 0})
    second = evaluate(flag, "production", {"plan": "free", "country": "NZ"})
    assert (second.variant, second.metadata) == ("on", {"rule": 1})


def test_evaluate__rule_with_two_conditions__all_must_hold():
    flag = with_rules(
        {
            "when": [
                {"attribute": "plan", "op": "in", "values": ["pro"]},
                {"attribute": "age", "op": "gte", "values": [18]},
            ],
            "serve": "on",
        },
        serve="off",
    )
    assert evaluate(flag, "production", {"plan": "pro", "age": 20}).variant == "on"
    assert evaluate(flag, "production", {"plan": "pro", "age": 16}).variant == "off"


def test_evaluate__split_top_level__sticky_split_reason():
    flag = make_flag(targeting={"production": {"serve": {"on": 30, "off": 70}}})
    first = evaluate(flag, "production", {"targetingKey": "user-42"})
    again = evaluate(flag, "production", {"targetingKey": "user-42"})
    assert first == again
    assert first.reason == SPLIT
    assert first.variant == ("on" if bucket("checkout", "user-42") <= 30 else "off")


def test_evaluate__split_over_many_users__close_to_weights():
    flag = make_flag(targeting={"production": {"serve": {"on": 30, "off": 70}}})
    on = sum(evaluate(flag, "production", {"targetingKey": f"u{i}"}).value for i in range(10_000))
    assert 2_800 < on < 3_200


def test_evaluate__split_without_key__targeting_key_missing():
    flag = make_flag(targeting={"production": {"serve": {"on": 50, "off": 50}}})
    with pytest.raises(EvaluationError) as raised:
        evaluate(flag, "production", {"plan": "pro"})
    assert raised.value.code == TARGETING_KEY_MISSING


def test_evaluate__no_split_needed__no_key_required():
    # A rule that matches first, a 100 % "split" and a plain serve need no targeting key.
    flag = with_rules(rule("plan", "in", ["pro"]), serve={"on": 50, "off": 50})
    assert evaluate(flag, "production", {"plan": "pro"}).variant == "on"
    whole = make_flag(targeting={"production": {"serve": {"on": 100, "off": 0}}})
    assert (evaluate(whole, "production", {}).variant, evaluate(whole, "production", {}).reason) == ("on", STATIC)


def test_evaluate__rule_serving_split__split_reason_with_rule():
    flag = with_rules(rule("plan", "in", ["pro"], serve={"on": 50, "off": 50}), serve="off")
    result = evaluate(flag, "production", {"plan": "pro", "targetingKey": "k"})
    assert (result.reason, result.metadata) == (SPLIT, {"rule": 0})


def test_evaluate__weighted_split__unleash_variant_point_with_its_seed_group_and_stickiness():
    # Unleash's variant hashing: murmur3("<group>:<value>", 86028157) % total weight + 1, variants in order
    split = {"weights": {"on": 250, "off": 750}, "seed": 86028157, "group": "spring", "stickiness": "accountId"}
    flag = make_flag(targeting={"production": {"serve": split}})
    for account in (f"a{number}" for number in range(200)):
        point = mmh3.hash(f"spring:{account}", 86028157, signed=False) % 1000 + 1
        result = evaluate(flag, "production", {"accountId": account, "targetingKey": "ignored"})
        assert (result.variant, result.reason) == ("on" if point <= 250 else "off", SPLIT), account


def test_evaluate__weighted_split_defaults__flag_name_seed_zero_flag_stickiness():
    # Without group, seed or stickiness: the flag's name, 0 and its stickiness, so weights out of 100 are a split
    weighted = make_flag(targeting={"production": {"serve": {"weights": {"on": 30, "off": 70}}}})
    plain = make_flag(targeting={"production": {"serve": {"on": 30, "off": 70}}})
    for user in (f"u{number}" for number in range(200)):
        context = {"targetingKey": user}
        assert evaluate(weighted, "production", context).variant == evaluate(plain, "production", context).variant


def test_evaluate__weighted_split_one_weight__no_key_needed_and_key_missing_otherwise():
    single = make_flag(targeting={"production": {"serve": {"weights": {"on": 5, "off": 0}}}})
    assert (evaluate(single, "production", {}).variant, evaluate(single, "production", {}).reason) == ("on", STATIC)
    split = make_flag(targeting={"production": {"serve": {"weights": {"on": 5, "off": 5}, "stickiness": "userId"}}})
    with pytest.raises(EvaluationError) as raised:
        evaluate(split, "production", {"targetingKey": "u1"})
    assert raised.value.code == TARGETING_KEY_MISSING


def test_evaluate__custom_stickiness__hashes_that_attribute():
    flag = make_flag(stickiness="accountId", targeting={"production": {"serve": {"on": 50, "off": 50}}})
    result = evaluate(flag, "production", {"accountId": "acme", "targetingKey": "ignored"})
    assert result.variant == ("on" if bucket("checkout", "acme") <= 50 else "off")
    with pytest.raises(EvaluationError) as raised:
        evaluate(flag, "production", {"targetingKey": "u1"})
    assert raised.value.code == TARGETING_KEY_MISSING


@pytest.mark.parametrize("context", [{"targetingKey": 42}, {"targetingKey": {"id": 1}}, ["not", "an", "object"]])
def test_evaluate__malformed_context__invalid_context(context):
    with pytest.raises(EvaluationError) as raised:
        evaluate(make_flag(), "production", context)
    assert raised.value.code == INVALID_CONTEXT


def test_evaluate__object_and_number_variants__values_served():
    theme = make_flag(
        variants={"light": {"bg": "#fff"}, "dark": {"bg": "#000"}},
        off_variant="light",
        targeting={"production": {"rules": [rule("plan", "in", ["pro"], serve="dark")], "serve": "light"}},
    )
    assert evaluate(theme, "production", {"plan": "pro"}).value == {"bg": "#000"}
    limit = make_flag(
        variants={"low": 10, "high": 1000.5}, off_variant="low", targeting={"production": {"serve": "high"}}
    )
    assert evaluate(limit, "production", {}).value == 1000.5


def test_evaluate__serve_names_missing_variant__general_error():
    flag = make_flag(variants={"a": "x", "b": "y"}, off_variant="a")
    with pytest.raises(EvaluationError) as raised:
        evaluate(flag, "production", {})
    assert raised.value.code == GENERAL


def test_with_defaults__stored_seed_flag__boolean_defaults():
    flag = with_defaults({"name": "old", "environments": {"production": True}})
    assert (flag["variants"], flag["off_variant"], flag["targeting"], flag["stickiness"]) == (
        {"on": True, "off": False},
        "off",
        {},
        "targetingKey",
    )


# -- segments and prerequisites: looked up by name, each flag evaluated once per lookup ----------------------------


def requiring(name: str, *required: str, on: bool = True) -> dict:
    prerequisites = [{"flag": flag, "variants": ["on"]} for flag in required]
    return make_flag(name, on, targeting={"production": {"prerequisites": prerequisites}})


class CountingFlags(dict):
    """Flags by name that count how often evaluation looks each one up."""

    def __init__(self, *flags: dict) -> None:
        super().__init__((flag["name"], flag) for flag in flags)
        self.looked_up: dict[str, int] = {}

    def get(self, name, default=None):
        self.looked_up[name] = self.looked_up.get(name, 0) + 1
        return super().get(name, default)


def test_segment__all_its_conditions_hold__rule_matches():
    segments = {"beta": {"name": "beta", "conditions": [{"attribute": "plan", "op": "in", "values": ["beta"]}]}}
    flag = with_rules({"when": [{"segment": "beta"}], "serve": "on"}, serve="off")
    assert evaluate(flag, "production", {"plan": "beta"}, Lookup(segments)).reason == TARGETING_MATCH
    assert evaluate(flag, "production", {"plan": "free"}, Lookup(segments)).variant == "off"
    # A segment gone (a race with a delete) matches no one
    assert evaluate(flag, "production", {"plan": "beta"}, Lookup({})).variant == "off"


def test_prerequisite__off_missing_or_wrong_variant__off_variant_prerequisite_failed():
    off = make_flag("payments", on=False)
    for flags in ({"payments": off}, {}):
        result = evaluate(requiring("checkout", "payments"), "production", {}, Lookup(flags=flags))
        assert (result.variant, result.reason, result.metadata) == (
            "off",
            PREREQUISITE_FAILED,
            {"prerequisite": "payments"},
        )
    on = make_flag("payments")
    assert evaluate(requiring("checkout", "payments"), "production", {}, Lookup(flags={"payments": on})).variant == "on"


def test_prerequisite__cycle_made_by_racing_writes__evaluation_ends_and_fails():
    # Given a cycle writes refuse but two racing writes could make: a -> b -> c -> a
    flags = CountingFlags(requiring("a", "b"), requiring("b", "c"), requiring("c", "a"))
    # Then evaluating any of them ends, failing the prerequisite that closes the loop
    result = evaluate(flags["a"], "production", {}, Lookup(flags=flags))
    assert result.reason == PREREQUISITE_FAILED
    assert sum(flags.looked_up.values()) <= 3


def test_prerequisite__chain_past_the_depth_bound__fails_not_recurses():
    chain = [make_flag("f0")] + [requiring(f"f{i}", f"f{i - 1}") for i in range(1, MAX_PREREQUISITE_DEPTH + 3)]
    lookup = Lookup(flags={flag["name"]: flag for flag in chain})
    assert evaluate(chain[-1], "production", {}, lookup).reason == PREREQUISITE_FAILED
    assert evaluate(chain[MAX_PREREQUISITE_DEPTH], "production", {}, Lookup(flags=lookup.flags)).variant == "on"


class CountedFlag(dict):
    """A flag that counts its evaluations (each reads its environments once)."""

    evaluations = 0

    def get(self, key, default=None):
        if key == "environments":
            self.evaluations += 1
        return super().get(key, default)


def test_prerequisite__many_flags_require_one__it_is_evaluated_once_per_lookup():
    base = CountedFlag(make_flag("base"))
    users = [requiring(f"user{i}", "base") for i in range(50)]
    lookup = Lookup(flags={flag["name"]: flag for flag in [base, *users]})
    results = [evaluate(flag, "production", {}, lookup) for flag in [*users, base]]
    assert {result.variant for result in results} == {"on"}
    assert base.evaluations == 1

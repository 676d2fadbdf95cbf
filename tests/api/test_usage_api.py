"""Usage over the API: GET /flags/<ident>/usage after OFREP evaluations, the evaluations metric, the flush bound."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from feature_flags.evaluation.engine import REASONS
from feature_flags.extensions import get_store
from feature_flags.storage.usage import hour_of
from feature_flags.usage import last_seen, usage_recorder
from tests.support import auth

SPLIT = {"staging": {"serve": {"on": 50, "off": 50}}}


def single(client, name: str, environment: str, key: str = "user-1") -> dict:
    """Evaluate one flag over OFREP; return the answer."""
    response = client.post(
        f"/ofrep/v1/evaluate/flags/{name}?environment={environment}", json={"context": {"targetingKey": key}}
    )
    assert response.status_code == 200, response.json
    return response.json


def bulk(client, environment: str, context: dict | None = None) -> list[dict]:
    """Evaluate every flag over OFREP; return the entries."""
    response = client.post(f"/ofrep/v1/evaluate/flags?environment={environment}", json={"context": context or {}})
    assert response.status_code == 200, response.json
    return response.json["flags"]


def usage(client, ident: str, **headers: str) -> dict:
    response = client.get(f"/flags/{ident}/usage", headers=headers or None)
    assert response.status_code == 200, response.json
    return response.json


def test_usage__single_and_bulk_evaluations__exact_counts_by_variant_per_environment(app, client):
    # Given a flag split 50/50 in staging and off in production, beside another flag
    flag = client.post("/flags", json={"name": "checkout", "environments": {"staging": True}, "targeting": SPLIT}).json
    client.post("/flags", json={"name": "other", "environments": {"staging": True}})

    # When staging evaluates it 20 times singly (20 users) and 3 times in bulk, and production 4 times
    served: dict[str, int] = {}
    for n in range(20):
        variant = single(client, "checkout", "staging", key=f"user-{n}")["variant"]
        served[variant] = served.get(variant, 0) + 1
    for _ in range(3):
        entry = next(e for e in bulk(client, "staging", {"targetingKey": "bulk-user"}) if e["key"] == "checkout")
        served[entry["variant"]] = served.get(entry["variant"], 0) + 1
    for _ in range(4):
        assert single(client, "checkout", "production")["variant"] == "off"
    before = datetime.now(UTC)
    usage_recorder(app).flush()

    # Then its usage shows exactly what was served, per environment and variant, by name and by id alike
    answer = usage(client, "checkout")
    assert answer == usage(client, flag["_id"])
    assert (answer["flag_id"], answer["name"]) == (flag["_id"], "checkout")
    staging, production, development = (answer["environments"][env] for env in ("staging", "production", "development"))
    assert len(served) == 2, "20 users over a 50/50 split should meet both variants"
    assert staging["last_hour"] == staging["last_24_hours"] == served
    assert production["last_hour"] == production["last_24_hours"] == {"off": 4}
    # And the 24 hours run oldest first to the current one, which holds the counts
    hours = [entry["hour"] for entry in staging["hours"]]
    current = hour_of(datetime.now(UTC))
    assert hours == [(current - timedelta(hours=23 - i)).isoformat().replace("+00:00", ".000Z") for i in range(24)]
    assert staging["hours"][-1]["variants"] == served and all(e["variants"] == {} for e in staging["hours"][:-1])
    # And last_evaluated_at is when it was last asked for; never for an environment that did not ask
    last = datetime.fromisoformat(staging["last_evaluated_at"])
    assert before - timedelta(seconds=30) < last <= datetime.now(UTC)
    assert development == {
        "last_evaluated_at": None,
        "last_hour": {},
        "last_24_hours": {},
        "hours": development["hours"],
        # No application evaluating it in process has reported it
        "applications": [],
    }
    # And the other flag, evaluated only in bulk, has its own count
    assert usage(client, "other")["environments"]["staging"]["last_24_hours"] == {"on": 3}


def test_usage__client_token__sees_its_environment_only(app, client):
    client.post("/flags", json={"name": "scoped", "environments": {"production": True, "staging": True}})
    single(client, "scoped", "staging")
    single(client, "scoped", "production")
    usage_recorder(app).flush()
    secret = client.post("/tokens", json={"name": "shop", "role": "client", "environment": "production"}).json["token"]

    answer = usage(app.test_client(), "scoped", **auth(secret))

    assert list(answer["environments"]) == ["production"]
    assert answer["environments"]["production"]["last_24_hours"] == {"on": 1}


def test_usage__unknown_flag__404_json(client):
    response = client.get("/flags/no-such-flag/usage")
    assert response.status_code == 404
    assert response.json["error"] == "flag_not_found"


def test_usage__bucket_older_than_24_hours__not_counted(app, client):
    # Given counts in the oldest hour shown (23 hours ago) and in the hour before it
    flag = client.post("/flags", json={"name": "old", "environments": {"staging": True}}).json
    current = hour_of(datetime.now(UTC))
    oldest, older = current - timedelta(hours=23), current - timedelta(hours=24)
    counts = {(flag["_id"], oldest): {"staging": {"on": 2}}, (flag["_id"], older): {"staging": {"on": 5}}}
    get_store(app).add_usage(counts, {}, "w", 1)

    staging = usage(client, "old")["environments"]["staging"]

    # Then only the 23-hours-ago bucket is in the 24 hours, and nothing in the current hour
    assert staging["last_24_hours"] == {"on": 2}
    assert staging["hours"][0]["variants"] == {"on": 2}
    assert staging["last_hour"] == {}


def test_usage__two_instances_over_one_database__totals_add_up(make_app):
    # Given two instances of the service over the same database
    first, second = make_app(), make_app()
    first_client, second_client = first.test_client(), second.test_client()
    for test_client in (first_client, second_client):
        test_client.environ_base["HTTP_AUTHORIZATION"] = auth()["Authorization"]
    assert first_client.post("/flags", json={"name": "shared", "environments": {"staging": True}}).status_code == 201

    # When each evaluates the flag (single and bulk) and each flushes
    for _ in range(7):
        single(first_client, "shared", "staging")
    for _ in range(5):
        bulk(second_client, "staging")
    single(second_client, "shared", "staging")
    usage_recorder(first).flush()
    usage_recorder(second).flush()

    # Then either one answers the sum
    assert usage(second_client, "shared")["environments"]["staging"]["last_24_hours"] == {"on": 13}
    assert usage(first_client, "shared")["environments"]["staging"]["last_24_hours"] == {"on": 13}


def evaluations_metric(client) -> dict[tuple[str, str], float]:
    text = client.get("/metrics").get_data(as_text=True)
    pattern = re.compile(r'^feature_flags_evaluations_total\{environment="([^"]*)",reason="([^"]*)"\} (\S+)$', re.M)
    return {(env, reason): float(value) for env, reason, value in pattern.findall(text)}


def test_metric__evaluations_by_environment_and_reason__closed_label_set(app, client):
    # Given 30 plain flags on in staging, and one split by an attribute the bulk context lacks
    for n in range(30):
        client.post("/flags", json={"name": f"plain-{n:02d}", "environments": {"staging": True}})
    client.post(
        "/flags", json={"name": "by-team", "environments": {"staging": True}, "targeting": SPLIT, "stickiness": "team"}
    )
    before = evaluations_metric(client)

    # When one flag is evaluated 3 times singly, and every flag twice in bulk (the split one fails each time)
    for _ in range(3):
        assert single(client, "plain-00", "staging")["reason"] == "STATIC"
    for _ in range(2):
        entries = bulk(client, "staging", {"targetingKey": "u"})
        assert [e for e in entries if "errorCode" in e] == [e for e in entries if e["key"] == "by-team"]

    # Then the metric counts them by environment and reason
    after = evaluations_metric(client)
    assert after[("staging", "STATIC")] == 3 + 2 * 30
    assert after[("staging", "ERROR")] == 2
    # And its label values are the configured environments and the engine's reasons, whatever the flags
    environments = app.config["FF"].environments
    assert set(after) == set(before) == {(env, reason) for env in environments for reason in REASONS}
    assert "plain-" not in client.get("/metrics").get_data(as_text=True)
    # And a bulk entry that failed is not a per-variant count
    usage_recorder(app).flush()
    assert usage(client, "by-team")["environments"]["staging"]["last_24_hours"] == {}


def test_flush__interval_of_one_second__counts_in_the_database_within_two_seconds(make_app):
    # Given an instance that flushes every second
    app = make_app(usage_flush_seconds=1)
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = auth()["Authorization"]
    flag = test_client.post("/flags", json={"name": "prompt", "environments": {"staging": True}}).json

    # When it evaluates 5 times and nobody flushes
    for _ in range(5):
        single(test_client, "prompt", "staging")
    started = time.monotonic()

    # Then the counts reach the database on their own within about two seconds
    buckets = get_store(app).db.usage_hours
    while time.monotonic() - started < 5:
        bucket = buckets.find_one({"flag_id": flag["_id"]})
        if bucket is not None and bucket["counts"] == {"staging": {"on": 5}}:
            break
        time.sleep(0.05)
    assert time.monotonic() - started < 2.2


def test_last_seen__after_flushes__stamps_per_environment_and_generation_stable_between_changes(make_app):
    # Given an instance that flushes every second, whose last-seen stamps are being kept
    app = make_app(usage_flush_seconds=1)
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = auth()["Authorization"]
    flag = test_client.post("/flags", json={"name": "seen", "environments": {"staging": True}}).json
    seen = last_seen(app)
    assert seen.of(flag["_id"]) == {}
    generation = seen.generation

    # When the flag is evaluated in staging
    single(test_client, "seen", "staging")

    # Then after the next flush the stamps show staging (only), under a new generation
    deadline = time.monotonic() + 5
    while seen.generation == generation and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(seen.of(flag["_id"])) == {"staging"}
    # And with nothing evaluated meanwhile, later refreshes leave the generation alone
    changed = seen.generation
    time.sleep(2.5)
    assert seen.generation == changed


def test_usage_tracking__off__nothing_counted_or_written(make_app):
    app = make_app(usage_tracking=False)
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = auth()["Authorization"]
    test_client.post("/flags", json={"name": "quiet", "environments": {"staging": True}})
    single(test_client, "quiet", "staging")
    bulk(test_client, "staging")

    usage_recorder(app).flush()

    assert get_store(app).db.usage_hours.count_documents({}) == 0
    assert get_store(app).db.flag_usage.count_documents({}) == 0
    assert set(evaluations_metric(test_client).values()) == {0.0}

"""Scheduled changes over a real database: checked when made, applied once when due by whichever instance claims."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from feature_flags.cache import FRESHNESS_SECONDS
from feature_flags.extensions import get_store
from feature_flags.schedules import scheduler
from feature_flags.storage.client import utcnow
from tests.support import ADMIN_TOKEN, ROOT, auth

RULES = {"rules": [{"when": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}], "serve": "off"}


def _moment(seconds: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def _admin(application):
    test_client = application.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {ADMIN_TOKEN}"
    return test_client


def _wait_for(condition, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("the condition did not hold in time")


def _served_on(application, flag_id: str) -> dict:
    """The flag's environments as this instance serves them.

    The schedule reads "applied" from the moment its write commits, a moment before the applying instance's cache
    takes the flag in (and up to FRESHNESS_SECONDS before the others'): tests wait that long for the served value.
    """
    return _admin(application).get(f"/flags/{flag_id}").json["environments"]


def _state(application, flag_id: str, schedule_id: str) -> str:
    return get_store(application).find_schedule(flag_id, schedule_id)["state"]


def _store_due(application, flag: dict, count: int, ago: timedelta = timedelta(seconds=1)) -> list[str]:
    """Store schedules already due (as if made earlier), each a different targeting, so each apply changes the flag."""
    store = get_store(application)
    at = datetime.now(UTC) - ago
    ids = []
    for index in range(count):
        targeting = {"rules": [{"when": [{"attribute": "n", "op": "in", "values": [f"v{index}"]}], "serve": "on"}]}
        targeting["serve"] = "off"
        ids.append(store.create_schedule(flag, {"targeting": targeting}, at, "production", "alice")["_id"])
    return ids


@pytest.fixture
def api(make_app):
    """An instance whose scheduler is off: schedules made through it wait for another to apply them."""
    return _admin(make_app(scheduler=False))


@pytest.fixture
def flag(api):
    created = api.post("/flags", json={"name": "checkout"})
    assert created.status_code == 201
    return created.json


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"at": "2030-01-01T09:00:00", "environment": "production", "enabled": True}, "at"),
        ({"at": "2020-01-01T09:00:00Z", "environment": "production", "enabled": True}, "at"),
        ({"at": "2999-01-01T09:00:00Z", "environment": "production", "enabled": True}, "at"),
        ({"at": "next tuesday", "environment": "production", "enabled": True}, "at"),
        ({"at": "+1h", "environment": "production", "enabled": True, "targeting": RULES}, "targeting"),
        ({"at": "+1h", "environment": "production"}, "enabled"),
        ({"at": "+1h", "environment": "moon", "enabled": True}, "environment"),
        ({"at": "+1h", "environment": "production", "enabled": "yes"}, "enabled"),
        ({"at": "+1h", "environment": "production", "targeting": {"serve": "blue"}}, "targeting.production.serve"),
        ({"at": "+1h", "environment": "production", "targeting": {"serve": {"on": 30}}}, "targeting.serve.split"),
        ({"at": "+1h", "environment": "production", "enabled": True, "extra": 1}, "extra"),
        ({"at": "+1h", "environment": "production", "targeting": {"rules": [{"when": [{"segment": "nowhere"}],
          "serve": "on"}]}}, "targeting.production.rules.0.when.0.segment"),
        ({"at": "+1h", "environment": "production", "targeting": {"prerequisites": [{"flag": "missing",
          "variants": ["on"]}]}}, "targeting.production.prerequisites.0.flag"),
    ],
)  # fmt: skip
def test_create_schedule__bad_input__400_naming_the_field_and_nothing_written(api, flag, body, field):
    # Given: a body with one thing wrong ("+1h" stands for an hour from now)
    if body["at"] == "+1h":
        body = {**body, "at": _moment(3600)}

    # When
    response = api.post(f"/flags/{flag['_id']}/schedules", json=body)

    # Then
    assert response.status_code == 400, response.json
    assert response.json["error"] == "validation_error"
    assert field in [item["field"] for item in response.json["details"]]
    assert api.get(f"/flags/{flag['_id']}/schedules").json == []
    assert api.get("/audit?action=schedule.created").json["events"] == []


def test_create_schedule__too_many_pending__400_and_nothing_written(api, flag, monkeypatch):
    # Given: a flag at the bound of pending schedules (a small bound, for speed)
    monkeypatch.setattr("feature_flags.schedules.service.MAX_PENDING_PER_FLAG", 3)
    body = {"at": _moment(3600), "environment": "production", "enabled": True}
    for _ in range(3):
        assert api.post(f"/flags/{flag['_id']}/schedules", json=body).status_code == 201

    # When
    response = api.post(f"/flags/{flag['_id']}/schedules", json=body)

    # Then
    assert response.status_code == 400
    assert response.json["error"] == "too_many_schedules"
    assert len(api.get(f"/flags/{flag['_id']}/schedules").json) == 3


def test_schedules__create_list_cancel__audited_and_cancel_refused_twice(api, flag, make_app):
    # Given
    made = api.post(
        "/flags/checkout/schedules", json={"at": _moment(3600), "environment": "staging", "targeting": RULES}
    )
    assert made.status_code == 201, made.json
    schedule = made.json
    assert schedule["state"] == "pending" and schedule["created_by"] == "bootstrap"
    assert schedule["targeting"]["rules"][0]["serve"] == "on" and schedule["late"] is False

    # When: read with a client token, then cancelled
    reader = api.post("/tokens", json={"name": "reader", "role": "client", "environment": "production"}).json
    listed = api.get(f"/flags/{flag['_id']}/schedules", headers=auth(reader["token"]))
    forbidden = api.delete(f"/flags/{flag['_id']}/schedules/{schedule['_id']}", headers=auth(reader["token"]))
    cancelled = api.delete(f"/flags/{flag['_id']}/schedules/{schedule['_id']}")
    again = api.delete(f"/flags/{flag['_id']}/schedules/{schedule['_id']}")
    unknown = api.delete(f"/flags/{flag['_id']}/schedules/{'0' * 24}")

    # Then
    # A production client sees no staging schedule, as it sees no staging targeting
    assert listed.status_code == 200 and listed.json == []
    assert [s["_id"] for s in api.get(f"/flags/{flag['_id']}/schedules").json] == [schedule["_id"]]
    assert forbidden.status_code == 403
    assert cancelled.status_code == 200 and cancelled.json["state"] == "cancelled"
    assert again.status_code == 409 and again.json["error"] == "schedule_not_pending"
    assert unknown.status_code == 404 and unknown.json["error"] == "schedule_not_found"
    history = api.get(f"/flags/{flag['_id']}/history").json["events"]
    assert [e["action"] for e in history] == ["schedule.cancelled", "schedule.created", "flag.created"]
    assert history[1]["schedule_id"] == schedule["_id"] and history[1]["environment"] == "staging"
    # And a cancelled schedule is never applied
    applier = make_app(scheduler_poll_seconds=0.1)
    assert scheduler(applier).look() == 0
    assert api.get("/flags/checkout").json["version"] == 1


def test_schedule__due__applied_within_5_seconds_by_the_actor_schedule(api, flag, make_app):
    # Given: another instance with its scheduler running
    applier = make_app(scheduler_poll_seconds=0.2)
    scheduler(applier).start()
    at = datetime.now(UTC) + timedelta(seconds=1)
    made = api.post(
        f"/flags/{flag['_id']}/schedules", json={"at": at.isoformat(), "environment": "production", "enabled": True}
    ).json

    # When
    _wait_for(lambda: _state(applier, flag["_id"], made["_id"]) == "applied", 8)

    # Then: applied within 5 s of its moment, and served by the instance that applied it
    schedule = api.get(f"/flags/{flag['_id']}/schedules").json[0]
    applied_at = datetime.fromisoformat(schedule["applied_at"])
    assert timedelta(0) <= applied_at - at < timedelta(seconds=5)
    assert schedule["late"] is False and schedule["state"] == "applied"
    _wait_for(lambda: _served_on(applier, flag["_id"])["production"] is True, FRESHNESS_SECONDS)
    event = api.get(f"/flags/{flag['_id']}/history").json["events"][0]
    assert event["action"] == "flag.toggled" and event["actor"] == "schedule"
    assert event["scheduled_by"] == "bootstrap" and event["schedule_id"] == made["_id"]
    assert event["after"]["environments"] == {"production": True}


def test_schedules__many_due_two_instances__each_applied_exactly_once(api, flag, make_app):
    # Given: 30 schedules due at once, and two instances over the one database
    ids = _store_due(api.application, flag, 30)
    instances = [make_app(scheduler_poll_seconds=0.05) for _ in range(2)]

    # When
    for instance in instances:
        scheduler(instance).start()
    _wait_for(lambda: all(_state(api.application, flag["_id"], i) == "applied" for i in ids), 30)

    # Then: one change per schedule, in the flag's versions and in the audit trail
    store = get_store(api.application)
    assert store.find_flag(flag["_id"])["version"] == 1 + len(ids)
    events = store.find_events(flag=flag["_id"], actor="schedule", limit=500)
    assert sorted(e["schedule_id"] for e in events) == sorted(ids)


KILLED_CLAIMER = """
import os, signal, sys
from dataclasses import replace
from datetime import timedelta
from feature_flags import create_app
from feature_flags.config import Config
from feature_flags.cache import FRESHNESS_SECONDS
from feature_flags.extensions import get_store
config = Config(mongo_uri=sys.argv[1], mongo_db=sys.argv[2], seed_demo=False, admin_token=sys.argv[3], scheduler=False)
store = get_store(create_app(config))
claimed = store.claim_due_schedule("doomed", timedelta(seconds=2))
print(claimed["_id"], flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_schedule__claimer_killed_holding_it__another_applies_it_once_after_the_lease(api, flag, config, make_app):
    # Given: a due schedule, claimed by a process that is then killed
    [schedule_id] = _store_due(api.application, flag, 1)
    killed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_CLAIMER), config.mongo_uri, config.mongo_db, ADMIN_TOKEN],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert killed.stdout.strip().splitlines()[-1] == schedule_id

    # When: another instance looks while the lease holds, and after
    applier = make_app(scheduler_poll_seconds=0.1)
    assert scheduler(applier).look() == 0
    scheduler(applier).start()
    _wait_for(lambda: _state(applier, flag["_id"], schedule_id) == "applied", 10)

    # Then: applied once
    store = get_store(api.application)
    assert store.find_flag(flag["_id"])["version"] == 2
    assert [e["schedule_id"] for e in store.find_events(flag=flag["_id"], actor="schedule")] == [schedule_id]


def test_schedule__flag_written_but_not_marked__next_claimer_only_marks_it(api, flag, make_app):
    # Given: what a claimer killed between the flag write and the mark leaves where writes have no transactions:
    # the flag changed under the schedule's name, the schedule still pending
    [schedule_id] = _store_due(api.application, flag, 1)
    store = get_store(api.application)
    schedule = store.find_schedule(flag["_id"], schedule_id)
    store.update_flag(flag["_id"], {"targeting": {"production": schedule["targeting"]}}, "schedule", once=schedule_id)

    # When
    applier = make_app()
    assert scheduler(applier).look() == 1

    # Then: marked applied without a second change
    assert _state(applier, flag["_id"], schedule_id) == "applied"
    assert store.find_flag(flag["_id"])["version"] == 2
    assert len(store.find_events(flag=flag["_id"], actor="schedule")) == 1


def test_schedule__missed_while_every_instance_was_down__applied_at_start_and_late(api, flag, make_app):
    # Given: a schedule whose moment passed ten minutes ago, while nothing ran
    [schedule_id] = _store_due(api.application, flag, 1, ago=timedelta(minutes=10))

    # When: an instance starts
    applier = make_app(scheduler_poll_seconds=0.2)
    scheduler(applier).start()

    # Then
    _wait_for(lambda: _state(applier, flag["_id"], schedule_id) == "applied", 5)
    [schedule] = api.get(f"/flags/{flag['_id']}/schedules").json
    assert schedule["late"] is True
    assert api.get(f"/flags/{flag['_id']}").json["targeting"]["production"]["serve"] == "off"


def test_schedule__targeting_no_longer_valid__failed_with_reason_and_audited(api, flag, make_app):
    # Given: a schedule serving 'on', then the flag's variants change so it has none
    made = api.post(f"/flags/{flag['_id']}/schedules", json={"at": _moment(), "environment": "production",
                                                           "targeting": {"serve": "on"}}).json  # fmt: skip
    changed = api.put(
        f"/flags/{flag['_id']}",
        json={
            "variants": {"blue": "blue", "green": "green"},
            "off_variant": "blue",
            "targeting": {env: {"serve": "green"} for env in ("development", "staging", "production")},
        },
    )
    assert changed.status_code == 200, changed.json

    # When
    assert scheduler(make_app()).look() == 1

    # Then
    [schedule] = api.get(f"/flags/{flag['_id']}/schedules").json
    assert schedule["state"] == "failed" and "'on' is not one of this flag's variants" in schedule["reason"]
    assert api.get(f"/flags/{flag['_id']}").json["targeting"]["production"] == {"rules": [], "serve": "green"}
    event = api.get(f"/flags/{flag['_id']}/history").json["events"][0]
    assert event["action"] == "schedule.failed" and event["actor"] == "schedule"
    assert event["schedule_id"] == made["_id"] and event["after"]["reason"] == schedule["reason"]
    assert api.delete(f"/flags/{flag['_id']}/schedules/{made['_id']}").status_code == 409


def test_schedule__flag_archived__waits_then_applies_after_revive(api, flag, make_app):
    # Given: a due schedule of an archived flag, and an instance applying schedules
    made = api.post(f"/flags/{flag['_id']}/schedules", json={"at": _moment(), "environment": "production",
                                                           "enabled": True}).json  # fmt: skip
    assert api.post(f"/flags/{flag['_id']}/archive").status_code == 200
    applier = make_app(scheduler_poll_seconds=0.1)
    scheduler(applier).start()

    # When: it has looked several times
    time.sleep(1.0)

    # Then: still pending, the flag unchanged
    assert _state(applier, flag["_id"], made["_id"]) == "pending"
    assert api.get(f"/flags/{flag['_id']}").json["environments"]["production"] is False

    # And when the flag is revived, it applies
    assert api.post(f"/flags/{flag['_id']}/revive").status_code == 200
    _wait_for(lambda: _state(applier, flag["_id"], made["_id"]) == "applied", 8)
    _wait_for(lambda: _served_on(applier, flag["_id"])["production"] is True, FRESHNESS_SECONDS)


def test_delete_flag__with_schedules__deletes_them(api, flag):
    # Given
    for seconds in (60, 120):
        body = {"at": _moment(seconds), "environment": "production", "enabled": True}
        assert api.post(f"/flags/{flag['_id']}/schedules", json=body).status_code == 201

    # When
    assert api.delete(f"/flags/{flag['_id']}").status_code == 204

    # Then
    assert get_store(api.application).find_schedules(flag["_id"]) == []
    assert api.get(f"/flags/{flag['_id']}/schedules").status_code == 404


def test_list_schedules__applied_between_the_two_reads__listed_once_as_applied(api, flag, monkeypatch):
    # Given: a due schedule, and a scheduler that applies it just after the list has read the pending ones
    store = get_store(api.application)
    at = (utcnow() + timedelta(seconds=30)).isoformat()
    made = api.post(f"/flags/{flag['_id']}/schedules", json={"at": at, "environment": "staging", "enabled": True}).json
    collection = store._schedules
    reads = []

    class ThenApplied:
        """The first read's cursor: once it has been read to the end, the schedule is applied."""

        def __init__(self, cursor):
            self.cursor = cursor

        def sort(self, *args):
            self.cursor = self.cursor.sort(*args)
            return self

        def limit(self, *args):
            self.cursor = self.cursor.limit(*args)
            return self

        def __iter__(self):
            yield from self.cursor
            collection.update_one({"_id": ObjectId(made["_id"])}, {"$set": {"state": "applied"}})

    class AppliedInBetween:
        def __getattr__(self, name):
            return getattr(collection, name)

        def find(self, query, *args, **kwargs):
            reads.append(query)
            cursor = collection.find(query, *args, **kwargs)
            return ThenApplied(cursor) if len(reads) == 1 else cursor

    monkeypatch.setattr(store, "_schedules", AppliedInBetween())

    # When
    listed = api.get(f"/flags/{flag['_id']}/schedules").json

    # Then
    assert [(s["_id"], s["state"]) for s in listed] == [(made["_id"], "applied")]

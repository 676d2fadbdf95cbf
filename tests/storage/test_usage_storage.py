"""Evaluation counts in the database: one flush's writes, failed flushes, resent batches and the buckets' expiry."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from secantus.server import SecantusDBServer

from feature_flags.errors import DatabaseUnavailable
from feature_flags.extensions import get_store
from feature_flags.storage.usage import hour_of
from feature_flags.usage import usage_recorder
from tests.support import app_on, auth

CONTEXT = {"context": {"targetingKey": "user-1"}}


def evaluate(client, name: str, times: int, environment: str = "staging") -> None:
    """Evaluate one flag times over OFREP, each answered 200."""
    for _ in range(times):
        response = client.post(f"/ofrep/v1/evaluate/flags/{name}?environment={environment}", json=CONTEXT)
        assert response.status_code == 200, response.json


def buckets_of(app, flag_id: str) -> list[dict]:
    return list(get_store(app).db.usage_hours.find({"flag_id": flag_id}))


def test_flush__one_flag_evaluated__bucket_and_last_seen_written_and_added_across_flushes(app, client):
    # Given a flag that is on in staging
    flag = client.post("/flags", json={"name": "counted", "environments": {"staging": True}}).json

    # When it is evaluated 3 times, flushed, then twice more and flushed again
    evaluate(client, "counted", 3)
    usage_recorder(app).flush()
    evaluate(client, "counted", 2)
    usage_recorder(app).flush()

    # Then one bucket for the hour holds the sum by environment and variant, with its expiry and last stamp
    (bucket,) = buckets_of(app, flag["_id"])
    assert bucket["counts"] == {"staging": {"on": 5}}
    assert bucket["hour"] == hour_of(datetime.now(UTC))
    assert bucket["expires_at"] == bucket["hour"] + timedelta(hours=26)
    # And the flag's last-seen stamp is the same moment as the bucket's
    stamps = get_store(app).find_last_evaluated(flag["_id"])
    assert set(stamps) == {"staging"}
    assert stamps["staging"] == bucket["last"]["staging"]
    assert datetime.now(UTC) - stamps["staging"] < timedelta(seconds=30)
    assert usage_recorder(app).pending() == 0


def test_ensure_indexes__usage_buckets__expire_by_a_ttl_index_on_expires_at(app):
    indexes = get_store(app).db.usage_hours.index_information()
    ttl = [index for index in indexes.values() if "expireAfterSeconds" in index]
    assert ttl == [{"v": 2, "key": [("expires_at", 1)], "expireAfterSeconds": 0}]
    assert [("updated_at", 1)] in [index["key"] for index in get_store(app).db.flag_usage.index_information().values()]


def test_flush__database_down__counts_kept_and_written_exactly_once_when_it_is_back(database_server):
    # Given an app over a database of this test's own, and a flag evaluated 4 times
    server = database_server()
    app = app_on(server, db_timeout_ms=300)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = auth()["Authorization"]
    flag = client.post("/flags", json={"name": "kept", "environments": {"staging": True}}).json
    evaluate(client, "kept", 4)

    try:
        # When the database goes away and the flush fails
        server.stop()
        with pytest.raises(DatabaseUnavailable):
            usage_recorder(app).flush()
        assert usage_recorder(app).pending() == 4
        # And once it is back, 3 more are evaluated before the next flush
        server.start()
        # The app reconnects on its own; evaluations are served again once its flags are confirmed fresh.
        deadline = time.monotonic() + 20
        while client.get("/flags/kept").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        evaluate(client, "kept", 3)
        usage_recorder(app).flush()

        # Then the database holds exactly 7, nothing lost and nothing twice
        assert [bucket["counts"] for bucket in buckets_of(app, flag["_id"])] == [{"staging": {"on": 7}}]
        assert usage_recorder(app).pending() == 0
    finally:
        get_store(app).client.close()


def test_add_usage__same_batch_sent_twice__added_once(app):
    # Given a batch of counts for one flag and hour, as a flush sends it
    store = get_store(app)
    hour = hour_of(datetime.now(UTC))
    counts = {("f1", hour): {"staging": {"on": 2, "off": 1}}}

    # When it is sent, sent again (as after an answer lost in a timeout), then the next batch follows
    store.add_usage(counts, {"f1": {"staging": hour}}, writer="w1", sequence=1)
    store.add_usage(counts, {"f1": {"staging": hour}}, writer="w1", sequence=1)
    store.add_usage({("f1", hour): {"staging": {"on": 1}}}, {}, writer="w1", sequence=2)
    # And another writer's first batch arrives
    store.add_usage({("f1", hour): {"staging": {"on": 10}}}, {}, writer="w2", sequence=1)

    # Then each batch is counted once
    (bucket,) = list(store.db.usage_hours.find({"flag_id": "f1"}))
    assert bucket["counts"] == {"staging": {"on": 13, "off": 1}}


def test_delete_usage__flag_deleted__its_buckets_and_stamps_go(app):
    store = get_store(app)
    hour = hour_of(datetime.now(UTC))
    for flag_id in ("gone", "stays"):
        store.add_usage({(flag_id, hour): {"staging": {"on": 1}}}, {flag_id: {"staging": hour}}, "w", 1)

    store.delete_usage("gone")

    assert buckets_of(app, "gone") == [] and store.find_last_evaluated("gone") == {}
    assert len(buckets_of(app, "stays")) == 1 and store.find_last_evaluated("stays") == {"staging": hour}


def test_ttl__bucket_past_its_expiry__deleted_by_the_database(tmp_path):
    # Given a database that sweeps expired documents every second. In process: secantusd-py reads
    # [storage] ttl_sweep_seconds from its --config file but does not pass it on (0.7.0b3), so the daemon
    # would sweep every 60 s whatever the file says.
    with SecantusDBServer(storage_path=str(tmp_path / "db"), ttl_sweep_seconds=1) as server:
        app = app_on(server)
        try:
            store = get_store(app)
            # When a bucket from 27 hours ago is written (its expiry has passed) beside one of this hour
            now = hour_of(datetime.now(UTC))
            old = now - timedelta(hours=27)
            store.add_usage({("f", old): {"staging": {"on": 1}}, ("f", now): {"staging": {"on": 1}}}, {}, "w", 1)
            assert len(buckets_of(app, "f")) == 2

            # Then within a few seconds the old one is gone and the current one stays
            deadline = time.monotonic() + 10
            while len(buckets_of(app, "f")) == 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert [bucket["hour"] for bucket in buckets_of(app, "f")] == [now]
        finally:
            get_store(app).client.close()

"""The database: outages, restarts, the embedded default and first-start seeding."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo import MongoClient

from feature_flags import create_app
from feature_flags.cache import FRESHNESS_SECONDS
from feature_flags.config import Config
from feature_flags.extensions import get_store
from feature_flags.flags.demo import DEMO_FLAGS
from tests.support import ADMIN_TOKEN, DatabaseServer, app_on, auth, free_port


@pytest.fixture
def own_database(database_server):
    """A database server this test may stop and start, with its data on disk."""
    return database_server()


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_outage__requests_fail_fast_with_503_then_recover_with_data_kept(own_database):
    app = app_on(own_database)
    client = app.test_client()
    assert client.post("/flags", json={"name": "survivor"}, headers=auth()).status_code == 201

    # When the database goes away (and the in-memory flags' freshness bound has passed)
    own_database.stop()
    time.sleep(FRESHNESS_SECONDS + 0.1)

    # Then reads and writes fail within 2 seconds with a JSON 503, readiness fails, liveness holds
    for call in (
        lambda: client.get("/flags/survivor", headers=auth()),
        lambda: client.post("/flags", json={"name": "lost"}, headers=auth()),
        lambda: client.post("/flags/survivor/toggle", headers=auth()),
    ):
        response, seconds = _timed(call)
        assert response.status_code == 503, response.json
        assert response.json["error"] == "database_unavailable"
        assert seconds < 2.0
    ready, seconds = _timed(lambda: client.get("/readyz"))
    assert ready.status_code == 503 and seconds < 2.0
    assert client.get("/healthz").status_code == 200

    # When it comes back on the same data, the service recovers by itself with the data intact
    own_database.start()
    deadline = time.monotonic() + 15
    while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.get("/readyz").status_code == 200
    flag = client.get("/flags/survivor", headers=auth())
    assert flag.status_code == 200 and flag.json["name"] == "survivor"
    assert client.get("/flags/lost", headers=auth()).status_code == 404
    assert client.post("/flags/survivor/toggle", headers=auth()).status_code == 200


def test_startup__database_down__starts_unready_then_prepares_when_it_answers(tmp_path):
    server = DatabaseServer(tmp_path / "db")
    app = app_on(server, seed_demo=True)  # nothing listens yet
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    assert client.get("/flags", headers=auth()).status_code == 503

    server.start()
    try:
        deadline = time.monotonic() + 15
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        response = client.get("/flags", headers=auth())
        assert response.status_code == 200
        assert len(response.json) == len(DEMO_FLAGS)
        # The unique index exists once prepared
        assert client.post("/flags", json={"name": "dark-mode"}, headers=auth()).status_code == 409
    finally:
        server.stop()


def test_restart__same_data_folder__flags_and_versions_kept(own_database):
    client = app_on(own_database).test_client()
    client.post("/flags", json={"name": "kept", "environments": {"production": True}}, headers=auth())
    client.post("/flags/kept/toggle", headers=auth())
    before = client.get("/flags/kept", headers=auth()).json

    own_database.stop()
    own_database.start()

    after = app_on(own_database).test_client().get("/flags/kept", headers=auth())
    assert after.status_code == 200 and after.json == before


def test_writes__majority_journaled_write_concern(app):
    assert get_store(app).db.write_concern.document == {"w": "majority", "j": True}


def test_embedded__no_mongo_configured__starts_own_database_with_demo_flags_and_keeps_data(tmp_path):
    # Given no MongoDB configured at all
    config = Config(mongo_uri=None, data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN)
    app = create_app(config)
    client = app.test_client()

    # Then the six demo flags exist and a change can be made
    names = {f["name"] for f in client.get("/flags", headers=auth()).json}
    assert names == {f["name"] for f in DEMO_FLAGS}
    client.post("/flags", json={"name": "mine"}, headers=auth())
    get_store(app).client.close()
    app.extensions["feature_flags.embedded"].stop()

    # When it starts again on the same folder, the data is there and the demo is not re-seeded
    again = create_app(config)
    try:
        listed = again.test_client().get("/flags", headers=auth()).json
        assert len(listed) == len(DEMO_FLAGS) + 1
    finally:
        get_store(again).client.close()
        again.extensions["feature_flags.embedded"].stop()


def test_demo__all_deleted_then_restart__not_seeded_again(make_app):
    app = make_app(seed_demo=True)
    client = app.test_client()
    for flag in client.get("/flags", headers=auth()).json:
        assert client.delete(f"/flags/{flag['_id']}", headers=auth()).status_code == 204
    again = make_app(seed_demo=True)
    assert again.test_client().get("/flags", headers=auth()).json == []


def test_demo__seed_disabled__empty(make_app):
    app = make_app(seed_demo=False, mongo_db=f"test_{uuid.uuid4().hex[:12]}")
    assert app.test_client().get("/flags", headers=auth()).json == []
    get_store(app).client.drop_database(get_store(app).db.name)


def test_embedded__data_folder_in_use__clear_config_error(tmp_path):
    from feature_flags.config import ConfigError

    config = Config(mongo_uri=None, data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, seed_demo=False)
    first = create_app(config)
    try:
        with pytest.raises(ConfigError, match="in use by another process"):
            create_app(config)
    finally:
        get_store(first).client.close()
        first.extensions["feature_flags.embedded"].stop()


def _until_ok(call, seconds: float) -> float:
    """Repeat call until it answers 200; return how long that took, or fail after seconds."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if call().status_code == 200:
            return time.monotonic() - started
        time.sleep(0.2)
    pytest.fail(f"no 200 within {seconds} s")


def test_write__outlives_its_deadline__transaction_aborted_and_next_write_succeeds(database_server):
    # Given a flag, and a database that stalls the next insert (the audit event) past the write's deadline
    server = database_server("--enable-test-commands")
    client = app_on(server).test_client()
    assert client.post("/flags", json={"name": "stalled"}, headers=auth()).status_code == 201
    admin = MongoClient(server.uri)
    admin.admin.command(
        {
            "configureFailPoint": "failCommand",
            "mode": {"times": 1},
            "data": {"failCommands": ["insert"], "blockConnection": True, "blockTimeMS": 1500},
        }
    )

    # When a toggle runs out of time after it changed the flag inside its transaction
    assert client.post("/flags/stalled/toggle", headers=auth()).status_code == 503

    # Then the transaction was aborted: the next change to the same flag succeeds at once, not after the
    # server reaps the transaction (60 s)
    assert _until_ok(lambda: client.post("/flags/stalled/toggle", headers=auth()), 5) < 3
    history = client.get("/flags/stalled/history", headers=auth()).json["events"]
    assert [event["action"] for event in history] == ["flag.toggled", "flag.created"]
    admin.close()


def test_write__database_killed_under_load_and_restarted__writes_to_the_flag_succeed_within_seconds(database_server):
    # Given toggles of one flag running in four threads
    server = database_server("--sync-on-commit")
    app = app_on(server)
    client = app.test_client()
    assert client.post("/flags", json={"name": "busy"}, headers=auth()).status_code == 201
    stop = threading.Event()

    def toggle_until_stopped():
        own = app.test_client()
        while not stop.is_set():
            own.post("/flags/busy/toggle", headers=auth())

    threads = [threading.Thread(target=toggle_until_stopped) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)

    # When the database is killed mid-write and comes back on the same data
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    server.start()
    stop.set()
    for thread in threads:
        thread.join(10)

    # Then writes to that very flag succeed within seconds
    assert _until_ok(lambda: client.post("/flags/busy/toggle", headers=auth()), 10) < 5


KILLED_WRITER = """
import sys, time
from pymongo import MongoClient
from bson import ObjectId
client = MongoClient(sys.argv[1])
flags = client[sys.argv[2]].flags
session = client.start_session()
session.start_transaction()
flags.update_one({"name": "orphaned"}, {"$inc": {"version": 1}}, session=session)
print("in transaction", flush=True)
time.sleep(600)
"""

# A database whose transactions are reaped after this long, as docs/how-to/production-mongodb.md asks.
SHORT_TRANSACTION_LIFETIME = """
import sys, time
from secantus import SecantusDBServer
server = SecantusDBServer(host="127.0.0.1", port=int(sys.argv[1]), storage_path=":memory:",
                          transaction_lifetime_seconds=float(sys.argv[2]))
server.start()
print("listening", flush=True)
time.sleep(600)
"""


def test_write__writer_killed_inside_a_transaction__writes_resume_once_the_server_reaps_it(tmp_path):
    # Given a database that reaps abandoned transactions after 3 s (transactionLifetimeLimitSeconds)
    port = free_port()
    database = subprocess.Popen(
        [sys.executable, "-c", SHORT_TRANSACTION_LIFETIME, str(port), "3"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert database.stdout.readline().strip() == "listening"
        server = DatabaseServer(port=port)
        client = app_on(server).test_client()
        assert client.post("/flags", json={"name": "orphaned"}, headers=auth()).status_code == 201

        # When a writer (a gunicorn worker, say) is killed while its transaction holds the flag
        writer = subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, server.uri, "app"], stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout.readline().strip() == "in transaction"
        writer.kill()
        writer.wait()

        # Then the flag can be changed again within seconds of the lifetime limit, with nothing lost
        assert _until_ok(lambda: client.post("/flags/orphaned/toggle", headers=auth()), 10) < 6
        flag = client.get("/flags/orphaned", headers=auth()).json
        assert flag["version"] == 2
    finally:
        database.kill()
        database.wait()


def _many_audit_events(uri: str, db_name: str, count: int) -> None:
    """Write count audit events straight into the database, as years of use would leave them (no indexes)."""
    client = MongoClient(uri)
    start = datetime.now(UTC) - timedelta(seconds=count)
    events = [
        {
            "_id": ObjectId(),
            "at": start + timedelta(seconds=i),
            "actor": f"person-{i % 40}",
            "action": "flag.created" if i % 1000 == 0 else "flag.toggled",
            "flag_id": str(ObjectId()),
            "flag_name": f"flag-{i % 300}",
            "request_id": None,
        }
        for i in range(count)
    ]
    client[db_name].audit.insert_many(events, ordered=False)
    client.close()


def test_startup__large_unindexed_audit_log__not_ready_until_indexed_then_filtered_queries_answer(database_server):
    # Given 30,000 audit events without indexes, and an operation timeout far shorter than building them takes
    server = database_server()
    _many_audit_events(server.uri, "app", 30_000)

    # When the service starts
    app = app_on(server, db_timeout_ms=300)
    client = app.test_client()

    # Then readiness says not ready for as long as the API cannot serve, and both come good by themselves
    seen = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        ready = client.get("/readyz").status_code
        api = client.get("/audit?actor=person-7&limit=5", headers=auth())
        seen.append((ready, api.status_code))
        assert not (ready == 200 and api.status_code != 200), api.json
        if ready == 200:
            break
        # Preparation may finish between the two requests; until it does, the API says why it cannot serve.
        assert api.status_code == 200 or api.json["error"] == "database_not_ready", api.json
        time.sleep(0.2)
    assert seen[0][0] == 503, "preparation should have outlasted the first request"
    assert seen[-1] == (200, 200), seen[-5:]

    # And the filtered audit queries are served from indexes within the 300 ms timeout. (Selective ones: the
    # test database sorts what an index finds in memory, where mongod reads the order from the index too.)
    recent = (datetime.now(UTC) - timedelta(seconds=100)).isoformat().replace("+00:00", "Z")
    for query in ("actor=person-7", "action=flag.created", "flag=flag-9", f"since={recent}"):
        response = client.get(f"/audit?{query}&limit=500", headers=auth())
        assert response.status_code == 200, (query, response.json)
        assert len(response.json["events"]) > 0


def test_db_prepare__command__builds_the_indexes_the_audit_queries_use(runner, config, mongo_uri):
    # Given a database whose audit indexes are gone
    database = MongoClient(mongo_uri)[config.mongo_db]
    database.audit.drop_indexes()

    # When `flask db prepare` runs
    result = runner.invoke(args=["db", "prepare"])

    # Then it says so and the indexes are back
    assert result.exit_code == 0, result.output
    assert "database prepared" in result.output
    assert {"by_actor", "by_action", "by_time", "by_flag", "by_new_flag_name"} <= set(
        database.audit.index_information()
    )


def test_shared_secret__instances_starting_together__all_get_the_one_value(make_app):
    # Given: eight instances over one database
    stores = [get_store(make_app()) for _ in range(8)]

    # When: they all ask at once for a secret none has made yet, a few times over (a race is not lost every time)
    for round_number in range(5):
        name, answers = f"raced-{round_number}", []
        threads = [
            threading.Thread(target=lambda s=store, n=name, a=answers: a.append(s.shared_secret(n))) for store in stores
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        # Then: every one of them gets the same secret (a thread that raised added nothing)
        assert len(answers) == len(stores) and len(set(answers)) == 1, answers
        assert isinstance(answers[0], str) and len(answers[0]) >= 40

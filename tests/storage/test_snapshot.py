"""Reads from memory: two instances on one database agree within a second, by change stream or by polling."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from pymongo import monitoring

from feature_flags import create_app
from feature_flags.cache import (
    FRESHNESS_SECONDS,
    SharedRevision,
    change_notices,
    flag_cache,
    shared_revision_path,
    warm_up,
)
from feature_flags.cache.siblings import Siblings
from feature_flags.config import Config
from tests.support import ADMIN_TOKEN, DatabaseServer


def _client(app, secret: str = ADMIN_TOKEN):
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return test_client


def _seconds_until(check, limit: float = 5.0) -> float:
    """Return how long check() took to become true, polling every 20 ms; fail after limit."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < limit, "never became true"
        time.sleep(0.02)
    return time.monotonic() - started


def _wait_for_mode(app, mode: str, limit: float = 10.0) -> None:
    _seconds_until(lambda: flag_cache(app).mode == mode, limit)


def _enabled(client, name: str) -> bool | None:
    response = client.get(f"/flags/{name}")
    return response.json["environments"]["production"] if response.status_code == 200 else None


def _evaluated(client, name: str) -> object:
    response = client.post(f"/ofrep/v1/evaluate/flags/{name}?environment=production", json={"context": {}})
    return response.json.get("value")


def _agree_both_ways(first, second) -> None:
    """A change through either instance is served by the other within the freshness bound."""
    a, b = _client(first), _client(second)
    assert a.post("/flags", json={"name": "shared"}).status_code == 201
    assert _seconds_until(lambda: _enabled(b, "shared") is False) < FRESHNESS_SECONDS
    for writer, reader in ((a, b), (b, a), (a, b), (b, a)):
        # When one instance toggles
        state = writer.post("/flags/shared/toggle", json={"environment": "production"}).json["enabled"]
        # Then the other serves it, in the flag, the list and evaluation, within a second
        assert _seconds_until(lambda s=state, r=reader: _enabled(r, "shared") is s) < FRESHNESS_SECONDS
        listed = reader.get("/flags?environment=production").json
        assert [f["enabled"] for f in listed if f["name"] == "shared"] == [state]
        assert _evaluated(reader, "shared") is state
    # Deletes too
    assert b.delete("/flags/shared").status_code == 204
    assert _seconds_until(lambda: a.get("/flags/shared").status_code == 404) < FRESHNESS_SECONDS


@pytest.fixture
def standalone_database():
    """A SecantusDB server in standalone mode: no change streams, as a single mongod."""
    server = DatabaseServer(":memory:", None, "--standalone").start()
    yield server
    server.stop()


def _apps_on(server: DatabaseServer, count: int, storage: str | None = None):
    db_name = f"test_{uuid.uuid4().hex[:12]}"
    config = Config(mongo_uri=server.uri, mongo_db=db_name, seed_demo=False, admin_token=ADMIN_TOKEN)
    return [create_app(config) for _ in range(count)]


def _close(*apps) -> None:
    for app in apps:
        app.extensions["feature_flags.store"].client.close()


def test_read_your_writes__toggle_then_read_same_instance__sees_it_at_once(make_app):
    # Given two instances, so changes also arrive from outside
    app, other = make_app(), make_app()
    client, other_client = _client(app), _client(other)
    client.post("/flags", json={"name": "mine"})
    other_client.get("/flags")
    for _ in range(20):
        # When this instance toggles, the very next read here sees it, with no wait
        state = client.post("/flags/mine/toggle", json={"environment": "production"}).json["enabled"]
        assert _enabled(client, "mine") is state
        assert _evaluated(client, "mine") is state
        listed = client.get("/flags?environment=production").json
        assert listed[0]["enabled"] is state


def test_read_your_writes__create_update_delete__seen_at_once(client):
    client.get("/flags")
    client.post("/flags", json={"name": "fresh"})
    assert client.get("/flags/fresh").status_code == 200
    client.put("/flags/fresh", json={"description": "changed"})
    assert client.get("/flags/fresh").json["description"] == "changed"
    client.put("/flags/fresh", json={"name": "renamed"})
    assert client.get("/flags/renamed").status_code == 200
    assert client.get("/flags/fresh").status_code == 404
    client.delete("/flags/renamed")
    assert client.get("/flags/renamed").status_code == 404
    assert client.get("/flags").json == []


class _FlagReads(monitoring.CommandListener):
    """Counts the reads of one database made on the thread that creates it: the test's, where the test client serves
    its requests (a recorder, not a stand-in)."""

    def __init__(self, db_name: str) -> None:
        self.db_name = db_name
        self.count = 0
        # pymongo tells its listeners on the thread that runs the command. The cache's follower and the background
        # loops read on their own threads and clocks (the follower compares the revision once a second), so a slow
        # machine that spreads the requests over more of their ticks must not count them.
        self.thread = threading.get_ident()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name != self.db_name or event.command_name not in {"find", "aggregate", "count"}:
            return
        if threading.get_ident() == self.thread:
            self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_reads__many_requests__no_database_round_trip_each(config):
    # Given: a recorder on every client created from now on, counting this test's database only
    reads = _FlagReads(config.mongo_db)
    monitoring.register(reads)
    app = create_app(config)
    try:
        client = _client(app)
        client.post("/flags", json={"name": "hot"})
        client.get("/flags")
        _wait_for_mode(app, "change_stream")
        before = reads.count
        # (The recorder hears this thread: the app's start and the create read the database here.)
        assert before > 0
        # When 300 reads of every kind are served
        for _ in range(100):
            assert client.get("/flags/hot").status_code == 200
            assert client.get("/flags?environment=production").status_code == 200
            assert client.post("/ofrep/v1/evaluate/flags/hot", json={}).status_code == 200
        # Then the database was not asked once
        assert reads.count == before
    finally:
        _close(app)


def test_list__etag__304_until_another_instance_changes_a_flag(make_app):
    app, other = make_app(), make_app()
    client, other_client = _client(app), _client(other)
    client.post("/flags", json={"name": "e", "environments": {"production": True}})
    first = client.get("/flags?environment=production")
    etag = first.headers["ETag"].strip('"')
    assert client.get("/flags?environment=production", headers={"If-None-Match": etag}).status_code == 304
    # The ETag depends on the environment asked about (e is off in staging)
    assert client.get("/flags?environment=staging").headers["ETag"].strip('"') != etag
    other_client.post("/flags/e/toggle", json={"environment": "production"})
    changed = _seconds_until(
        lambda: client.get("/flags?environment=production", headers={"If-None-Match": etag}).status_code == 200
    )
    assert changed < FRESHNESS_SECONDS


def test_start__app_created__no_thread_until_first_request(config):
    # Background work starts with the first request, never at import or creation (gunicorn forks in between).
    app = create_app(config)
    try:
        cache = flag_cache(app)
        assert cache.mode == "idle"
        names_before = {t.ident for t in threading.enumerate() if t.name == "flag-cache"}
        _client(app).get("/flags")
        names_after = {t.ident for t in threading.enumerate() if t.name == "flag-cache"}
        assert len(names_after - names_before) == 1
    finally:
        _close(app)


def test_database_restart__stream_lost__falls_back_then_resumes_fresh(tmp_path):
    # Given two instances following a change stream on a database that will restart
    server = DatabaseServer(tmp_path / "db").start()
    first, second = _apps_on(server, 2)
    try:
        a, b = _client(first), _client(second)
        assert a.post("/flags", json={"name": "survivor"}).status_code == 201
        b.get("/flags")
        _wait_for_mode(second, "change_stream")
        # When the database goes away
        server.stop()
        # Then the follower notices, and reads stop vouching for data nobody can confirm
        _wait_for_mode(second, "polling", limit=5)
        response = b.get("/flags/survivor")
        assert response.status_code == 503
        # When it comes back, a change through one instance reaches the other within the bound
        server.start()
        _seconds_until(lambda: a.get("/readyz").status_code == 200, limit=15)
        _seconds_until(lambda: b.get("/flags/survivor").status_code == 200, limit=15)
        state = a.post("/flags/survivor/toggle", json={"environment": "production"}).json["enabled"]
        assert _seconds_until(lambda: _enabled(b, "survivor") is state) < FRESHNESS_SECONDS
        # And it goes back to the change stream, still agreeing
        _wait_for_mode(second, "change_stream", limit=15)
        state = a.post("/flags/survivor/toggle", json={"environment": "production"}).json["enabled"]
        assert _seconds_until(lambda: _enabled(b, "survivor") is state) < FRESHNESS_SECONDS
    finally:
        _close(first, second)
        server.stop()


def test_database_down__concurrent_reads__each_fails_fast(tmp_path):
    # Given an instance that has served flags from memory
    server = DatabaseServer(tmp_path / "db").start()
    (app,) = _apps_on(server, 1)
    try:
        client = _client(app)
        client.post("/flags", json={"name": "f"})
        assert client.get("/flags/f").status_code == 200
        _wait_for_mode(app, "change_stream")
        # When the database goes away and eight requests arrive together
        server.stop()
        _wait_for_mode(app, "polling", limit=5)
        timings: list[tuple[int, float]] = []

        def read() -> None:
            started = time.monotonic()
            status = _client(app).get("/flags/f").status_code
            timings.append((status, time.monotonic() - started))

        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        # Then none is served unverified data, and none waits behind the others' timeouts
        assert [status for status, _ in timings] == [503] * 8
        assert max(seconds for _, seconds in timings) < 2.5, timings
    finally:
        _close(app)
        server.stop()


def test_warm_up__fresh_process__loaded_and_following_before_any_request(config):
    app = create_app(config)
    try:
        app.extensions["feature_flags.store"].create_flag({"name": "early"}, "test")
        assert flag_cache(app).loaded is None
        warm_up(app)
        assert "early" in flag_cache(app).loaded.by_name
        _wait_for_mode(app, "change_stream")
    finally:
        _close(app)


def test_warm_up__database_down__logged_not_raised(tmp_path):
    server = DatabaseServer(tmp_path / "db")  # never started
    config = Config(mongo_uri=server.uri, mongo_db="down", seed_demo=False, admin_token=ADMIN_TOKEN)
    app = create_app(config)
    try:
        warm_up(app)
        assert flag_cache(app).loaded is None
    finally:
        _close(app)


def _toggle_then_read_elsewhere(writer_app, reader_app, rounds: int = 30) -> None:
    writer, reader = _client(writer_app), _client(reader_app)
    for _ in range(rounds):
        state = writer.post("/flags/ryw/toggle", json={"environment": "production"}).json["enabled"]
        # No waiting: the very next read through the other process of this host sees the write
        assert _enabled(reader, "ryw") is state
        assert _evaluated(reader, "ryw") is state


def test_read_your_writes__other_worker_of_same_host__sees_it_at_once(make_app):
    # Given two processes of one instance (gunicorn's workers): same database, same host
    first, second = make_app(), make_app()
    _client(first).post("/flags", json={"name": "ryw"})
    _client(second).get("/flags")
    _wait_for_mode(second, "change_stream")
    _toggle_then_read_elsewhere(first, second)
    _toggle_then_read_elsewhere(second, first)


def test_read_your_writes__other_worker_without_change_streams__sees_it_at_once(standalone_database):
    first, second = _apps_on(standalone_database, 2)
    try:
        _client(first).post("/flags", json={"name": "ryw"})
        _client(second).get("/flags")
        _wait_for_mode(second, "polling")
        _toggle_then_read_elsewhere(first, second, rounds=10)
    finally:
        _close(first, second)


def test_shared_revision__publish_and_lower__kept_highest_until_lowered(tmp_path):
    shared, other = SharedRevision(tmp_path / "r"), SharedRevision(tmp_path / "r")
    assert shared.read() == 0
    shared.publish(7)
    other.publish(5)
    assert (shared.read(), other.read()) == (7, 7)
    other.lower_to(3)
    assert shared.read() == 3


def test_shared_revision__directory_not_writable__no_sharing_no_error(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    shared = SharedRevision(blocked / "sub" / "r")
    shared.publish(9)
    assert shared.read() == 0


def test_shared_revision__left_by_replaced_database__reads_do_not_wait_for_it(config):
    # Given a revision far ahead of this database's, as a restored or restarted in-memory database leaves
    SharedRevision(shared_revision_path(config)).publish(10**9)
    app = create_app(config)
    try:
        client = _client(app)
        client.post("/flags", json={"name": "x"})
        assert client.get("/flags/x").status_code == 200
        _wait_for_mode(app, "change_stream")
        # When read again and again, each read is served at once
        started = time.monotonic()
        for _ in range(20):
            assert client.get("/flags/x").status_code == 200
        assert time.monotonic() - started < 1.0
    finally:
        _close(app)


def _segment_changes_reach_the_other(first, second) -> None:
    """A segment changed through one instance changes what the other's flags serve within the freshness bound."""
    a, b = _client(first), _client(second)
    segment = {"name": "beta-users", "conditions": [{"attribute": "plan", "op": "in", "values": ["beta"]}]}
    assert a.post("/segments", json=segment).status_code == 201
    rule = {"when": [{"segment": "beta-users"}], "serve": "on"}
    flag = {
        "name": "gated",
        "environments": {"production": True},
        "targeting": {"production": {"rules": [rule], "serve": "off"}},
    }
    # Created on the other instance: the segment must be there already, and it is, within the bound
    assert _seconds_until(lambda: b.post("/flags", json=flag).status_code == 201) < FRESHNESS_SECONDS

    def served(client, plan: str) -> object:
        context = {"plan": plan}
        return client.post("/ofrep/v1/evaluate/flags/gated?environment=production", json={"context": context}).json

    assert _seconds_until(lambda: served(a, "beta").get("value") is True) < FRESHNESS_SECONDS
    for writer, reader, plan in ((a, b, "pro"), (b, a, "free"), (a, b, "beta")):
        # When one instance changes the segment's conditions
        conditions = [{"attribute": "plan", "op": "in", "values": [plan]}]
        assert writer.put("/segments/beta-users", json={"conditions": conditions}).status_code == 200
        # Then the other serves by them within a second, and reads the segment as changed
        assert _seconds_until(lambda p=plan, r=reader: served(r, p).get("value") is True) < FRESHNESS_SECONDS
        assert reader.get("/segments/beta-users").json["conditions"] == conditions
    # And a delete (once no flag names it) is seen too
    assert a.delete("/flags/gated").status_code == 204
    assert _seconds_until(lambda: b.delete("/segments/beta-users").status_code == 204) < FRESHNESS_SECONDS
    assert _seconds_until(lambda: a.get("/segments/beta-users").status_code == 404) < FRESHNESS_SECONDS


def _tokens_reach_the_other(first, second) -> None:
    """A token created or revoked through either instance is known or forgotten by the other within a second."""
    for writer, reader in ((first, second), (second, first)):
        # Given a client token created through one instance
        created = _client(writer).post(
            "/tokens", json={"name": f"app-{uuid.uuid4().hex[:6]}", "role": "client", "environment": "production"}
        )
        assert created.status_code == 201, created.json
        here, there = _client(writer, created.json["token"]), _client(reader, created.json["token"])
        # Then it works there at once, and on the other instance within a second
        assert here.post("/ofrep/v1/evaluate/flags", json={"context": {}}).status_code == 200
        assert _seconds_until(lambda t=there: t.get("/flags").status_code == 200) < FRESHNESS_SECONDS
        # When it is revoked through the same instance
        assert _client(writer).delete(f"/tokens/{created.json['id']}").status_code == 204
        # Then it stops there at once, and on the other within a second
        assert here.get("/flags").status_code == 401
        assert _seconds_until(lambda t=there: t.get("/flags").status_code == 401) < FRESHNESS_SECONDS


class _TokenCommands(monitoring.CommandListener):
    """Records which thread sent each command on one database's tokens (a recorder, not a stand-in)."""

    def __init__(self, db_name: str) -> None:
        self.db_name = db_name
        self.threads: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name == self.db_name and event.command.get(event.command_name) == "tokens":
            self.threads.append((event.command_name, threading.current_thread().name))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_client_token__many_evaluations__no_database_round_trip_and_use_stamped_by_its_thread(config):
    # Given a client token, and recorders on every client created from now on
    reads, commands = _FlagReads(config.mongo_db), _TokenCommands(config.mongo_db)
    monitoring.register(reads)
    monitoring.register(commands)
    app = create_app(config)
    try:
        admin = _client(app)
        admin.post("/flags", json={"name": "hot", "environments": {"production": True}})
        secret = admin.post("/tokens", json={"name": "web", "role": "client", "environment": "production"}).json
        admin.get("/flags")
        _wait_for_mode(app, "change_stream")
        before, sent_before = reads.count, len(commands.threads)
        application = _client(app, secret["token"])

        # When it is used for 200 evaluations, single and bulk
        for _ in range(100):
            assert application.post("/ofrep/v1/evaluate/flags/hot", json={"context": {}}).status_code == 200
            assert application.post("/ofrep/v1/evaluate/flags", json={"context": {}}).status_code == 200

        # Then nothing was read from the database, and its use was stamped once, by the token-use thread
        assert reads.count == before
        _seconds_until(lambda: admin.get("/tokens").json[0]["last_used_at"] is not None)
        writes = [sent for sent in commands.threads[sent_before:] if sent[0] != "find"]  # finds: GET /tokens
        assert writes == [("update", "token-use")]
    finally:
        _close(app)


# What one instance changes, the other serves within the bound: flags, segments, tokens.
CHANGES_REACH_THE_OTHER = pytest.mark.parametrize(
    "changes_reach_the_other",
    [
        pytest.param(_agree_both_ways, id="flags"),
        pytest.param(_segment_changes_reach_the_other, id="segments"),
        pytest.param(_tokens_reach_the_other, id="tokens"),
    ],
)


@CHANGES_REACH_THE_OTHER
def test_two_instances__change_stream__agree_within_a_second(make_app, changes_reach_the_other):
    first, second = make_app(), make_app()
    _client(first).get("/flags")
    _client(second).get("/flags")
    _wait_for_mode(first, "change_stream")
    _wait_for_mode(second, "change_stream")
    changes_reach_the_other(first, second)


@CHANGES_REACH_THE_OTHER
def test_two_instances__standalone_without_change_streams__agree_by_polling(
    standalone_database, changes_reach_the_other
):
    first, second = _apps_on(standalone_database, 2)
    try:
        _client(first).get("/flags")
        _client(second).get("/flags")
        _wait_for_mode(first, "polling")
        _wait_for_mode(second, "polling")
        changes_reach_the_other(first, second)
    finally:
        _close(first, second)


def _silenced(app) -> None:
    """Make the app's change stream stay open but deliver nothing."""
    store = app.extensions["feature_flags.store"]
    opened = store.watch_flags

    def silent():
        stream = opened()
        stream.next_changes = lambda: time.sleep(0.05) or []
        return stream

    store.watch_flags = silent


def test_change_stream__open_but_silent__caught_up_from_the_revision_within_seconds(make_app):
    # Given: a second instance whose change stream stays open but delivers nothing, no shared revision file, and
    # a first instance that does not tell the host's other processes of its writes
    first, second = make_app(), make_app()
    _silenced(second)
    flag_cache(second)._shared = None
    flag_cache(first)._siblings = None
    _client(first).get("/flags")
    _client(second).get("/flags")
    _wait_for_mode(second, "change_stream")

    # When: the first instance creates a token and a flag
    token = _client(first).post("/tokens", json={"name": "late", "role": "client", "environment": "staging"}).json
    assert _client(first).post("/flags", json={"name": "after-start"}).status_code == 201

    # Then: the second serves both within a few seconds, though its stream never said so
    assert _seconds_until(lambda: _client(second, token["token"]).get("/flags").status_code == 200, 6) < 4
    assert _enabled(_client(second), "after-start") is False


def test_siblings__a_write_here__another_process_of_the_host_serves_it_at_once_without_its_stream(make_app):
    # Given: a second process of this host whose change stream delivers nothing, and no shared revision file
    first, second = make_app(), make_app()
    _silenced(second)
    flag_cache(second)._shared = None
    _client(first).get("/flags")
    _client(second).get("/flags")
    _wait_for_mode(second, "change_stream")
    etag = change_notices(second).state("production").etag

    # When: the first creates a flag, on in production, and a token
    assert _client(first).post("/flags", json={"name": "told", "environments": {"production": True}}).status_code == 201
    token = _client(first).post("/tokens", json={"name": "told", "role": "client", "environment": "staging"}).json

    # Then: the second serves both, and its streams' state moved, well before its revision check (once a second)
    assert _seconds_until(lambda: _enabled(_client(second), "told") is True, 5) < 0.3
    assert _seconds_until(lambda: _client(second, token["token"]).get("/flags").status_code == 200, 5) < 0.3
    assert change_notices(second).peek("production").etag != etag


def test_siblings__a_directory_others_can_enter__nothing_received_from_it(tmp_path, caplog):
    # Given: the sockets' directory already made by someone with access for everyone (whoever can write there
    # could hand this process pickled data)
    directory = tmp_path / "revision.siblings"
    directory.mkdir(mode=0o777)
    directory.chmod(0o777)
    received = []
    siblings = Siblings(directory, received.extend)

    # When: the process starts listening
    siblings.start()

    # Then: it binds nothing there, says why once, and sending is a no-op
    assert list(directory.iterdir()) == []
    assert "cannot tell this host's other workers" in caplog.text
    siblings.tell([("revision", 1)])
    assert received == []

"""The database: outages, restarts, the embedded default and first-start seeding."""

from __future__ import annotations

import time
import uuid

import pytest

from feature_flags import create_app
from feature_flags.config import Config
from feature_flags.demo import DEMO_FLAGS
from feature_flags.extensions import get_store
from feature_flags.snapshot import FRESHNESS_SECONDS
from tests.conftest import ADMIN_TOKEN, DatabaseServer, app_on, auth


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

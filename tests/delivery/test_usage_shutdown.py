"""Under gunicorn as the image runs it, a graceful stop writes every worker's unflushed evaluation counts."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid

import requests
from pymongo import MongoClient

from tests.delivery.test_stack import GunicornApp, wait_for
from tests.support import ADMIN_TOKEN, ROOT, auth, free_port

FLAGS = ("alpha", "beta", "gamma")


def test_sigterm__two_workers_with_unflushed_counts__database_holds_exactly_what_was_sent(mongo_uri, tmp_path):
    # Given the service with two gevent workers, each flushing every 10 s, and three flags on in staging
    db_name = f"usage_{uuid.uuid4().hex[:12]}"
    app = GunicornApp(tmp_path, mongo_uri, db_name, GUNICORN_WORKERS="2").start()
    database = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)[db_name]
    try:
        ids = {}
        for name in FLAGS:
            created = requests.post(
                f"{app.url}/flags", json={"name": name, "environments": {"staging": True}}, headers=auth(), timeout=10
            )
            assert created.status_code == 201, created.text
            ids[name] = created.json()["_id"]

        # When single and bulk evaluations arrive, each on a new connection, until both workers have served some
        def serving_pids() -> set[str]:
            return {re.search(r"_(\d+)\.db$", p.name).group(1) for p in (tmp_path / "prometheus").glob("counter_*.db")}

        headers = {**auth(), "Connection": "close"}
        singles = bulks = 0
        while singles + bulks < 60 or (len(serving_pids()) < 2 and singles + bulks < 1000):
            if (singles + bulks) % 3:
                url, singles = f"{app.url}/ofrep/v1/evaluate/flags/alpha?environment=staging", singles + 1
            else:
                url, bulks = f"{app.url}/ofrep/v1/evaluate/flags?environment=staging", bulks + 1
            assert requests.post(url, json={"context": {"targetingKey": "u"}}, headers=headers, timeout=5).ok
        assert len(serving_pids()) >= 2, "both workers should have evaluated flags"
        # Sent well within the first flush interval: nothing is in the database yet
        assert database.usage_hours.count_documents({}) == 0

        # And gunicorn is stopped as Kubernetes stops it
        assert app.stop() == 0

        # Then the buckets hold exactly the evaluations sent, the shutdown flushes of both workers together
        totals = dict.fromkeys(FLAGS, 0)
        for bucket in database.usage_hours.find():
            name = next(name for name, flag_id in ids.items() if flag_id == bucket["flag_id"])
            totals[name] += bucket["counts"]["staging"]["on"]
        assert totals == {"alpha": singles + bulks, "beta": bulks, "gamma": bulks}
        assert {document["_id"] for document in database.flag_usage.find()} == set(ids.values())
        messages = [line.get("message", "") for line in app.log_lines()]
        assert not any("could not be written" in message for message in messages), messages
    finally:
        app.stop()
        database.client.drop_database(db_name)
        database.client.close()


def test_sigterm__python_app_py__unflushed_counts_written_on_the_way_out(mongo_uri, tmp_path):
    # Given the development server (`make run`) over a database of this test's own
    db_name = f"usage_{uuid.uuid4().hex[:12]}"
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "PORT": str(port), "MONGO_URI": mongo_uri, "MONGO_DB": db_name,
           "FF_SEED_DEMO": "false", "FF_ADMIN_TOKEN": ADMIN_TOKEN}  # fmt: skip
    log = tmp_path / "app.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, cwd=ROOT, stdout=out, stderr=out)
    database = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)[db_name]
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process, log)
        base = f"http://127.0.0.1:{port}"
        created = requests.post(
            f"{base}/flags", json={"name": "dev", "environments": {"staging": True}}, headers=auth()
        )
        assert created.status_code == 201, created.text
        # When it evaluates 12 times, well within its first flush interval, and is stopped
        for _ in range(12):
            assert requests.post(f"{base}/ofrep/v1/evaluate/flags/dev", json={}, headers=auth(), timeout=5).ok
        assert database.usage_hours.count_documents({}) == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0

        # Then the counts were written as it exited
        (bucket,) = database.usage_hours.find({"flag_id": created.json()["_id"]})
        assert bucket["counts"] == {"staging": {"on": 12}}
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        database.client.drop_database(db_name)
        database.client.close()

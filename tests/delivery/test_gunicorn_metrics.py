"""Under gunicorn with several workers, /metrics adds up every worker's requests."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import requests

from tests.support import ADMIN_TOKEN, auth, free_port, image_bin

ROOT = Path(__file__).resolve().parents[2]


def test_metrics__two_gunicorn_workers__counts_summed_across_workers(mongo_uri, tmp_path):
    # Given the service under gunicorn as the image runs it, with two workers
    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    env = {
        **os.environ,
        "MONGO_URI": mongo_uri, "MONGO_DB": f"test_{uuid.uuid4().hex[:12]}", "FF_ADMIN_TOKEN": ADMIN_TOKEN,
        "FF_SEED_DEMO": "false", "HOST": "127.0.0.1", "PORT": str(port), "GUNICORN_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }  # fmt: skip
    gunicorn = image_bin() / "gunicorn"
    server = subprocess.Popen(
        [str(gunicorn), "-c", "gunicorn.conf.py", "app:app"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                # Not listening yet, or listening while the workers still boot (the request times out): ask again.
                time.sleep(0.2)

        # When requests arrive, each on its own connection, until both workers have served some
        def serving_pids() -> set[str]:
            return {re.search(r"_(\d+)\.db$", p.name).group(1) for p in metrics_dir.glob("histogram_*.db")}

        sent = 0
        while sent < 40 or (len(serving_pids()) < 2 and sent < 1000):
            assert requests.get(f"{base}/flags", headers={**auth(), "Connection": "close"}, timeout=5).ok
            sent += 1
        assert len(serving_pids()) >= 2, "both workers should have served requests"

        # Then every scrape, whichever worker answers it, counts them all
        pattern = re.compile(
            r'flask_http_request_duration_seconds_count\{method="GET",status="200",url_rule="/flags"\} (\S+)'
        )
        for _ in range(6):
            text = requests.get(f"{base}/metrics", headers={"Connection": "close"}, timeout=5).text
            assert float(pattern.search(text).group(1)) == sent
    finally:
        server.terminate()
        server.wait(30)

"""`make bench` itself: a short pass (one flag count, one round, a second per scenario) must run to the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.delivery.test_delivery import nginx_binary
from tests.support import CHROMIUM, require_tool

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = {
    "list",
    "flag",
    "ofrep_single",
    "ofrep_bulk",
    "unleash_features",
    "unleash_features_304",
    "toggle",
    "ofrep_worst",
}
USAGE_SCENARIOS = {"ofrep_single_counted", "ofrep_single_uncounted"}


@pytest.mark.stack
def test_bench__short_pass__every_scenario_measured_without_errors(tmp_path):
    # Given the tools the bench drives
    require_tool("wrk")
    nginx = Path(nginx_binary())
    results = tmp_path / "results.json"

    # When a short pass runs, as `make bench` runs it
    path = f"{nginx.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {
        **os.environ,
        "PATH": path,
        "BENCH_FLAGS": "50",
        "BENCH_SECONDS": "1",
        "BENCH_ROUNDS": "1",
        "BENCH_RESULTS": str(results),
    }
    finished = subprocess.run(
        [sys.executable, "-m", "bench.run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )

    # Then it ends well, prints its table, and measured every scenario on each server with no failed request
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    assert "targets:" in finished.stdout
    runs = json.loads(results.read_text())["runs"]
    for server in ("gunicorn", "granian"):
        measured = {run["scenario"] for run in runs if run["app"] == "service" and run["server"] == server}
        assert SCENARIOS - {"ofrep_worst"} <= measured, (server, measured)
        bare = {run["scenario"] for run in runs if run["app"] == "bare_flask" and run["server"] == server}
        assert bare == {"list", "flag", "ofrep_single"}, (server, bare)
    assert any(run["scenario"] == "ofrep_worst" for run in runs)
    # And the cost of usage counting, with its ratio among the targets
    assert {run["scenario"] for run in runs if run["server"] == "gunicorn"} >= USAGE_SCENARIOS
    assert "usage counting" in finished.stdout
    # And what the SDKs' polls come to: instances kept up to date at their default interval
    assert "Unleash SDK instances polling every 15 s" in finished.stdout
    assert any(run["app"] == "nginx_static" for run in runs)
    for run in runs:
        assert run["rps"] > 0 and run["non_2xx"] == 0, run


@pytest.mark.stack
def test_bench_large_database__short_pass__every_path_measured_without_errors(tmp_path):
    # When: the large-database pass runs small, as `make bench` runs it
    results = tmp_path / "large.json"
    env = {**os.environ, "BENCH_LARGE_FLAGS": "200", "BENCH_LARGE_REPEATS": "2", "BENCH_LARGE_IDLE_SECONDS": "1",
           "BENCH_LARGE_RESULTS": str(results)}  # fmt: skip
    finished = subprocess.run(
        [sys.executable, "-m", "bench.large_database"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )

    # Then: every path was timed and answered 2xx, and the idle database's CPU was read with and without a webhook
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    measured = json.loads(results.read_text())
    assert {row["path"] for row in measured["paths"]} >= {"PUT /flags/<id>", "change request: approve",
                                                          "GET /audit?limit=50", "GET /audit?since=1h ago"}  # fmt: skip
    assert all(row["n"] == 2 and row["failed"] == [] for row in measured["paths"]), measured["paths"]
    assert measured["idle_database_cpu_percent_one_webhook"] >= 0


@pytest.mark.stack
def test_bench_stream__short_pass__both_kinds_of_stream_hear_every_toggle(tmp_path):
    # Given: wrk, which the stream bench drives for its throughput figures
    require_tool("wrk")

    # When: the stream bench runs small, as `make bench-stream` runs it
    env = {**os.environ, "BENCH_STREAMS": "40", "BENCH_STREAM_TOGGLES": "2", "BENCH_SECONDS": "1"}
    finished = subprocess.run(
        [sys.executable, "-m", "bench.stream_bench"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )

    # Then: half the streams were Unleash SDK streams, and every stream of both kinds heard both toggles
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    assert "open 40: 20 Unleash SDK streams, 20 OFREP" in finished.stdout, finished.stdout
    assert "missed deliveries 0" in finished.stdout, finished.stdout
    for kind in ("ofrep", "unleash"):
        assert f"{kind} delivery latency from sending the toggle (40 deliveries)" in finished.stdout, finished.stdout


def test_bench_ui__short_pass__every_figure_measured_opening_a_flag_page_included():
    # Given: Chromium, which the UI bench drives
    require_tool(CHROMIUM)

    # When: the UI bench runs small, as `make bench-ui` runs it
    finished = subprocess.run(
        [sys.executable, "-m", "bench.ui_bench", "--flags", "200", "--runs", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    # Then: every figure was measured, the flag page's overview among them
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    lines = {line.split("median")[0].strip(): line for line in finished.stdout.splitlines() if "median" in line}
    for figure in ("first paint: sign-in to table", "keystroke to filtered frame", "opening a flag's page: overview"):
        assert figure in lines, finished.stdout
    opened = lines["opening a flag's page: overview"].split("median")[1].split("ms")[0]
    assert 0 < float(opened) < 10_000, finished.stdout

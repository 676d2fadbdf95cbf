"""`make bench` (part): what an admin does at 10,000 flags on the embedded database, as the image runs the service.

The service runs under gunicorn -c gunicorn.conf.py app:app over a SecantusDB daemon (the embedded default's
server) holding BENCH_LARGE_FLAGS flags (10,000) with their audit events, production under approval. One request
at a time, it times what the admin UI sends: a change to a flag by id (as the page sends it) and by name, a
toggle, a change request made by an editor token and approved by the admin token, the audit log's first page
and its page since an hour ago, and a flag's history. Then, idle, the database's CPU with no webhook and with
one. Prints p50/p95/max per path and every answer that was not 2xx; figures only, nothing passes or fails.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from bench.run import TOKEN, fetch, seed, start_service, stop
from tests.support import DatabaseServer, Receiver

FLAGS = int(os.environ.get("BENCH_LARGE_FLAGS", "10000"))
REPEATS = int(os.environ.get("BENCH_LARGE_REPEATS", "20"))
IDLE_SECONDS = float(os.environ.get("BENCH_LARGE_IDLE_SECONDS", "10"))
SETTINGS = {"FF_APPROVALS": "production", "FF_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}


def call(base: str, method: str, path: str, body: dict | None = None, token: str = TOKEN) -> tuple[int, float, dict]:
    """Send one request; return its status, how long it took in ms, and its JSON body ({} when none)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(f"{base}{path}", data=data, headers=headers, method=method)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    elapsed = (time.perf_counter() - started) * 1000
    return status, elapsed, json.loads(raw) if raw.strip() else {}


def summary(name: str, samples: list[tuple[int, float]]) -> dict:
    """p50, p95 and max of the samples' times, and the statuses that were not 2xx."""
    times = sorted(ms for _, ms in samples)
    failed = [status for status, _ in samples if not 200 <= status < 300]
    return {
        "path": name,
        "n": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
        "max_ms": round(times[-1], 1),
        "failed": failed,
    }


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu_percent(pid: int, seconds: float) -> float:
    """The share of one core a process used over the next seconds."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return round((cpu_seconds(pid) - before) / seconds * 100, 1)


def measure(base: str, database_pid: int) -> dict:
    """Time each admin path REPEATS times, one request at a time; then the database's idle CPU."""
    # Set up with bench.run's fetch, which asks again while the database catches up after the bulk seed.
    flags = json.loads(fetch(f"{base}/flags?limit=50&sort=name"))
    editor = json.loads(fetch(f"{base}/tokens", json.dumps({"name": "bench-requester", "role": "editor"})))["token"]
    paths: dict[str, list[tuple[int, float]]] = {}

    def timed(name: str, method: str, path: str, body: dict | None = None, token: str = TOKEN) -> dict:
        status, ms, answer = call(base, method, path, body, token)
        paths.setdefault(name, []).append((status, ms))
        return answer

    for round_number in range(REPEATS):
        flag = flags[round_number % len(flags)]
        timed("PUT /flags/<id>", "PUT", f"/flags/{flag['_id']}", {"description": f"by id {round_number}"})
        timed("PUT /flags/<name>", "PUT", f"/flags/{flag['name']}", {"description": f"by name {round_number}"})
        timed("toggle by id (staging)", "POST", f"/flags/{flag['_id']}/toggle", {"environment": "staging"})
        wanted = not flag["environments"].get("production", False)
        made = timed("change request: create", "POST", "/change-requests",
                     {"flag": flag["_id"], "changes": {"environments": {"production": wanted}}}, editor)  # fmt: skip
        if "_id" in made:
            timed("change request: approve", "POST", f"/change-requests/{made['_id']}/approve", {})
            flag["environments"]["production"] = wanted
        timed("GET /audit?limit=50", "GET", "/audit?limit=50")
        since = quote((datetime.now(UTC) - timedelta(hours=1)).isoformat())
        timed("GET /audit?since=1h ago", "GET", f"/audit?since={since}&limit=50")
        timed("GET /flags/<id>/history", "GET", f"/flags/{flag['_id']}/history")
    results = {"flags": FLAGS, "paths": [summary(name, samples) for name, samples in paths.items()]}

    time.sleep(2)  # whatever the writes set off (change streams, the deliverer's numbering) settles
    results["idle_database_cpu_percent"] = idle_cpu_percent(database_pid, IDLE_SECONDS)
    receiver = Receiver().start()
    try:
        # A webhook for an area nothing changes in: idle, as the adversarial pass had it.
        call(base, "POST", "/webhooks", {"url": receiver.url, "events": ["token.*"]})
        time.sleep(2)
        results["idle_database_cpu_percent_one_webhook"] = idle_cpu_percent(database_pid, IDLE_SECONDS)
    finally:
        receiver.stop()
    return results


def main() -> int:
    """Seed, start the service, measure, print."""
    work = Path(tempfile.mkdtemp(prefix="ff-bench-large-"))
    database = DatabaseServer(work / "db").start()
    print(f"seeding {FLAGS:,} flags with their audit events ...", flush=True)
    seed(database.uri, "bench_large", FLAGS)
    process, base = start_service(
        "gunicorn", database.uri, "bench_large", work, "large", target=None, settings=SETTINGS
    )
    try:
        results = measure(base, database.process.pid)
    finally:
        stop(process)
        database.stop()
    print(f"\nat {FLAGS:,} flags on the embedded database (SecantusDB), one request at a time, gunicorn as the image:")
    print(f"{'path':<28} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  not 2xx")
    for row in results["paths"]:
        failed = ", ".join(map(str, row["failed"])) or "none"
        print(f"{row['path']:<28} {row['n']:>4} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['max_ms']:>8}  {failed}")
    print(f"database CPU while idle: {results['idle_database_cpu_percent']} % of a core; with one idle webhook: "
          f"{results['idle_database_cpu_percent_one_webhook']} %")  # fmt: skip
    output = os.environ.get("BENCH_LARGE_RESULTS")
    if output:
        Path(output).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

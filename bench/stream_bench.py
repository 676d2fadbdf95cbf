"""`make bench-stream`: many event streams held open against the service as the image runs it.

The service runs under gunicorn -c gunicorn.conf.py app:app (two gevent workers) over a SecantusDB daemon, with
50 flags. One asyncio process opens BENCH_STREAMS streams (default 10,000) over loopback, a share of them
(BENCH_UNLEASH_SHARE, default a half) Unleash SDK streams (/api/client/streaming with a server token) and the rest
OFREP event streams, toggles a flag through the API BENCH_STREAM_TOGGLES times and measures how long each stream
took to hear of each toggle. It prints delivery latency (p50, p99, max) for each kind, each worker's resident
memory and file descriptors, and OFREP single-evaluation throughput with wrk with the streams open and with none.
Figures only: nothing passes or fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.run import CONTEXT_BODY, TARGET_FLAG, fetch, lua_script, seed, start_service, stop, worker_pids, wrk
from tests.support import DatabaseServer

STREAMS = int(os.environ.get("BENCH_STREAMS", "10000"))
TOGGLES = int(os.environ.get("BENCH_STREAM_TOGGLES", "10"))
UNLEASH_SHARE = float(os.environ.get("BENCH_UNLEASH_SHARE", "0.5"))
# What each kind's event for a change starts with: OFREP's asks the provider to fetch again, Unleash's carries it.
MARKERS = {"ofrep": b"refetchEvaluation", "unleash": b"event: unleash-updated"}
# Apart enough that one toggle's events are all in before the next (none coalesced).
TOGGLE_GAP_SECONDS = 2.0
# Every wait is bounded: a stream that never hears of a toggle is counted as missed, not waited for.
DELIVERY_DEADLINE_SECONDS = 15.0
CONNECT_BATCH = 500
# How long each toggle request took to answer, in ms: part of every delivery latency measured from its start.
self_timed: list[float] = []
WRK_SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
# Room for every stream on either worker, whichever accepts more of them, beside the tenth of a worker's connections
# kept for ordinary requests; and every stream comes from this one address (FF_STREAM_MAX_PER_CLIENT counts them).
SETTINGS = {
    "FF_STREAM_MAX_PER_WORKER": str(STREAMS),
    "FF_STREAM_MAX_PER_CLIENT": str(STREAMS),
    "GUNICORN_WORKER_CONNECTIONS": str(STREAMS * 10 // 9 + 1000),
    "FF_STREAM_HEARTBEAT_SECONDS": "15",
}


class StreamClient(asyncio.Protocol):
    """One event stream: notes when each change's event arrives; reads nothing else."""

    def __init__(self, request: bytes, opened: asyncio.Future, marker: bytes) -> None:
        self.request = request
        self.opened = opened
        self.marker = marker
        # The tail of what came before, so that a marker split across two reads is still counted once.
        self.tail = b""
        self.arrivals: list[float] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.opened.done():
            self.opened.set_result(data.startswith(b"HTTP/1.1 200"))
        # One toggle is one event; heartbeats, the opening lines and Unleash's first event carry no marker.
        seen = self.tail + data
        self.arrivals.extend([time.monotonic()] * seen.count(self.marker))
        self.tail = seen[-(len(self.marker) - 1) :]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_result(False)


def worker_figures(parent: int) -> list[dict[str, float]]:
    """Return each worker's resident memory (MB) and open file descriptors."""
    figures = []
    for pid in worker_pids(parent):
        try:
            rss = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
        figures.append({"pid": pid, "rss_mb": round(int(rss.group(1)) / 1024, 1), "fds": fds})
    return figures


def percentile(values: list[float], share: float) -> float:
    """Return the value below which share of the values lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


async def open_streams(url: str, count: int, kind: str, authorization: str | None = None) -> list[StreamClient]:
    """Open count streams of a kind to url, CONNECT_BATCH at a time; return those the service accepted."""
    parts = urlsplit(url)
    target = f"{parts.path}?{parts.query}" if parts.query else parts.path
    credentials = f"Authorization: {authorization}\r\n" if authorization else ""
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n{credentials}\r\n"
    ).encode()
    marker = MARKERS[kind]
    loop = asyncio.get_running_loop()
    accepted: list[StreamClient] = []
    for start in range(0, count, CONNECT_BATCH):
        batch = []
        for _ in range(min(CONNECT_BATCH, count - start)):
            opened = loop.create_future()
            batch.append(
                (
                    opened,
                    loop.create_connection(
                        lambda o=opened: StreamClient(request, o, marker), parts.hostname, parts.port
                    ),
                )
            )
        results = await asyncio.gather(*(connect for _, connect in batch), return_exceptions=True)
        for (opened, _), result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                continue
            try:
                if await asyncio.wait_for(opened, 30):
                    accepted.append(result[1])
            except TimeoutError:
                continue
    return accepted


async def toggle_and_measure(base: str, clients: list[StreamClient]) -> tuple[dict[bytes, list[float]], int]:
    """Toggle the flag TOGGLES times; return every delivery latency in ms by kind's marker, and how many
    deliveries were missed."""
    latencies: dict[bytes, list[float]] = {marker: [] for marker in MARKERS.values()}
    self_timed.clear()
    missed = 0
    url = f"{base}/flags/{TARGET_FLAG}/toggle"
    for number in range(1, TOGGLES + 1):
        sent = time.monotonic()
        await asyncio.to_thread(fetch, url, json.dumps({"environment": "production"}))
        self_timed.append((time.monotonic() - sent) * 1000)
        deadline = sent + DELIVERY_DEADLINE_SECONDS
        while time.monotonic() < deadline and any(len(client.arrivals) < number for client in clients):
            await asyncio.sleep(0.05)
        for client in clients:
            if len(client.arrivals) >= number:
                latencies[client.marker].append((client.arrivals[number - 1] - sent) * 1000)
            else:
                missed += 1
                client.arrivals.extend([float("nan")] * (number - len(client.arrivals)))
        await asyncio.sleep(TOGGLE_GAP_SECONDS)
    return latencies, missed


def evaluation_throughput(base: str, work: Path) -> dict:
    """Measure OFREP single evaluation with wrk, as `make bench` does."""
    url = f"{base}/ofrep/v1/evaluate/flags/{TARGET_FLAG}?environment=production"
    script = lua_script(work, "stream-bench-post", "POST", CONTEXT_BODY)
    wrk(url, script, 2)
    return wrk(url, script, WRK_SECONDS)


def raise_file_limit() -> int:
    """Raise this process's soft limit of open files to the hard limit (as gunicorn.conf.py does); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = STREAMS + 1024
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


async def run(base: str, process_pid: int, work: Path) -> None:
    """Measure with no streams, open them, toggle, measure again, and print the figures."""
    idle_workers = worker_figures(process_pid)
    without = await asyncio.to_thread(evaluation_throughput, base, work)
    token = json.loads(
        fetch(f"{base}/tokens", json.dumps({"name": "stream-bench", "role": "client", "environment": "production"}))
    )["token"]
    bulk = await asyncio.to_thread(_bulk, base, token)
    stream_url = bulk["eventStreams"][0]["url"]
    server_token = json.loads(
        fetch(f"{base}/tokens", json.dumps({"name": "stream-bench-sdk", "role": "server", "environment": "production"}))
    )["token"]
    unleash_streams = round(STREAMS * UNLEASH_SHARE)
    started = time.monotonic()
    # The SDKs send their token raw; the OFREP stream's URL carries its own ticket.
    clients = await open_streams(f"{base}/api/client/streaming", unleash_streams, "unleash", server_token)
    opened_unleash = len(clients)
    clients += await open_streams(stream_url, STREAMS - unleash_streams, "ofrep")
    opening_seconds = time.monotonic() - started
    await asyncio.sleep(1)
    open_workers = worker_figures(process_pid)
    latencies, missed = await toggle_and_measure(base, clients)
    with_streams = await asyncio.to_thread(evaluation_throughput, base, work)
    for client in clients:
        if client.transport is not None:
            client.transport.close()
    print(
        f"\nstreams requested {STREAMS}, open {len(clients)}: {opened_unleash} Unleash SDK streams, "
        f"{len(clients) - opened_unleash} OFREP (opened in {opening_seconds:.1f} s)"
    )
    print(f"{TOGGLES} toggles; missed deliveries {missed}; the toggle request itself: median "
          f"{statistics.median(self_timed):.0f} ms")  # fmt: skip
    for kind, marker in MARKERS.items():
        measured = latencies[marker]
        if measured:
            print(
                f"{kind} delivery latency from sending the toggle ({len(measured)} deliveries): "
                f"p50 {statistics.median(measured):.0f} ms, p99 {percentile(measured, 0.99):.0f} ms, "
                f"max {max(measured):.0f} ms"
            )
    for label, figures in (("no streams", idle_workers), ("streams open", open_workers)):
        print(f"workers, {label}: " + "; ".join(f"pid {f['pid']}: {f['rss_mb']} MB, {f['fds']} fds" for f in figures))
    for label, measured in (("no streams", without), ("streams open", with_streams)):
        print(
            f"OFREP single evaluation, {label}: {measured['rps']} req/s, p50 {measured['p50_ms']} ms, "
            f"p99 {measured['p99_ms']} ms, non-2xx {measured['non_2xx']}"
        )


def _bulk(base: str, token: str) -> dict:
    import urllib.request

    request = urllib.request.Request(
        f"{base}/ofrep/v1/evaluate/flags",
        data=b"{}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def main() -> int:
    """Start the database and the service, run the measurement, stop everything."""
    limit = raise_file_limit()
    if limit < STREAMS + 100:
        print(f"the open-file limit ({limit}) is below {STREAMS} streams; lower BENCH_STREAMS", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="ff-stream-bench-"))
    print(f"working in {work}; {STREAMS} streams, {TOGGLES} toggles, settings {SETTINGS}", flush=True)
    database = DatabaseServer(work / "db").start()
    try:
        seed(database.uri, "bench_streams", 50)
        process, base = start_service("gunicorn", database.uri, "bench_streams", work, "streams", settings=SETTINGS)
        try:
            asyncio.run(run(base, process.pid, work))
        finally:
            stop(process)
    finally:
        database.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

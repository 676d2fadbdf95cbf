"""gunicorn as the image runs it, reached directly (as Kubernetes' probes reach a pod): hostile clients and faults.

Every test talks to a real gunicorn started with the Dockerfile's CMD over raw sockets, where a client library
would tidy up what a hostile client sends.
"""

from __future__ import annotations

import concurrent.futures
import json
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from pymongo import MongoClient

from feature_flags.config import MAX_BODY_BYTES
from tests.delivery.test_delivery import ROOT
from tests.delivery.test_stack import GunicornApp, dockerfile_command
from tests.support import ADMIN_TOKEN, EventStream, auth

# What /healthz, a flag read and a 503 must stay within while clients misbehave; generous for a busy machine.
PROMPT_SECONDS = 2.0


@dataclass
class RawResponse:
    """An HTTP response as it came off the wire."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        """Return the body parsed as JSON."""
        return json.loads(self.body)


def raw_request(port: int, data: bytes | list[bytes], timeout: float = 10) -> RawResponse:
    """Send bytes (or a list of pieces, sent one after another) on a new connection; read one response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        for piece in [data] if isinstance(data, bytes) else data:
            sock.sendall(piece)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "-1"))
        while len(body) < length or (length < 0 and headers.get("connection") == "close"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return RawResponse(int(lines[0].split()[1]), headers, body)


def assert_json_error(response: RawResponse, status: int) -> None:
    """Assert the response is the app's error shape: JSON with an error code and a message."""
    assert response.status == status, response
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body["error"], str) and body["error"], body
    assert isinstance(body["message"], str) and body["message"], body


@pytest.fixture(scope="module")
def served(mongo_uri: str) -> Iterator[GunicornApp]:
    """The app under gunicorn as the image runs it, with one flag to read."""
    directory = Path(tempfile.mkdtemp(prefix="ff-server-"))
    db_name = f"server_{uuid.uuid4().hex[:12]}"
    app = GunicornApp(directory, mongo_uri, db_name).start()
    created = requests.post(f"{app.url}/flags", json={"name": "probe-flag"}, headers=auth(), timeout=10)
    assert created.status_code == 201, created.text
    try:
        yield app
    finally:
        app.stop()
        client = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
        client.drop_database(db_name)
        client.close()


def test_slow_clients__idle_and_trickling_connections__probes_and_reads_stay_prompt(served: GunicornApp):
    # Given: 50 connections that send nothing, and 8 that trickle a request's headers a byte at a time
    idle = [socket.create_connection(("127.0.0.1", served.port), timeout=5) for _ in range(50)]
    tricklers = [socket.create_connection(("127.0.0.1", served.port), timeout=5) for _ in range(8)]
    stop = threading.Event()

    def trickle() -> None:
        pending = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
        for byte in pending:
            if stop.wait(0.2):
                return
            for sock in tricklers:
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    return

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        time.sleep(1)  # every slow connection is in and has started its headers
        # When: probes and flag reads arrive meanwhile, for several seconds
        durations = []
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            for path in ("/healthz", "/flags/probe-flag"):
                started = time.monotonic()
                response = requests.get(f"{served.url}{path}", headers=auth(), timeout=10)
                durations.append(time.monotonic() - started)
                assert response.status_code == 200, (path, response.text)
        # Then: each answered promptly, and the slow clients are still connected (not simply dropped)
        assert max(durations) < PROMPT_SECONDS, f"slowest {max(durations):.2f} s of {len(durations)}"
        assert trickler.is_alive()
    finally:
        stop.set()
        trickler.join(5)
        for sock in idle + tricklers:
            sock.close()


@pytest.mark.parametrize(
    "token",
    [
        "short",
        "ff_admin_0123456789abcdef\n",
        "aaaaaaaaaaaaaaaaaaaaaaaa",
    ],
)
def test_bad_admin_token__gunicorn__exits_at_once_with_one_line_and_no_worker(tmp_path, token: str):
    # Given: the image's command with an admin token the service refuses
    env = {**GunicornApp(tmp_path, "mongodb://127.0.0.1:9/", "unused").env, "FF_ADMIN_TOKEN": token}
    started = time.monotonic()
    process = subprocess.Popen(dockerfile_command(), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"gunicorn kept running with a bad FF_ADMIN_TOKEN:\n{stdout.decode()[-2000:]}")
    # Then: it stops within seconds, before any worker, with one line naming the variable
    assert process.returncode != 0
    assert time.monotonic() - started < 15
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration error: FF_ADMIN_TOKEN "), lines
    assert token.strip() not in lines[0] or len(token.strip()) < 8  # the message never repeats a usable secret
    assert b"Booting worker" not in stdout + stderr


SECRET_CLIENT_TOKEN = "ff_client_Zq8Vt3mK9pW2xL7nR4sB6yH1cD5fG0jA"
PLAIN_SECRET = "k3Jd9QmZ7xPv2LwT8rNs"


@pytest.mark.parametrize(
    ("header_line", "secret"),
    [
        (f"Bearer {ADMIN_TOKEN}", ADMIN_TOKEN),
        (f"Authorization Bearer {SECRET_CLIENT_TOKEN}", SECRET_CLIENT_TOKEN),
        (f"X-API-Key {PLAIN_SECRET}", PLAIN_SECRET),
    ],
)
def test_malformed_header_line__secret_in_it__never_logged(served: GunicornApp, header_line: str, secret: str):
    # Given: a header line without its colon, as a client that lost it would send one
    before = served.log.read_text()
    request = f"GET /flags HTTP/1.1\r\nHost: x\r\n{header_line}\r\n\r\n".encode()

    # When: it reaches gunicorn directly
    response = raw_request(served.port, request)
    time.sleep(0.5)  # the log line is written after the answer

    # Then: refused, and gunicorn logged the refusal without the secret
    logged = served.log.read_text()[len(before) :]
    assert "Invalid request" in logged, logged
    assert secret not in logged, logged
    assert response.status == 400
    assert secret.encode() not in response.body


def chunked(body: bytes, size: int = 65536) -> list[bytes]:
    """Return a POST /flags request sending body in chunked transfer coding, in pieces."""
    head = (
        f"POST /flags HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    pieces = [head]
    for start in range(0, len(body), size):
        part = body[start : start + size]
        pieces.append(b"%x\r\n%s\r\n" % (len(part), part))
    pieces.append(b"0\r\n\r\n")
    return pieces


def padded_flag(name: str, total: int) -> bytes:
    """Return a valid flag body padded with spaces to exactly total bytes."""
    core = json.dumps({"name": name}).encode()
    return core[:-1] + b" " * (total - len(core)) + b"}"


def test_chunked_body__exactly_the_limit__accepted(served: GunicornApp):
    response = raw_request(served.port, chunked(padded_flag("chunked-at-limit", MAX_BODY_BYTES)))
    assert response.status == 201, response


def test_chunked_body__over_the_limit__413_json_and_nothing_created(served: GunicornApp):
    # Given: a valid 1 MiB flag body followed by more bytes, with no Content-Length to refuse it by
    body = padded_flag("chunked-over-limit", MAX_BODY_BYTES) + b"garbage"

    # When: sent in chunks straight to gunicorn
    response = raw_request(served.port, chunked(body))

    # Then: refused whole, with the app's error shape, and no flag made from the first megabyte
    assert_json_error(response, 413)
    assert response.json()["error"] == "request_entity_too_large"
    missing = requests.get(f"{served.url}/flags/chunked-over-limit", headers=auth(), timeout=10)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n", 400),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % n for n in range(150)) + b"\r\n", 431),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n", 431),
    ],
    ids=["request-line", "header-without-colon", "uri-too-long", "too-many-headers", "header-too-large"],
)
def test_gunicorn_refusal__malformed_request__json_error(served: GunicornApp, request_bytes: bytes, status: int):
    assert_json_error(raw_request(served.port, request_bytes), status)


# The promise of docs/how-to/production-mongodb.md for an outage: every request answers within this, most 503.
OUTAGE_BOUND_SECONDS = 2.0


def test_database_stopped__requests_during_the_outage__answer_within_the_bound(database_server, tmp_path):
    # Given: the app under gunicorn on a database of its own, with a flag to read and toggle
    database = database_server()
    app = GunicornApp(tmp_path, database.uri, "outage").start()
    try:
        created = requests.post(f"{app.url}/flags", json={"name": "outage-flag"}, headers=auth(), timeout=10)
        assert created.status_code == 201, created.text

        # When: the database process stops, and requests keep coming, eight at a time
        database.stop()

        def one(kind: str) -> tuple[str, int, float, dict]:
            started = time.monotonic()
            if kind == "toggle":
                response = requests.post(f"{app.url}/flags/outage-flag/toggle", json={}, headers=auth(), timeout=15)
            elif kind == "read":
                response = requests.get(f"{app.url}/flags/outage-flag", headers=auth(), timeout=15)
            else:
                response = requests.get(f"{app.url}/readyz", timeout=15)
            return kind, response.status_code, time.monotonic() - started, response.json()

        kinds = ["toggle", "toggle", "toggle", "read", "read", "read", "readyz", "readyz"]
        results = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(kinds)) as pool:
            for _ in range(6):
                results += pool.map(one, kinds)

        # Then: nothing waits past the bound; writes and readiness fail with 503, reads too once the snapshot is
        # older than its freshness bound (served from memory before that)
        worst = max(seconds for _, _, seconds, _ in results)
        summary = sorted((round(seconds, 2), kind, status) for kind, status, seconds, _ in results)
        assert worst < OUTAGE_BOUND_SECONDS, summary[-8:]
        for kind, status, _, body in results:
            if kind == "read" and status == 200:
                continue
            assert status == 503, (kind, status, body)
            # A worker that had not finished preparing the database when it stopped says so.
            assert body["error"] in {"database_unavailable", "database_not_ready"} or body["status"] == "unavailable"
    finally:
        app.stop()


def test_sigterm__idle_keep_alive_connection__workers_stop_at_once(mongo_uri, tmp_path):
    # Given: a client (nginx's upstream pool, say) holding a kept-alive connection it is not using
    app = GunicornApp(tmp_path, mongo_uri, f"server_{uuid.uuid4().hex[:12]}").start()
    session = requests.Session()
    assert session.get(f"{app.url}/healthz", timeout=10).status_code == 200

    # When: Kubernetes stops the pod
    started = time.monotonic()
    code = app.stop()

    # Then: every worker exits by itself, well before the 20 s graceful timeout would end it by force
    assert code == 0
    assert time.monotonic() - started < 10
    messages = [line.get("message", "") for line in app.log_lines() if line.get("logger") == "gunicorn.error"]
    assert sum(message.startswith("Worker exiting") for message in messages) == 2, messages
    assert not any("graceful timeout" in message for message in messages), messages
    session.close()


def test_keep_alive__requests_sent_back_to_back__do_not_hold_up_other_connections(mongo_uri, tmp_path):
    # Given one worker, and a client that sends 2,000 requests (404s, cheap) on one connection without waiting
    app = GunicornApp(tmp_path, mongo_uri, f"server_{uuid.uuid4().hex[:12]}", GUNICORN_WORKERS="1").start()
    try:
        count = 2000
        busy = socket.create_connection(("127.0.0.1", app.port), timeout=30)
        busy.sendall(b"GET /busy HTTP/1.1\r\nHost: busy\r\n\r\n" * count)
        first = busy.recv(65536)
        assert first.startswith(b"HTTP/1.1 404")

        # When another connection asks once while those are being served
        other = raw_request(app.port, b"GET /readyz HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n")
        assert other.status == 200
        received = first
        while received.count(b"HTTP/1.1 404") < count:
            chunk = busy.recv(65536)
            assert chunk, "the busy connection closed early"
            received += chunk
        busy.close()
    finally:
        app.stop()

    # Then it was answered in turn, not after every request the busy connection had queued (the worker's log
    # holds one line a request, in the order they were served)
    served = [json.loads(line)["path"] for line in app.log.read_text().splitlines() if '"feature_flags.access"' in line]
    busy_served = [path for path in served if path in {"/busy", "/readyz"}]
    assert busy_served.count("/busy") == count
    assert busy_served.index("/readyz") < count // 2, busy_served.index("/readyz")


def test_streams_past_the_connections_headroom__gunicorn__exits_at_once_with_one_line(tmp_path):
    # Given: more streams per worker than its connections leave ordinary requests (a tenth of 5,000)
    env = {**GunicornApp(tmp_path, "mongodb://127.0.0.1:9/", "unused").env, "FF_STREAM_MAX_PER_WORKER": "4600"}
    process = subprocess.run(dockerfile_command(), cwd=ROOT, env=env, capture_output=True, timeout=30, check=False)

    # Then: it stops before any worker, with one line naming the variable and the most it may be
    assert process.returncode != 0
    lines = process.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration error: FF_STREAM_MAX_PER_WORKER "), lines
    assert "at most 4500" in lines[0]
    assert b"Booting worker" not in process.stdout + process.stderr


def test_sockets_that_send_nothing__every_connection_taken__closed_so_probes_answer(mongo_uri, tmp_path):
    # Given: one worker of 40 connections, whose new connections get 1 s to send a request (keep-alive stays 75 s)
    settings = {"GUNICORN_WORKERS": "1", "GUNICORN_WORKER_CONNECTIONS": "40", "GUNICORN_FIRST_REQUEST_TIMEOUT": "1"}
    app = GunicornApp(tmp_path, mongo_uri, f"server_{uuid.uuid4().hex[:12]}", **settings).start()
    idle = []
    try:
        # When: 60 sockets connect and send nothing (every connection the worker has, and a backlog)
        idle = [socket.create_connection(("127.0.0.1", app.port), timeout=10) for _ in range(60)]
        started = time.monotonic()
        probe = requests.get(f"{app.url}/healthz", timeout=15)
        waited = time.monotonic() - started

        # Then: the idle ones are closed after that second, and the probe is answered within a few
        assert probe.status_code == 200 and waited < 5, waited
        idle[0].settimeout(5)
        assert idle[0].recv(1) == b"", "the server closes a connection that sent nothing"
    finally:
        for sock in idle:
            sock.close()
        app.stop()


def test_max_requests__workers_holding_streams__recycle_in_turn_streams_end_and_probes_answer(mongo_uri, tmp_path):
    # Given: two workers recycled every 30 requests, a graceful timeout far longer than the test, and six event
    # streams open on them
    settings = {"GUNICORN_MAX_REQUESTS": "30", "GUNICORN_MAX_REQUESTS_JITTER": "1", "GUNICORN_GRACEFUL_TIMEOUT": "60"}
    app = GunicornApp(tmp_path, mongo_uri, f"server_{uuid.uuid4().hex[:12]}", **settings).start()
    streams = []
    try:
        for _ in range(6):
            path = requests.get(f"{app.url}/changes", headers={**auth(), "Connection": "close"}, timeout=10)
            stream = EventStream(app.url + path.json()["stream"])
            assert stream.status == 200
            streams.append(stream)

        # When: requests arrive on new connections, enough to recycle each worker several times
        started = time.monotonic()
        slowest = 0.0
        while time.monotonic() - started < 8:
            sent = time.monotonic()
            answer = requests.get(f"{app.url}/healthz", headers={"Connection": "close"}, timeout=10)
            slowest = max(slowest, time.monotonic() - sent)
            assert answer.status_code == 200

        # Then: no request waited for a worker to come back, and every stream was ended (to reconnect elsewhere)
        # long before the graceful timeout
        assert slowest < 3, f"a request waited {slowest:.1f} s"
        assert all(stream.ended.wait(1) for stream in streams)
        messages = [line.get("message", "") for line in app.log_lines() if line.get("logger") == "gunicorn.error"]
        assert sum(message.startswith("Booting worker") for message in messages) >= 4, messages
    finally:
        for stream in streams:
            stream.close()
        app.stop()

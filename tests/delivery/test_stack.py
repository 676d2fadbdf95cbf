"""The compose topology, run natively: MongoDB, the app under gunicorn as the image runs it, and nginx in front.

No Docker engine is needed: the app starts with the Dockerfile's exact CMD and gunicorn.conf.py, nginx with the
project's nginx.conf (upstream rewritten to loopback, listen port and paths to a temporary directory), serving
what `flask ui export` wrote. Every request of the flag tests goes through nginx.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from pymongo import MongoClient

from feature_flags.web.hooks import CONTENT_SECURITY_POLICY
from tests.delivery.test_delivery import NGINX_CONF, ROOT, dockerfile_stages, exec_form, nginx_binary
from tests.support import ADMIN_TOKEN, EventStream, auth, free_port, image_bin

pytestmark = pytest.mark.stack


def dockerfile_command() -> list[str]:
    """Return the runtime image's CMD, the command this stack runs the app with."""
    runtime = dockerfile_stages()["runtime"]
    return exec_form(next(line for line in runtime if line.startswith("CMD ")), "CMD")


def dockerfile_healthcheck() -> list[str]:
    """Return the runtime image's HEALTHCHECK command."""
    runtime = dockerfile_stages()["runtime"]
    return exec_form(next(line for line in runtime if line.startswith("HEALTHCHECK ")), "CMD")


def wait_for(url: str, process: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    """Wait until url answers 200; fail with the log's tail if the process exits or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass  # not listening yet, or busy starting: ask again
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {seconds} s:\n{log.read_text()[-3000:]}")


def json_lines(path: Path) -> list[dict]:
    """Return the JSON objects logged one per line in a file, skipping any other output."""
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return lines


class GunicornApp:
    """The app as the container runs it: the Dockerfile's CMD in the repository root (the image's /app)."""

    def __init__(self, directory: Path, mongo_uri: str, db_name: str, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "app.log"
        self.env = {
            # Nothing of the test environment's own Python path: the image's packages only.
            **{name: value for name, value in os.environ.items() if name not in {"PYTHONPATH", "VIRTUAL_ENV"}},
            # The image's environment first on PATH: the CMD's `gunicorn` is the one built from requirements.txt.
            "PATH": f"{image_bin()}{os.pathsep}{os.environ.get('PATH', '')}",
            # What the Dockerfile sets, with loopback and a temporary directory in place of the container's.
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PROMETHEUS_MULTIPROC_DIR": str(directory / "prometheus"),
            "MONGO_URI": mongo_uri,
            "MONGO_DB": db_name,
            "FF_ADMIN_TOKEN": ADMIN_TOKEN,
            "FF_SEED_DEMO": "false",
            "GUNICORN_WORKERS": "2",
            # A home of its own, to see that gunicorn leaves no control socket there (the image's user has none).
            "HOME": str(directory),
            **settings,
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> GunicornApp:
        """Start gunicorn and wait until /healthz answers."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                dockerfile_command(), cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        wait_for(f"{self.url}/healthz", self.process, self.log)
        return self

    def stop(self, timeout: float = 30) -> int | None:
        """Send SIGTERM, as Kubernetes does, and return the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log_lines(self) -> list[dict]:
        """Return every JSON line the app has logged so far."""
        return json_lines(self.log)


def nginx_config(port: int, upstream_port: int, ui_dir: Path, scratch: Path) -> str:
    """Return the project's nginx.conf with only the host-specific parts moved to loopback and scratch."""
    text = NGINX_CONF.read_text()
    replacements = {
        "server app:5000;": f"server 127.0.0.1:{upstream_port};",
        "listen 80;": f"listen 127.0.0.1:{port};",
        "root /usr/share/nginx/html;": f"root {ui_dir};",
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"nginx.conf should contain {old!r} once"
        text = text.replace(old, new)
    # The pid file and temporary directories live directly under /tmp in the container.
    return re.sub(r"/tmp/(nginx[\w.]*)", lambda match: f"{scratch}/{match.group(1)}", text)


@dataclass
class Stack:
    """The running stack: nginx's URL (the public entry) and the app behind it."""

    url: str
    app: GunicornApp
    nginx_log: Path
    ui_dir: Path

    def nginx_lines(self) -> list[dict]:
        """Return nginx's JSON access log lines."""
        return json_lines(self.nginx_log)


@pytest.fixture(scope="module")
def stack(mongo_uri: str) -> Iterator[Stack]:
    """Start the app under gunicorn, export the UI and start nginx in front of both."""
    nginx = nginx_binary()
    directory = Path(tempfile.mkdtemp(prefix="ff-stack-"))
    # nginx's workers run as an unprivileged user when the master is root; they must read the UI.
    directory.chmod(0o755)
    db_name = f"stack_{uuid.uuid4().hex[:12]}"
    app = GunicornApp(directory, mongo_uri, db_name).start()
    ui_dir = directory / "ui"
    exported = subprocess.run(
        [str(image_bin() / "flask"), "--app", "app", "ui", "export", str(ui_dir)],
        cwd=ROOT, env=app.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    for path in [ui_dir, *ui_dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    port = free_port()
    (directory / "nginx.conf").write_text(nginx_config(port, app.port, ui_dir, directory))
    nginx_log = directory / "nginx.log"
    with nginx_log.open("ab") as out:
        process = subprocess.Popen(
            [nginx, "-p", str(directory), "-c", str(directory / "nginx.conf"), "-g", "daemon off;"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process, nginx_log)
        yield Stack(f"http://127.0.0.1:{port}", app, nginx_log, ui_dir)
    finally:
        process.terminate()
        process.wait(10)
        app.stop()
        client = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
        client.drop_database(db_name)
        client.close()
        shutil.rmtree(directory, ignore_errors=True)


def test_stack__healthcheck_command__passes_against_gunicorn_fails_without_it(stack: Stack):
    command = dockerfile_healthcheck()
    healthy = subprocess.run(command, env=stack.app.env, capture_output=True, timeout=10, check=False)
    assert healthy.returncode == 0, healthy.stderr
    nobody = {**stack.app.env, "PORT": str(free_port())}
    assert subprocess.run(command, env=nobody, capture_output=True, timeout=10, check=False).returncode != 0


def test_stack__flag_lifecycle_through_nginx__create_list_toggle_delete(stack: Stack):
    # Given: an admin token, every request going through nginx
    created = requests.post(f"{stack.url}/flags", json={"name": "stack-checkout"}, headers=auth(), timeout=5)
    assert created.status_code == 201, created.text
    flag_id = created.json()["_id"]

    # When listed: the new flag is there (either worker may answer; each follows the database)
    deadline = time.monotonic() + 10
    names: list[str] = []
    while time.monotonic() < deadline:
        listed = requests.get(f"{stack.url}/flags", params={"environment": "staging"}, headers=auth(), timeout=5)
        assert listed.status_code == 200
        names = [flag["name"] for flag in listed.json()]
        if "stack-checkout" in names:
            break
        time.sleep(0.3)
    assert "stack-checkout" in names

    # When toggled in staging: on there, still off in production
    toggled = requests.post(
        f"{stack.url}/flags/{flag_id}/toggle", json={"environment": "staging"}, headers=auth(), timeout=5
    )
    assert toggled.status_code == 200, toggled.text
    assert toggled.json()["enabled"] is True
    assert toggled.json()["environments"]["production"] is False

    # When deleted: gone
    deleted = requests.delete(f"{stack.url}/flags/{flag_id}", headers=auth(), timeout=5)
    assert deleted.status_code == 204
    assert requests.get(f"{stack.url}/flags/{flag_id}", headers=auth(), timeout=5).status_code == 404


def test_stack__etag_through_gzip__if_match_write_accepted(stack: Stack):
    # nginx weakens the ETag of a response it compresses (W/"..."); a client echoing it in If-Match must still win.
    created = requests.post(
        f"{stack.url}/flags", json={"name": "stack-etag", "description": "x" * 400}, headers=auth(), timeout=5
    )
    assert created.status_code == 201
    read = requests.get(f"{stack.url}/flags/stack-etag", headers={**auth(), "Accept-Encoding": "gzip"}, timeout=5)
    assert read.headers["Content-Encoding"] == "gzip"
    etag = read.headers["ETag"]
    changed = requests.put(
        f"{stack.url}/flags/stack-etag",
        json={"description": "changed"},
        headers={**auth(), "If-Match": etag},
        timeout=5,
    )
    assert changed.status_code == 200, changed.text
    stale = requests.put(
        f"{stack.url}/flags/stack-etag", json={"description": "again"}, headers={**auth(), "If-Match": etag}, timeout=5
    )
    assert stale.status_code == 412


def test_stack__ofrep_bulk_through_gzip__if_none_match_gives_304(stack: Stack):
    for number in range(6):  # enough flags for an answer nginx compresses
        requests.post(f"{stack.url}/flags", json={"name": f"stack-ofrep-{number}"}, headers=auth(), timeout=5)
    url = f"{stack.url}/ofrep/v1/evaluate/flags"
    body = {"context": {"targetingKey": "user-1"}}
    first = requests.post(url, json=body, headers={**auth(), "Accept-Encoding": "gzip"}, timeout=5)
    assert first.status_code == 200 and first.headers["Content-Encoding"] == "gzip"
    again = requests.post(url, json=body, headers={**auth(), "If-None-Match": first.headers["ETag"]}, timeout=5)
    assert again.status_code == 304


def test_stack__request_id__kept_when_sent_made_by_nginx_when_absent(stack: Stack):
    sent = requests.get(f"{stack.url}/openapi.json", headers={"X-Request-ID": "stack-trace-42"}, timeout=5)
    assert sent.headers["X-Request-ID"] == "stack-trace-42"

    made = requests.get(f"{stack.url}/openapi.json", timeout=5).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    replaced = requests.get(f"{stack.url}/openapi.json", headers={"X-Request-ID": "bad id\t<x>"}, timeout=5)
    replaced_id = replaced.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", replaced_id)
    time.sleep(0.3)  # let both processes write their lines
    # The ids nginx logged are the ones the app answered with: nginx made them and passed them on.
    nginx_ids = {line["request_id"] for line in stack.nginx_lines() if line["path"] == "/openapi.json"}
    assert {made, replaced_id, "stack-trace-42"} <= nginx_ids
    app_lines = [line for line in stack.app.log_lines() if line.get("logger") == "feature_flags.access"]
    assert {made, replaced_id, "stack-trace-42"} <= {line["request_id"] for line in app_lines}


def test_stack__ui__served_with_security_headers_and_cache_rules(stack: Stack):
    page = requests.get(f"{stack.url}/", timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.content == (stack.ui_dir / "index.html").read_bytes()
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-cache"

    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page.text)
    assert assets, "the page references no script or style sheet"
    for asset in assets:
        response = requests.get(f"{stack.url}/{asset.lstrip('/')}", timeout=5)
        assert response.status_code == 200, asset
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" not in response.headers


@pytest.mark.browser
def test_stack__ui_in_chromium_through_nginx__signs_in_and_toggles(stack: Stack, browser):
    # The browser tests' own helpers: the same sign-in a person does, the same watch for script and CSP errors.
    from playwright.sync_api import expect

    from tests.browser.conftest import PageWatch
    from tests.browser.test_ui_browser import sign_in

    created = requests.post(f"{stack.url}/flags", json={"name": "stack-ui"}, headers=auth(), timeout=5)
    assert created.status_code == 201
    watch = PageWatch()
    context = browser.new_context()
    try:
        page = context.new_page()
        watch.attach(page)
        # When: signed in on the page nginx serves, production chosen, the flag switched on
        sign_in(page, stack.url, path="/?env=production")
        switch = page.get_by_role("switch", name="Toggle stack-ui in Production")
        # The switch turns at once, before the server answers: wait for the answer, or closing the page could
        # cancel the request still in flight on a loaded machine.
        with page.expect_response(lambda response: response.url.endswith("/toggle")) as toggled:
            switch.click()
        assert toggled.value.status == 200
        expect(switch).to_have_attribute("aria-checked", "true")
    finally:
        context.close()

    # Then: no script error or CSP violation under nginx's headers, and the change reached the database
    assert watch.problems == []
    flag = requests.get(f"{stack.url}/flags/stack-ui", headers=auth(), timeout=5).json()
    assert flag["environments"]["production"] is True


def test_stack__gzip__api_json_and_assets_compressed(stack: Stack):
    api = requests.get(f"{stack.url}/openapi.json", headers={"Accept-Encoding": "gzip"}, timeout=5, stream=True)
    assert api.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in api.headers["Vary"]
    assert "paths" in json.loads(gzip.decompress(api.raw.read()))

    style = re.search(r'href="([^"]+\.css)"', (stack.ui_dir / "index.html").read_text()).group(1)
    css = requests.get(f"{stack.url}/{style.lstrip('/')}", headers={"Accept-Encoding": "gzip"}, timeout=5)
    assert css.headers["Content-Encoding"] == "gzip"


def test_stack__metrics__not_public_through_nginx_but_served_by_the_app(stack: Stack):
    assert requests.get(f"{stack.url}/metrics", timeout=5).status_code == 404
    direct = requests.get(f"{stack.app.url}/metrics", timeout=5)
    assert direct.status_code == 200 and "flask_http_request_total" in direct.text


def test_stack__body_over_one_mib__413_json_from_nginx(stack: Stack):
    body = b"{" + b" " * (1024 * 1024) + b"}"
    response = requests.post(
        f"{stack.url}/flags", data=body, headers={**auth(), "Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 413
    assert response.json()["error"] == "request_entity_too_large"


def test_stack__burst_over_rate_limit__429_while_app_stays_healthy(stack: Stack):
    # When: 100 API requests at once from one client, far above 10 r/s with a burst of 20
    def one(_: int) -> requests.Response:
        return requests.get(f"{stack.url}/flags", headers=auth(), timeout=10)

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(one, range(100)))
    statuses = [response.status_code for response in responses]

    # Then: the burst is served, the rest refused with a JSON 429 the client can act on
    assert statuses.count(200) >= 10, statuses  # the burst, less what earlier tests used of it
    assert statuses.count(429) >= 1, statuses
    assert set(statuses) <= {200, 429}, statuses
    refused = next(response for response in responses if response.status_code == 429)
    assert refused.json()["error"] == "rate_limited"
    assert refused.headers["Retry-After"] == "1"
    # And: the app is healthy, probes through nginx are not limited, and the API serves again a moment later
    assert requests.get(f"{stack.app.url}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{stack.app.url}/readyz", timeout=5).status_code == 200
    assert requests.get(f"{stack.url}/healthz", timeout=5).status_code == 200
    time.sleep(2.5)
    assert requests.get(f"{stack.url}/flags", headers=auth(), timeout=5).status_code == 200


def test_stack__gunicorn__json_error_log_and_no_control_socket(stack: Stack):
    gunicorn_lines = [line for line in stack.app.log_lines() if line.get("logger") == "gunicorn.error"]
    assert any(line["message"].startswith("Listening at:") for line in gunicorn_lines)
    assert all(line["service"] == "feature-flags" and "time" in line for line in gunicorn_lines)
    assert not (Path(stack.app.env["HOME"]) / ".gunicorn").exists()


def _event_stream(stack: Stack, name: str) -> tuple[EventStream, dict]:
    """Open a production client token's event stream through nginx; return it and the token."""
    token = requests.post(
        f"{stack.url}/tokens", json={"name": name, "role": "client", "environment": "production"}, headers=auth()
    ).json()
    bulk = requests.post(f"{stack.url}/ofrep/v1/evaluate/flags", json={}, headers=auth(token["token"]), timeout=5)
    url = urlsplit(bulk.json()["eventStreams"][0]["url"])
    stream = EventStream(f"{stack.url}{url.path}?{url.query}")
    assert stream.status == 200 and stream.response.getheader("Content-Type").startswith("text/event-stream")
    return stream, token


def test_stack__event_stream_through_nginx__toggle_arrives_unbuffered(stack: Stack):
    # Given: a stream through nginx to either gevent worker
    created = requests.post(f"{stack.url}/flags", json={"name": "stack-stream"}, headers=auth(), timeout=5)
    assert created.status_code == 201
    stream, _ = _event_stream(stack, "stack-stream-reader")

    # When: toggled through whichever worker nginx picks
    toggled = requests.post(
        f"{stack.url}/flags/stack-stream/toggle", json={"environment": "production"}, headers=auth(), timeout=5
    )

    # Then: the event is not held in a buffer
    assert toggled.status_code == 200
    try:
        event = stream.next("event")
        assert event is not None and json.loads(event["data"])["type"] == "refetchEvaluation"
    finally:
        stream.close()


def test_stack__unleash_python_sdk_streaming_through_nginx__each_change_within_a_second(stack: Stack):
    # Given: Unleash's Python SDK following the stream through nginx to either gevent worker, with a server token
    from UnleashClient import UnleashClient

    from tests.sdk.test_unleash_sdks import MemoryCache

    created = requests.post(f"{stack.url}/flags", json={"name": "stack-sdk"}, headers=auth(), timeout=5)
    assert created.status_code == 201
    token = requests.post(
        f"{stack.url}/tokens", json={"name": "stack-sdk", "role": "server", "environment": "production"}, headers=auth()
    ).json()["token"]
    sdk = UnleashClient(url=f"{stack.url}/api", app_name="stack", custom_headers={"Authorization": token},
                        cache=MemoryCache(), disable_metrics=True, disable_registration=True,
                        experimental_mode={"type": "streaming"})  # fmt: skip
    sdk.initialize_client()
    try:
        deadline = time.monotonic() + 10
        while "stack-sdk" not in sdk.feature_definitions():
            assert time.monotonic() < deadline, "the stream's first event never came"
            time.sleep(0.01)

        # When: it is toggled through whichever worker nginx picks, three times
        waited = []
        for expected in (True, False, True):
            sent = time.monotonic()
            toggled = requests.post(
                f"{stack.url}/flags/stack-sdk/toggle", json={"environment": "production"}, headers=auth(), timeout=5
            )
            assert toggled.status_code == 200
            while sdk.is_enabled("stack-sdk", {"userId": "u"}) is not expected:
                assert time.monotonic() - sent < 10, "the change never reached the SDK"
                time.sleep(0.005)
            waited.append(time.monotonic() - sent)
    finally:
        sdk.destroy()

    # Then: each arrived within a second, unbuffered by nginx, from the other worker too
    assert max(waited) < 1.0, waited


def test_stack__sigterm__gunicorn_stops_gracefully(stack: Stack):
    # Last in this module: it stops the app. Kubernetes sends SIGTERM on every rollout. An open event stream is
    # ended rather than waited for (it would hold its worker for the whole graceful timeout).
    stream, _ = _event_stream(stack, "stack-sigterm-reader")
    started = time.monotonic()
    assert stack.app.stop() == 0
    assert time.monotonic() - started < 10
    assert stream.ended.wait(1)
    messages = [line.get("message", "") for line in stack.app.log_lines() if line.get("logger") == "gunicorn.error"]
    assert "Shutting down: Master" in messages


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404),
        (b"GET /no/such/page.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404),
        (b"TRACE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405),
        (b"POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 405),
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 9000 + b"\r\nConnection: close\r\n\r\n", 400),
    ],
    ids=["metrics", "unknown-path", "trace", "post-to-a-file", "request-line", "uri-too-long", "header-too-large"],
)
def test_stack__errors_nginx_makes__json_in_the_app_shape(stack: Stack, request_bytes: bytes, status: int):
    from tests.delivery.test_server import assert_json_error, raw_request

    assert_json_error(raw_request(int(stack.url.rsplit(":", 1)[1]), request_bytes), status)

"""The OpenFeature web SDK with its OFREP provider, in Chromium, on an application's own origin, against the service.

The SDK and provider are the published npm packages at the versions tests/browser/openfeature/package-lock.json pins,
bundled with esbuild the way an application would ship them. Polling is off: a change can only arrive through the
OFREP event stream (ADR-0008) the bulk answer points to.
"""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser
from werkzeug.serving import make_server

from feature_flags import PROJECT_ROOT
from tests.support import auth, npm_installed

pytestmark = pytest.mark.browser

SOURCE = Path(__file__).parent / "openfeature"
BUILD = PROJECT_ROOT / "build" / "openfeature"
# The bound for a toggle made through the API to reach the browser.
SEES_TOGGLE_WITHIN_S = 1.0


@pytest.fixture(scope="session")
def sdk_page_dir() -> Path:
    """build/openfeature with the test page and the SDK bundle, installed with npm ci from the pinned lock file."""
    npm_installed(SOURCE, BUILD, ("package.json", "package-lock.json", "entry.js", "page.html"))
    esbuild = BUILD / "node_modules" / ".bin" / "esbuild"
    bundle = ["--bundle", "--format=iife", "--target=es2020", "--log-level=warning", "--outfile=openfeature.js"]
    subprocess.run([str(esbuild), "entry.js", *bundle], cwd=BUILD, check=True, timeout=120)
    return BUILD


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without a log line per request."""

    def log_message(self, format, *args):
        pass


@pytest.fixture
def application_origin(sdk_page_dir: Path) -> Iterator[str]:
    """The application's own web server (another origin than the service's), serving the page and the bundle."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(sdk_page_dir))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def service(make_app, application_origin: str) -> Iterator[tuple[str, object]]:
    """The service on loopback, allowing the application's origin (CORS), as its operators would configure it."""
    app = make_app(cors_origins=(application_origin,))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app.test_client()
    server.shutdown()
    thread.join(5)


def test_web_sdk__toggle_through_api__seen_within_a_second_over_the_event_stream(
    browser: Browser, application_origin, service
):
    # Given: a flag off in production, a production client token, and an application page using the web SDK
    base, admin = service
    created = admin.post("/flags", json={"name": "new-checkout", "environments": {"production": False}}, headers=auth())
    assert created.status_code == 201, created.get_json()
    issued = admin.post("/tokens", json={"name": "web", "role": "client", "environment": "production"}, headers=auth())
    assert issued.status_code == 201, issued.get_json()
    token = issued.get_json()["token"]
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    requests_seen: list[str] = []
    page.on("request", lambda request: requests_seen.append(request.url))
    try:
        page.goto(f"{application_origin}/page.html")
        # The stream's answer (its headers come at once) is what tells the page is listening before the toggle.
        with page.expect_response(lambda response: "/ofrep/v1/flag-changes" in response.url) as stream_opened:
            details = page.evaluate(
                "(options) => window.startOpenFeature(options)",
                {"baseUrl": base, "token": token, "flag": "new-checkout", "targetingKey": "user-1"},
            )
        assert stream_opened.value.status == 200
        assert details["value"] is False
        assert details["reason"] == "DISABLED"
        bulk_before = sum("/ofrep/v1/evaluate/flags" in url for url in requests_seen)

        # When: someone switches it on through the API
        started = time.monotonic()
        toggled = admin.post("/flags/new-checkout/toggle", json={"environment": "production"}, headers=auth())
        assert toggled.status_code == 200, toggled.get_json()
        page.wait_for_function("() => window.openFeatureSeen.values.some((seen) => seen.value === true)")
        elapsed = time.monotonic() - started

        # Then: the page sees it within the bound, through one re-fetch the event asked for, with no token in any URL
        assert elapsed < SEES_TOGGLE_WITHIN_S, f"the page saw the toggle after {elapsed:.3f} s"
        seen = page.evaluate("() => window.openFeatureSeen")
        assert seen["errors"] == [] and len(seen["changes"]) >= 1
        assert page.evaluate("() => window.openFeatureSeen.values.at(-1).value") is True
        streams = [url for url in requests_seen if "/ofrep/v1/flag-changes" in url]
        assert len(streams) == 1 and "ticket" in parse_qs(urlsplit(streams[0]).query)
        refetches = [url for url in requests_seen if "/ofrep/v1/evaluate/flags" in url][bulk_before:]
        assert refetches and all("flagConfigEtag" in parse_qs(urlsplit(url).query) for url in refetches)
        assert not any(token in url for url in requests_seen)
        assert problems == []
    finally:
        context.close()


def test_web_sdk__polling_off_and_nothing_changed__no_request_after_start(
    browser: Browser, application_origin, service
):
    # Given: the SDK started against an enabled flag
    base, admin = service
    created = admin.post("/flags", json={"name": "banner", "environments": {"production": True}}, headers=auth())
    assert created.status_code == 201, created.get_json()
    issued = admin.post("/tokens", json={"name": "web", "role": "client", "environment": "production"}, headers=auth())
    token = issued.get_json()["token"]
    context = browser.new_context()
    page = context.new_page()
    requests_seen: list[str] = []
    page.on("request", lambda request: requests_seen.append(request.url))
    try:
        page.goto(f"{application_origin}/page.html")
        details = page.evaluate(
            "(options) => window.startOpenFeature(options)",
            {"baseUrl": base, "token": token, "flag": "banner", "targetingKey": "user-1"},
        )
        assert details["value"] is True

        # When: nothing changes for a while
        page.wait_for_timeout(2_500)

        # Then: one evaluation and one stream, held open: nothing polled, nothing reconnected
        assert sum("/ofrep/v1/evaluate/flags" in url for url in requests_seen) == 1
        assert sum("/ofrep/v1/flag-changes" in url for url in requests_seen) == 1
    finally:
        context.close()

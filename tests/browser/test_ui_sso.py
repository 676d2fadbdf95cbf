"""Single sign-on in Chromium through a real OpenID provider: npm's oidc-provider (OpenID-certified), on loopback.

A person signs in through the provider's own pages, the page shows who they are and what their role allows, an
admin changes the role, and a change the person makes is recorded under their name. The provider is the npm package
at the version tests/people/oidc_provider/package-lock.json pins, installed with npm ci.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect
from werkzeug.serving import make_server

from feature_flags import PROJECT_ROOT, create_app
from tests.support import auth, free_port, npm_installed, require_tool

pytestmark = pytest.mark.browser

SOURCE = PROJECT_ROOT / "tests" / "people" / "oidc_provider"
BUILD = PROJECT_ROOT / "build" / "oidc-provider"
CLIENT_ID = "feature-flags"
CLIENT_SECRET = "browser-test-client-secret-0123456789"


@pytest.fixture(scope="session")
def provider_dir() -> Path:
    """build/oidc-provider with the provider installed from the pinned lock file (again only when it changes)."""
    return npm_installed(SOURCE, BUILD, ("package.json", "package-lock.json", "server.mjs"))


@pytest.fixture
def sso_site(config, provider_dir) -> Iterator[str]:
    """The provider and the service (single sign-on through it, roles from its groups claim); yields the site."""
    node = require_tool("node")
    site_port, provider_port = free_port(), free_port()
    site = f"http://127.0.0.1:{site_port}"
    issuer = f"http://127.0.0.1:{provider_port}"
    provider = subprocess.Popen(
        [node, "server.mjs", str(provider_port), f"{site}/auth/oidc/callback", CLIENT_ID, CLIENT_SECRET],
        cwd=provider_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert provider.stdout.readline().strip() == "ready", "the OpenID provider did not start"
        app = create_app(
            replace(
                config,
                oidc_issuer=issuer,
                oidc_client_id=CLIENT_ID,
                oidc_client_secret=CLIENT_SECRET,
                public_url=site,
                oidc_roles_claim="groups",
            )
        )
        server = make_server("127.0.0.1", site_port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield site
        server.shutdown()
        thread.join(5)
        app.extensions["feature_flags.store"].client.close()
    finally:
        provider.terminate()
        provider.wait(10)


def sign_in_with_provider(page: Page, site: str, login: str) -> None:
    """Sign in as a person would: the page's single sign-on button, the provider's sign-in and consent pages."""
    page.goto(site)
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{site}/**")


def test_sso__viewer_signs_in__read_only__promoted_to_editor__change_names_them(page: Page, sso_site: str):
    # Given: a flag
    assert requests.post(f"{sso_site}/flags", json={"name": "new-checkout"}, headers=auth(), timeout=10).ok

    # When: a person signs in through the identity provider
    sign_in_with_provider(page, sso_site, "ada")

    # Then: the page names them and their role (viewer: the default without a group), read-only
    expect(page.locator("#who")).to_have_text("ada@example.com · Viewer")
    switch = page.get_by_role("switch", name="Toggle new-checkout in Production")
    expect(switch).to_be_disabled()
    expect(page.get_by_role("button", name="New flag")).to_be_hidden()
    expect(page.get_by_role("link", name="Tokens")).to_be_hidden()
    # And the page never holds the session's secret: the cookie is HttpOnly
    assert "ff_session" not in page.evaluate("document.cookie")
    cookie = next(c for c in page.context.cookies() if c["name"] == "ff_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # When: an admin makes them an editor, and they reload
    people = requests.get(f"{sso_site}/users", headers=auth(), timeout=10).json()
    assert [person["email"] for person in people] == ["ada@example.com"]
    changed = requests.patch(
        f"{sso_site}/users/{people[0]['_id']}", json={"role": "editor"}, headers=auth(), timeout=10
    )
    assert changed.status_code == 200
    page.reload()

    # Then: they switch the flag on from the page
    expect(page.locator("#who")).to_have_text("ada@example.com · Editor")
    switch = page.get_by_role("switch", name="Toggle new-checkout in Production")
    switch.click()
    # The switch moves at once; the write is done when it is no longer busy.
    expect(switch).not_to_have_attribute("aria-busy", "true")
    expect(switch).to_have_attribute("aria-checked", "true")
    flag = requests.get(f"{sso_site}/flags/new-checkout", headers=auth(), timeout=10).json()
    assert flag["environments"]["production"] is True
    # And the audit trail names the person, not a token
    history = requests.get(f"{sso_site}/flags/new-checkout/history", headers=auth(), timeout=10).json()
    toggled = next(event for event in history["events"] if event["action"] == "flag.toggled")
    assert toggled["actor"] == "ada@example.com"
    assert toggled["person"]["subject"] == "ada"
    # And admin screens stay an admin's
    expect(page.get_by_role("link", name="Tokens")).to_be_hidden()

    # When: they sign out (the page tells the service, which ends the session)
    with page.expect_response(lambda response: response.url.endswith("/auth/logout")) as logout:
        page.get_by_role("button", name="Sign out").click()
    assert logout.value.status == 204

    # Then: the session is over on the service too
    expect(page.get_by_role("link", name="Sign in with single sign-on")).to_be_visible()
    page.reload()
    expect(page.get_by_role("link", name="Sign in with single sign-on")).to_be_visible()
    expect(page.locator("#who")).to_be_hidden()


def test_sso__provider_group_admin__admin_screens_offered(page: Page, sso_site: str):
    # When: someone in the provider's "admin" group signs in
    sign_in_with_provider(page, sso_site, "admin-grace")

    # Then: an admin, from the group claim, with the admin screens
    expect(page.locator("#who")).to_have_text("admin-grace@example.com · Admin")
    page.get_by_role("link", name="Tokens").click()
    expect(page.get_by_role("heading", name="SDK tokens")).to_be_visible()
    users = requests.get(f"{sso_site}/users", headers=auth(), timeout=10).json()
    assert [(u["email"], u["role"]) for u in users] == [("admin-grace@example.com", "admin")]

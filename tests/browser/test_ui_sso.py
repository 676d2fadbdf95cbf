"""Single sign-on in Chromium through a real OpenID provider: npm's oidc-provider (OpenID-certified), on loopback.

A person signs in through the provider's own pages, the page shows who they are and what their role allows, an
admin changes the role, and a change the person makes is recorded under their name. With production under
approval, one person's change request is approved by another, each signed in through the provider. The provider
is the npm package at the version tests/people/oidc_provider/package-lock.json pins, installed with npm ci.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from feature_flags import PROJECT_ROOT, create_app
from tests.support import auth, free_port, npm_installed, require_tool, serving

pytestmark = pytest.mark.browser

SOURCE = PROJECT_ROOT / "tests" / "people" / "oidc_provider"
BUILD = PROJECT_ROOT / "build" / "oidc-provider"
CLIENT_ID = "feature-flags"
CLIENT_SECRET = "browser-test-client-secret-0123456789"


@pytest.fixture(scope="session")
def provider_dir() -> Path:
    """build/oidc-provider with the provider installed from the pinned lock file (again only when it changes)."""
    return npm_installed(SOURCE, BUILD, ("package.json", "package-lock.json", "server.mjs"))


@contextmanager
def running_site(config, provider_dir: Path, **changes) -> Iterator[str]:
    """The provider and the service (single sign-on through it, roles from its groups claim, settings changed)."""
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
                **changes,
            )
        )
        try:
            with serving(app, site_port):
                yield site
        finally:
            app.extensions["feature_flags.store"].client.close()
    finally:
        provider.terminate()
        provider.wait(10)


@pytest.fixture
def sso_site(config, provider_dir) -> Iterator[str]:
    """The provider and the service; yields the site."""
    with running_site(config, provider_dir) as site:
        yield site


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


def test_sso__change_request_from_request_to_approval__served_through_ofrep(page: Page, config, provider_dir):
    # Given: production needs approval; a flag, and a production client
    with running_site(config, provider_dir, approvals=("production",)) as site:
        assert requests.post(f"{site}/flags", json={"name": "new-checkout"}, headers=auth(), timeout=10).ok
        token = requests.post(
            f"{site}/tokens",
            json={"name": "shop", "role": "client", "environment": "production"},
            headers=auth(),
            timeout=10,
        ).json()["token"]

        # When: an editor signs in through the provider and switches production on, then signs out
        sign_in_with_provider(page, site, "editor-ann")
        expect(page.locator("#who")).to_have_text("editor-ann@example.com · Editor")
        page.get_by_role("switch", name="Toggle new-checkout in Production").click()
        expect(page.locator("#messages")).to_contain_text("Asked to switch new-checkout on in Production")
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("link", name="Sign in with single sign-on")).to_be_visible()
        # The provider's own session would sign ann in again: the next person signs in afresh
        page.context.clear_cookies()

        # And another editor signs in and approves it on the change requests screen
        sign_in_with_provider(page, site, "editor-ben")
        page.get_by_role("link", name="Change requests").click()
        request = page.locator("#change-requests-list li")
        expect(request).to_contain_text("by editor-ann@example.com")
        request.get_by_role("button", name="Approve the change to new-checkout").click()
        expect(page.locator("#change-requests-status")).to_have_text("Approved the change to new-checkout.")

        # Then: production serves it, and the write names both people
        answer = requests.post(
            f"{site}/ofrep/v1/evaluate/flags/new-checkout",
            json={"context": {"targetingKey": "u-1"}},
            headers=auth(token),
            timeout=10,
        )
        assert answer.status_code == 200 and answer.json()["value"] is True
        history = requests.get(f"{site}/flags/new-checkout/history", headers=auth(), timeout=10).json()["events"]
        write = next(event for event in history if event["action"] == "flag.updated")
        assert (write["requested_by"], write["person"]["subject"]) == ("editor-ann@example.com", "editor-ben")

"""Accessibility of every screen, checked by axe-core (npm, pinned by tests/browser/axe/package-lock.json) against
WCAG 2.1 A and AA, in both themes at 1280 and 360 px wide.

axe is injected into the page as a script, which the page's Content-Security-Policy rightly refuses: these contexts
bypass the CSP for that (every other browser test runs under it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from feature_flags import PROJECT_ROOT
from tests.browser.test_ui_browser import SCREENSHOTS, sign_in
from tests.people.persons import SSO_SETTINGS, person, session_for
from tests.support import auth, npm_installed, serving

pytestmark = pytest.mark.browser

AXE_SOURCE = Path(__file__).parent / "axe"
AXE_BUILD = PROJECT_ROOT / "build" / "axe"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Each screen by its address, and the heading that says it is drawn.
SCREENS = [
    ("flags", "/", "Flags"),
    ("flag page", "/?page=flag&name=new-checkout&env=production", "new-checkout"),
    ("tokens", "/?page=tokens", "SDK tokens"),
    ("audit log", "/?page=audit", "Audit log"),
    ("one user", "/?page=evaluate&env=production&key=user-42", "One user, every flag"),
    ("segments", "/?page=segments", "Segments"),
    ("context fields", "/?page=context-fields", "Context fields"),
    ("webhooks", "/?page=webhooks", "Webhooks"),
    ("import and export", "/?page=transfer", "Import and export"),
]
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, { runOnly: { type: "tag", values: tags } });
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help}; ${v.nodes.length} at ` +
    v.nodes.slice(0, 3).map((node) => node.target.join(" ")).join(", "));
}"""


@pytest.fixture(scope="module")
def axe_script() -> Path:
    """axe.min.js, installed with npm ci from the pinned lock file."""
    build = npm_installed(AXE_SOURCE, AXE_BUILD, ("package.json", "package-lock.json"))
    return build / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Page, script: Path) -> list[str]:
    """Run axe on the page as it is now; return each WCAG A/AA violation in a line."""
    page.add_script_tag(path=str(script))
    return page.evaluate(RUN_AXE, WCAG_TAGS)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_screen__both_widths__no_wcag_a_or_aa_violation(browser, live_server, api, watch, axe_script, theme):
    # Given: something on every screen
    flag = api.create("new-checkout", "The redesigned checkout", production=True)
    rule = {"when": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}
    api.update(flag["_id"], tags=["payments"], targeting={"production": {"rules": [rule], "serve": "off"}})
    api.client_token("production")
    segment = {"name": "beta-users", "conditions": [{"attribute": "plan", "op": "in", "values": ["pro"]}]}
    assert api.session.post(f"{live_server}/segments", json=segment).status_code == 201
    webhook = {"url": "https://hooks.example.com/flags", "events": ["*"]}
    assert api.session.post(f"{live_server}/webhooks", json=webhook).status_code == 201
    found: dict[str, list[str]] = {}

    for width, height in [(1280, 800), (360, 740)]:
        context = browser.new_context(color_scheme=theme, viewport={"width": width, "height": height}, bypass_csp=True)
        context.on("page", watch.attach)
        page = context.new_page()
        try:
            sign_in(page, live_server)
            for name, path, heading in SCREENS:
                # When: the screen is drawn
                page.goto(live_server + path)
                expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
                expect(page.get_by_role("status").first).not_to_have_text("Loading…")
                if name == "one user":
                    page.get_by_role("button", name="Evaluate every flag").click()
                    expect(page.locator("#evaluate-rows tr")).not_to_have_count(0)

                # Then (collected, so that one run reports every screen)
                found[f"{name} at {width}px"] = axe_violations(page, axe_script)
                if name == "flags":
                    # And with a row's menu open
                    page.get_by_role("button", name="Actions for new-checkout").click()
                    expect(page.get_by_role("menu", name="Actions for new-checkout")).to_be_visible()
                    found[f"row menu at {width}px"] = axe_violations(page, axe_script)
                    page.keyboard.press("Escape")
        finally:
            context.close()

    assert {screen: violations for screen, violations in found.items() if violations} == {}
    assert watch.problems == []


def test_change_requests_and_people__both_themes_and_widths__no_wcag_a_or_aa_violation(
    browser, make_app, watch, axe_script
):
    # Given: single sign-on, production under approval, a pending request with its comment, and three people
    app = make_app(**SSO_SETTINGS, approvals=("production",))
    with serving(app) as base:
        created = requests.post(f"{base}/flags", json={"name": "checkout"}, headers=auth(), timeout=10)
        assert created.status_code == 201, created.text
        admin, _ = session_for(app, "ada@example.com", "admin")
        session_for(app, "bob@example.com", "viewer")
        alice = person(app, "alice@example.com", "editor")
        body = {"flag": "checkout", "changes": {"environments": {"production": True}}, "comment": "Launch day"}
        assert alice.post("/change-requests", json=body).status_code == 201
        found: dict[str, list[str]] = {}

        for theme in ("light", "dark"):
            for width, height in [(1280, 800), (360, 740)]:
                context = browser.new_context(
                    color_scheme=theme, viewport={"width": width, "height": height}, bypass_csp=True
                )
                context.on("page", watch.attach)
                context.add_cookies([{"name": "ff_session", "value": admin, "url": base}])
                page = context.new_page()
                suffix = theme if width > 400 else f"{theme}-{width}px"
                try:
                    # When: each screen is drawn with what it lists
                    page.goto(f"{base}/?page=change-requests")
                    expect(page.get_by_role("heading", name="Change requests", level=1)).to_be_visible()
                    expect(page.locator("#change-requests-list li")).to_have_count(1)
                    found[f"change requests, {theme}, {width}px"] = axe_violations(page, axe_script)
                    scrolls = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
                    found[f"change requests, {theme}, {width}px"] += ["scrolls sideways"] if scrolls else []
                    page.screenshot(path=SCREENSHOTS / f"change-requests-{suffix}.png", full_page=True)
                    page.goto(f"{base}/?page=people")
                    expect(page.locator("#people-status")).to_have_text("3 people.")
                    found[f"people, {theme}, {width}px"] = axe_violations(page, axe_script)
                    scrolls = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
                    found[f"people, {theme}, {width}px"] += ["scrolls sideways"] if scrolls else []
                    page.screenshot(path=SCREENSHOTS / f"people-{suffix}.png", full_page=True)
                finally:
                    context.close()

    # Then
    assert {screen: violations for screen, violations in found.items() if violations} == {}
    assert watch.problems == []

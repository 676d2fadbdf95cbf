"""The admin page in a real Chromium, against the real app on the real database.

One browser for the session, a fresh context (storage, cookies) per test. Each page fails its test on a JavaScript
error, a Content-Security-Policy violation or a browser dialog (alert/confirm), whatever the test checks besides.
"""

from __future__ import annotations

import functools
import http.client
import http.server
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Page, expect

from feature_flags import PROJECT_ROOT
from tests.browser.conftest import row_action
from tests.people.persons import SSO_SETTINGS, session_for
from tests.support import ADMIN_TOKEN, auth, serving

pytestmark = pytest.mark.browser

# The documentation's screenshots are refreshed only on request (make screenshots); other runs keep theirs out of git.
SCREENSHOTS = PROJECT_ROOT / ("docs/screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else "build/screenshots")
# Long enough for two polls of the page (2.5 s apart) and a slow machine.
SEES_CHANGES_WITHIN_MS = 10_000
# A change pushed over the event stream, on a loaded machine; polling, set to minutes in these tests, cannot.
STREAMED_WITHIN_MS = 5_000
# Checks that run in the page, kept as JavaScript files: each holds one function for page.evaluate.
BROWSER_CHECKS = Path(__file__).parent / "browser_checks"
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b id="injected">bold</b>'


def browser_check(name: str) -> str:
    """Return the JavaScript function in tests/browser_checks/<name>.js, for page.evaluate."""
    return (BROWSER_CHECKS / f"{name}.js").read_text(encoding="utf-8")


def sign_in(page: Page, base: str, token: str = ADMIN_TOKEN, path: str = "/") -> None:
    """Open the page and sign in through the form, as a person would."""
    page.goto(base + path)
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("table", name="Flags")).to_be_visible()
    expect(page.locator("#flag-count")).not_to_have_text("Loading flags…")


def row(page: Page, name: str):
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))


# -- signing in ------------------------------------------------------------------------------


def test_sign_in__admin_token__flags_shown_and_token_kept_for_session_only(page, live_server, api):
    # Given
    api.create("new-checkout", "The redesigned checkout")
    requests_seen = []
    page.on("request", lambda request: requests_seen.append((request.url, request.headers.get("authorization"))))

    # When
    sign_in(page, live_server)

    # Then
    expect(page.get_by_role("switch", name="Toggle new-checkout in Staging")).to_be_visible()
    assert all(ADMIN_TOKEN not in url for url, _ in requests_seen)
    api_calls = [header for url, header in requests_seen if "/flags" in url or "/tokens" in url]
    assert api_calls and all(header == f"Bearer {ADMIN_TOKEN}" for header in api_calls)
    expect(page.get_by_text("Admin", exact=True)).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('ff.token')") == ADMIN_TOKEN
    assert page.evaluate("localStorage.getItem('ff.token')") is None
    assert ADMIN_TOKEN not in page.url

    # When: a reload keeps the session (same tab)
    page.reload()

    # Then
    expect(page.get_by_role("switch", name="Toggle new-checkout in Staging")).to_be_visible()


def test_sign_out__button__forgets_token_and_shows_sign_in(page, live_server, api):
    # Given
    sign_in(page, live_server)

    # When
    page.get_by_role("button", name="Sign out").click()

    # Then
    expect(page.get_by_label("API token")).to_be_visible()
    expect(page.get_by_role("table", name="Flags")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('ff.token')") is None
    page.reload()
    expect(page.get_by_label("API token")).to_be_visible()


def test_sign_in__unknown_token__error_shown_and_nothing_stored(page, live_server):
    # When
    page.goto(live_server)
    page.get_by_label("API token").fill("ff_admin_not-a-real-token-at-all")
    page.get_by_role("button", name="Sign in").click()

    # Then
    expect(page.get_by_role("alert").filter(has_text="not accepted")).to_be_visible()
    expect(page.get_by_label("API token")).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("sessionStorage.getItem('ff.token')") is None
    assert "token" not in page.url


def test_sign_in__client_token__read_only_view_of_its_environment(page, live_server, api):
    # Given
    api.create("dark-mode", "Offer the dark theme", production=True)
    token = api.client_token("production")

    # When
    sign_in(page, live_server, token)

    # Then
    expect(page.get_by_text("Read-only: this token can see flags but not change them.")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Production")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Staging")).to_be_hidden()
    expect(page.get_by_role("switch")).to_have_count(1)
    switch = page.get_by_role("switch", name="Toggle dark-mode in Production")
    expect(switch).to_be_disabled()
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.get_by_role("button", name="New flag")).to_be_hidden()
    expect(page.get_by_role("button", name="Actions for dark-mode")).to_be_hidden()
    assert "staging" not in page.url

    # When: a click on the switch anyway
    switch.click(force=True)

    # Then: nothing changed on the server
    page.wait_for_timeout(300)
    assert api.state("dark-mode")["production"] is True


def test_sign_in__editor_token_for_staging__switches_flags_there_only(page, live_server, api):
    # Given: an editor token bound to staging, as a deploy pipeline holds
    api.create("dark-mode", "Offer the dark theme")
    made = api.session.post(
        f"{live_server}/tokens", json={"name": "pipeline", "role": "editor", "environment": "staging"}
    )
    assert made.status_code == 201, made.text

    # When
    sign_in(page, live_server, made.json()["token"])

    # Then: named as an editor of staging, with staging's switch only, and it works
    expect(page.locator("#who")).to_have_text("Editor · Staging")
    expect(page.get_by_role("columnheader", name="Production")).to_be_hidden()
    switch = page.get_by_role("switch", name="Toggle dark-mode in Staging")
    expect(switch).to_be_enabled()
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(switch).not_to_have_attribute("aria-busy", "true")
    assert api.state("dark-mode")["staging"] is True


def test_person__editor_in_staging_only__switches_staging_reads_production(context, make_app):
    # Given: single sign-on configured, a flag, and a person who edits staging and reads everything else
    app = make_app(**SSO_SETTINGS)
    with serving(app) as base:
        assert requests.post(f"{base}/flags", json={"name": "dark-mode"}, headers=auth(), timeout=10).ok
        secret, _ = session_for(app, "sam@example.com", "viewer", {"staging": "editor"})
        context.add_cookies([{"name": "ff_session", "value": secret, "url": base}])
        page = context.new_page()

        # When
        page.goto(base)

        # Then: staging's switch works; production's and development's are shown, disabled
        expect(page.locator("#who")).to_have_text("sam@example.com · Viewer")
        staging = page.get_by_role("switch", name="Toggle dark-mode in Staging")
        expect(staging).to_be_enabled()
        expect(page.get_by_role("switch", name="Toggle dark-mode in Production")).to_be_disabled()
        expect(page.get_by_role("switch", name="Toggle dark-mode in Development")).to_be_disabled()
        staging.click()
        expect(staging).to_have_attribute("aria-checked", "true")
        expect(staging).not_to_have_attribute("aria-busy", "true")
        flag = requests.get(f"{base}/flags/dark-mode", headers=auth(), timeout=10).json()
        assert flag["environments"] == {"development": False, "staging": True, "production": False}
        # And the audit log is offered (they read every environment), segments and the admin screens are not
        nav = page.get_by_role("navigation", name="Screens")
        expect(nav.get_by_role("link", name="Audit log")).to_be_visible()
        for name in ("Segments", "Tokens", "Webhooks", "Import and export"):
            expect(nav.get_by_role("link", name=name)).to_be_hidden()
        nav.get_by_role("link", name="Audit log").click()
        expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
        expect(page.locator("#audit-view")).to_contain_text("dark-mode")

        # When: the flag's page, in production
        page.goto(f"{base}/?page=flag&name=dark-mode&env=production")

        # Then: production's switch is disabled there, staging's is not
        expect(page.get_by_role("heading", name="dark-mode", level=1)).to_be_visible()
        expect(page.locator("#flag-env-switch")).to_be_disabled()
        page.get_by_role("tab", name="Staging").click()
        expect(page.locator("#flag-env-switch")).to_be_enabled()


# -- creating, searching, switching, editing, deleting ---------------------------------------


def test_create__new_flag_form__flag_created_and_listed(page, live_server, api):
    # Given
    sign_in(page, live_server)

    # When: opened and closed with Escape, then opened again
    page.get_by_role("button", name="New flag").click()
    dialog = page.get_by_role("dialog", name="New flag")
    expect(dialog.get_by_label("Name")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="New flag")).to_be_focused()
    page.get_by_role("button", name="New flag").click()
    dialog.get_by_label("Name").fill("search-v2")
    dialog.get_by_label("Description").fill("Search backed by the new index")
    dialog.get_by_role("button", name="Create").click()

    # Then
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("switch", name="Toggle search-v2 in Staging")).to_have_attribute("aria-checked", "false")
    expect(row(page, "search-v2")).to_contain_text("Search backed by the new index")
    created = api.flag("search-v2").json()
    assert created["description"] == "Search backed by the new index"
    assert created["created_by"] == "bootstrap"


@pytest.mark.parametrize(
    ("name", "error"),
    [("taken", "A flag with that name already exists."), ("has spaces", "without spaces"), ("", "without spaces")],
)
def test_create__name_refused_by_api__error_next_to_name_field(page, live_server, api, name, error):
    # Given
    api.create("taken")
    sign_in(page, live_server)
    page.get_by_role("button", name="New flag").click()
    dialog = page.get_by_role("dialog", name="New flag")

    # When
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_role("button", name="Create").click()

    # Then: the message sits under the field and is tied to it for screen readers
    name_field = dialog.get_by_label("Name")
    expect(name_field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#create-name-error")).to_contain_text(error)
    assert "create-name-error" in (name_field.get_attribute("aria-describedby") or "")
    expect(dialog).to_be_visible()
    assert len(api.session.get(f"{live_server}/flags").json()) == 1


def test_search__typing__filters_by_name_and_description(page, live_server, api):
    # Given
    api.create("new-checkout", "The redesigned checkout flow")
    api.create("dark-mode", "Offer the dark theme")
    api.create("search-v2", "Search backed by the new index")
    sign_in(page, live_server)
    search = page.get_by_role("searchbox", name="Search")

    # When: part of a description
    search.press_sequentially("REDESIGN")

    # Then
    expect(page.locator("#flag-rows > tr")).to_have_count(1)
    expect(row(page, "new-checkout")).to_be_visible()
    expect(page.get_by_text("1 of 3 flags match")).to_be_visible()

    # When: part of a name
    search.fill("")
    search.press_sequentially("dark")

    # Then
    expect(page.locator("#flag-rows > tr")).to_have_count(1)
    expect(row(page, "dark-mode")).to_be_visible()

    # When: nothing matches
    search.fill("zzz")
    search.dispatch_event("input")

    # Then: an empty state says so and offers a way back
    expect(page.get_by_text("No flags match “zzz”.")).to_be_visible()
    page.get_by_role("button", name="Clear search").click()
    expect(page.locator("#flag-rows > tr")).to_have_count(3)


def test_list__no_flags__clear_empty_state(page, live_server):
    # When
    sign_in(page, live_server)

    # Then
    expect(page.get_by_text("No flags in Staging yet.")).to_be_visible()
    expect(page.get_by_role("button", name="New flag")).to_be_visible()


def test_toggle__each_environment__state_read_back_through_api(page, live_server, api):
    # Given
    api.create("new-checkout")
    sign_in(page, live_server)
    expected = {"development": False, "staging": False, "production": False}

    for environment, label in [("development", "Development"), ("staging", "Staging"), ("production", "Production")]:
        # When
        switch = page.get_by_role("switch", name=f"Toggle new-checkout in {label}")
        expect(switch).to_have_attribute("aria-checked", "false")
        switch.click()

        # Then: on in this environment, as the API tells, and nowhere else
        expected[environment] = True
        expect(switch).not_to_have_attribute("aria-busy", "true")
        expect(switch).to_have_attribute("aria-checked", "true")
        assert api.state("new-checkout") == expected

    # When: switched off again in staging
    staging = page.get_by_role("switch", name="Toggle new-checkout in Staging")
    staging.click()

    # Then
    expect(staging).not_to_have_attribute("aria-busy", "true")
    expect(staging).to_have_attribute("aria-checked", "false")
    expected["staging"] = False
    assert api.state("new-checkout") == expected
    expect(row(page, "new-checkout")).to_contain_text("Changed by bootstrap")


def test_environment__in_url__link_opens_same_view(page, live_server, api):
    # Given
    api.create("dark-mode", production=True)
    sign_in(page, live_server)

    # When
    page.goto(f"{live_server}/?env=production&q=dark")

    # Then
    expect(page.get_by_label("State in")).to_have_value("production")
    expect(page.get_by_role("searchbox")).to_have_value("dark")
    expect(page.get_by_role("switch", name="Toggle dark-mode in Production")).to_have_attribute("aria-checked", "true")
    expect(page.get_by_role("link", name="dark-mode")).to_have_attribute("href", re.compile(r"env=production"))

    # When: back to the previous view with the browser's Back button
    page.get_by_label("State in").select_option("development")
    expect(page.get_by_role("link", name="dark-mode")).to_have_attribute("href", re.compile(r"env=development"))
    page.go_back()

    # Then
    expect(page.get_by_label("State in")).to_have_value("production")
    expect(page.get_by_role("searchbox")).to_have_value("dark")


def test_toggle__server_refuses__switch_reverts_with_message(page, live_server, api):
    # Given: a page that cannot hear of the change made elsewhere below: its clock frozen (no poll) and its event
    # stream refused (an event arriving before the click would bring the new version, and the switch would succeed)
    flag = api.create("new-checkout")
    page.route("**/ofrep/v1/flag-changes*", lambda route: route.abort())
    page.clock.install()
    sign_in(page, live_server)
    switch = page.get_by_role("switch", name="Toggle new-checkout in Staging")
    expect(switch).to_have_attribute("aria-checked", "false")
    api.update(flag["_id"], description="changed elsewhere")

    # When
    switch.click()

    # Then: the server refused the stale version; the switch is back and a message says why
    expect(page.get_by_role("alert").filter(has_text="Could not switch new-checkout on in Staging")).to_be_visible()
    expect(switch).to_have_attribute("aria-checked", "false")
    assert api.state("new-checkout")["staging"] is False
    expect(row(page, "new-checkout")).to_contain_text("changed elsewhere")


def test_edit__inline__name_and_description_saved(page, live_server, api):
    # Given
    flag = api.create("beta-dashbord", "typo")
    sign_in(page, live_server)

    # When
    row_action(page, "beta-dashbord", "Edit")
    form = page.get_by_role("form", name="Edit beta-dashbord")
    form.get_by_label("Name").fill("beta-dashboard")
    form.get_by_label("Description").fill("The new analytics dashboard")
    form.get_by_role("button", name="Save").click()

    # Then
    expect(row(page, "beta-dashboard")).to_be_visible()
    expect(row(page, "beta-dashboard")).to_contain_text("The new analytics dashboard")
    saved = api.flag(flag["_id"]).json()
    assert (saved["name"], saved["description"], saved["version"]) == (
        "beta-dashboard",
        "The new analytics dashboard",
        2,
    )
    expect(page.get_by_role("button", name="Actions for beta-dashboard")).to_be_focused()


def test_edit__name_taken__error_next_to_field_and_nothing_saved(page, live_server, api):
    # Given
    api.create("one")
    api.create("two")
    sign_in(page, live_server)

    # When
    row_action(page, "two", "Edit")
    form = page.get_by_role("form", name="Edit two")
    form.get_by_label("Name").fill("one")
    form.get_by_role("button", name="Save").click()

    # Then
    expect(form.get_by_text("A flag with that name already exists.")).to_be_visible()
    expect(form.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    assert api.flag("two").status_code == 200

    # When: Escape leaves the editor unchanged
    form.get_by_label("Name").press("Escape")

    # Then
    expect(form).to_be_hidden()
    expect(page.get_by_role("button", name="Actions for two")).to_be_focused()


def test_delete__confirmed_in_dialog__flag_gone(page, live_server, api):
    # Given
    api.create("old-banner")
    api.create("keep-me")
    sign_in(page, live_server)

    # When: the dialog opens and is dismissed with Cancel
    row_action(page, "old-banner", "Delete")
    dialog = page.get_by_role("dialog", name="Delete old-banner?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()

    # Then
    expect(dialog).to_be_hidden()
    assert api.flag("old-banner").status_code == 200

    # When: confirmed
    row_action(page, "old-banner", "Delete")
    # The row goes at once; the answer is awaited so the API is read after the delete, not while it is in flight.
    with page.expect_response(lambda response: response.request.method == "DELETE") as deleted:
        dialog.get_by_role("button", name="Delete", exact=True).click()
    assert deleted.value.status == 204

    # Then
    expect(dialog).to_be_hidden()
    expect(row(page, "old-banner")).to_have_count(0)
    assert api.flag("old-banner").status_code == 404
    assert api.flag("keep-me").status_code == 200


def test_history__after_changes__who_what_when_before_and_after(page, live_server, api):
    # Given
    flag = api.create("new-checkout", "first text")
    api.toggle(flag["_id"], "production")
    api.update(flag["_id"], description="second text")
    sign_in(page, live_server)

    # When
    row_action(page, "new-checkout", "History")

    # Then: newest first
    dialog = page.get_by_role("dialog", name="History of new-checkout")
    events = dialog.get_by_role("listitem")
    expect(events).to_have_count(3)
    expect(events.nth(0)).to_contain_text("Changed the description")
    expect(events.nth(0)).to_contain_text("by bootstrap")
    expect(events.nth(0).locator("del")).to_have_text("first text")
    expect(events.nth(0).locator("ins")).to_have_text("second text")
    expect(events.nth(1)).to_contain_text("Switched on in Production")
    expect(events.nth(1).locator("del")).to_have_text("off")
    expect(events.nth(1).locator("ins")).to_have_text("on")
    expect(events.nth(2)).to_contain_text("Created")
    expect(events.nth(0).locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))

    # When: Escape closes it
    page.keyboard.press("Escape")

    # Then
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Actions for new-checkout")).to_be_focused()


def test_history__more_than_a_page__older_changes_on_request(page, live_server, api):
    # Given: 1 creation and 54 toggles, more than the 50 events of one page
    flag = api.create("busy-flag")
    for _ in range(54):
        api.toggle(flag["_id"], "development")
    sign_in(page, live_server)

    # When
    row_action(page, "busy-flag", "History")
    dialog = page.get_by_role("dialog", name="History of busy-flag")

    # Then
    expect(dialog.get_by_role("listitem")).to_have_count(50)
    dialog.get_by_role("button", name="Show older changes").click()
    expect(dialog.get_by_role("listitem")).to_have_count(55)
    expect(dialog.get_by_role("listitem").last).to_contain_text("Created")
    expect(dialog.get_by_role("button", name="Show older changes")).to_be_hidden()


# -- hostile text, keyboard, live updates -----------------------------------------------------


def test_flag_text__html_and_script__shown_as_text_and_inert(page, live_server, api, watch):
    # Given: a description full of markup, through the API
    flag = api.create("hostile", HOSTILE)
    api.update(flag["_id"], description=HOSTILE + " v2")
    sign_in(page, live_server)

    # When: it is listed, searched, edited and its history shown; and a name full of markup is tried in the form
    expect(row(page, "hostile")).to_contain_text(HOSTILE + " v2")
    page.get_by_role("searchbox").fill("<script>")
    page.get_by_role("searchbox").dispatch_event("input")
    expect(page.locator("#flag-rows > tr")).to_have_count(1)
    row_action(page, "hostile", "History")
    expect(page.get_by_role("dialog").locator("ins").first).to_have_text(HOSTILE + " v2")
    page.keyboard.press("Escape")
    row_action(page, "hostile", "Edit")
    expect(page.get_by_role("form", name="Edit hostile").get_by_label("Description")).to_have_value(HOSTILE + " v2")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="New flag").click()
    page.get_by_role("dialog", name="New flag").get_by_label("Name").fill(HOSTILE)
    page.get_by_role("dialog", name="New flag").get_by_label("Description").fill(HOSTILE)
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#create-name-error")).to_contain_text("without spaces")

    # Then: nothing ran and no element came from the text
    assert page.evaluate("window.__pwned") is None
    expect(page.locator("#injected")).to_have_count(0)
    expect(page.locator("img[src=x]")).to_have_count(0)
    expect(page.locator("main script, dialog script")).to_have_count(0)
    assert page.locator("script").count() == 2  # the page's own: theme.js and main.js
    assert watch.problems == []


def test_keyboard__only__sign_in_switch_and_dialogs(page, live_server, api):
    # Given
    api.create("alpha")
    api.create("beta")
    page.goto(live_server)

    # When: signing in without a mouse
    focused = tab_to(page, lambda label: label == "API token")
    assert focused
    page.keyboard.type(ADMIN_TOKEN)
    page.keyboard.press("Enter")
    expect(page.get_by_role("switch", name="Toggle beta in Staging")).to_be_visible()

    # When: Tab to the switch, then Space, then Enter
    assert tab_to(page, lambda label: label == "Toggle beta in Staging")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    page.keyboard.press("Space")
    expect(page.get_by_role("switch", name="Toggle beta in Staging")).not_to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("switch", name="Toggle beta in Staging")).to_have_attribute("aria-checked", "true")
    assert api.state("beta")["staging"] is True
    page.keyboard.press("Enter")

    # Then
    expect(page.get_by_role("switch", name="Toggle beta in Staging")).not_to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("switch", name="Toggle beta in Staging")).to_have_attribute("aria-checked", "false")
    assert api.state("beta")["staging"] is False
    assert outline != "none", "keyboard focus is visible"

    # When: the row's menu opened from the keyboard, and closed with Escape
    assert tab_to(page, lambda label: label == "Actions for beta")
    page.keyboard.press("Enter")
    menu = page.get_by_role("menu", name="Actions for beta")
    expect(menu.get_by_role("menuitem", name="Edit")).to_be_focused()
    page.keyboard.press("Escape")

    # Then: it closes, and focus is back on the row's button
    expect(menu).to_be_hidden()
    expect(page.get_by_role("button", name="Actions for beta")).to_be_focused()

    # When: a dialog opened from the menu with the keyboard, and closed with Escape
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowUp")
    expect(menu.get_by_role("menuitem", name="Delete")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="Delete beta?")).to_be_visible()
    page.keyboard.press("Escape")

    # Then: closed, nothing deleted, focus back where it was
    expect(page.get_by_role("dialog", name="Delete beta?")).to_be_hidden()
    expect(page.get_by_role("button", name="Actions for beta")).to_be_focused()
    assert api.flag("beta").status_code == 200

    # When: a filter chosen from the keyboard
    page.get_by_label("State", exact=True).focus()
    page.keyboard.press("ArrowDown")

    # Then: the table asks the API for the flags that are on, and beta (off again) is not among them
    expect(page.get_by_label("State", exact=True)).to_have_value("on")
    expect(row(page, "beta")).to_have_count(0)
    assert "state=on" in page.url


FOCUSED_LABEL = browser_check("focused-label")


def tab_to(page: Page, wanted, presses: int = 40) -> bool:
    """Press Tab until the focused element's accessible name satisfies wanted; False if it never does."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        label = page.evaluate(FOCUSED_LABEL)
        if wanted(label):
            return True
    return False


def test_live__change_through_api__appears_without_reload(no_polling, page, live_server, api):
    # Given
    flag = api.create("dark-mode")
    sign_in(page, live_server)
    switch = page.get_by_role("switch", name="Toggle dark-mode in Staging")
    expect(switch).to_have_attribute("aria-checked", "false")
    page.evaluate("window.__sameDocument = true")

    # When: someone else switches it, renames nothing, and adds a flag
    api.toggle(flag["_id"], "staging")
    api.create("added-elsewhere", "made by a script")

    # Then
    expect(switch).to_have_attribute("aria-checked", "true", timeout=STREAMED_WITHIN_MS)
    expect(row(page, "added-elsewhere")).to_be_visible(timeout=STREAMED_WITHIN_MS)
    assert page.evaluate("window.__sameDocument") is True

    # When: it is deleted elsewhere
    api.session.delete(f"{live_server}/flags/{flag['_id']}")

    # Then
    expect(switch).to_have_count(0, timeout=STREAMED_WITHIN_MS)


def test_live__token_revoked_elsewhere__signed_out_with_message(no_polling, page, live_server, api):
    # Given
    token = api.client_token("staging")
    sign_in(page, live_server, token)
    token_id = next(t["id"] for t in api.session.get(f"{live_server}/tokens").json() if t["name"] == "reader-staging")

    # When
    assert api.session.delete(f"{live_server}/tokens/{token_id}").status_code == 204

    # Then
    expect(page.get_by_text("Your token is no longer accepted. Sign in again.")).to_be_visible(
        timeout=SEES_CHANGES_WITHIN_MS
    )
    expect(page.get_by_label("API token")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('ff.token')") is None


# -- themes, small screens, contrast, screenshots ---------------------------------------------

CONTRAST_FAILURES = browser_check("contrast")
NAMELESS_CONTROLS = browser_check("nameless-controls")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_theme__system_setting__followed_first_then_choice_remembered(browser, live_server, watch, theme):
    # Given: a browser whose system setting is this theme
    context = browser.new_context(color_scheme=theme)
    context.on("page", watch.attach)
    page = context.new_page()
    other = "dark" if theme == "light" else "light"
    try:
        # When
        page.goto(live_server)

        # Then
        assert page.evaluate("document.documentElement.dataset.theme") == theme
        button = page.locator("#theme-toggle")
        expect(button).to_have_accessible_name(f"Switch to {other} theme")

        # When: the person picks the other one, then comes back later
        button.click()
        page.reload()

        # Then
        assert page.evaluate("document.documentElement.dataset.theme") == other
        assert page.evaluate("localStorage.getItem('ff.theme')") == other
        expect(button).to_have_accessible_name(f"Switch to {theme} theme")
    finally:
        context.close()
    assert watch.problems == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screens__both_themes__readable_named_fit_360px_and_saved_as_screenshots(
    browser, live_server, api, watch, theme
):
    # Given: a few flags, one with history, and a person whose system uses this theme
    for name, description, environments in [
        ("new-checkout", "The redesigned checkout flow", {"staging": True, "production": True}),
        ("dark-mode", "Offer the dark theme to users", {"staging": True}),
        ("search-v2", "Search backed by the new index", {}),
        ("maintenance-banner", "Show the planned-maintenance banner", {}),
    ]:
        api.create(name, description, **environments)
    api.toggle("search-v2", "staging")
    api.update("search-v2", description="Search backed by the new index (EU only)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: dict[str, list[str]] = {}

    for width, height in [(1100, 760), (360, 740)]:
        context = browser.new_context(color_scheme=theme, viewport={"width": width, "height": height})
        context.on("page", watch.attach)
        page = context.new_page()
        suffix = f"{theme}" if width > 400 else f"{theme}-360px"
        try:
            # When: each main screen is shown
            page.goto(live_server)
            expect(page.get_by_label("API token")).to_be_visible()
            problems[f"sign-in {suffix}"] = page.evaluate(CONTRAST_FAILURES)
            page.screenshot(path=SCREENSHOTS / f"sign-in-{suffix}.png")
            sign_in(page, live_server)
            expect(page.locator("#flag-rows > tr")).to_have_count(4)
            problems[f"list {suffix}"] = page.evaluate(CONTRAST_FAILURES) + page.evaluate(NAMELESS_CONTROLS)
            page.screenshot(path=SCREENSHOTS / f"flags-{suffix}.png")
            fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert fits, f"horizontal scrolling at {width}px"
            if width > 400:
                page.get_by_role("button", name="New flag").click()
                page.get_by_role("dialog").get_by_label("Name").fill("bad name")
                page.get_by_role("dialog").get_by_role("button", name="Create").click()
                expect(page.locator("#create-name-error")).not_to_be_empty()
                problems[f"new flag {suffix}"] = page.evaluate(CONTRAST_FAILURES) + page.evaluate(NAMELESS_CONTROLS)
                page.screenshot(path=SCREENSHOTS / f"new-flag-{suffix}.png")
                page.keyboard.press("Escape")
                row_action(page, "search-v2", "History")
                expect(page.get_by_role("dialog").get_by_role("listitem")).to_have_count(3)
                problems[f"history {suffix}"] = page.evaluate(CONTRAST_FAILURES) + page.evaluate(NAMELESS_CONTROLS)
                page.screenshot(path=SCREENSHOTS / f"history-{suffix}.png")
                page.keyboard.press("Escape")
                row_action(page, "maintenance-banner", "Delete")
                expect(page.get_by_role("dialog", name="Delete maintenance-banner?")).to_be_visible()
                page.screenshot(path=SCREENSHOTS / f"delete-{suffix}.png")
                page.keyboard.press("Escape")
            else:
                row_action(page, "new-checkout", "Edit")
                fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
                assert fits, "horizontal scrolling while editing at 360px"
                problems[f"edit {suffix}"] = page.evaluate(CONTRAST_FAILURES)
                page.screenshot(path=SCREENSHOTS / f"edit-{suffix}.png")
        finally:
            context.close()

    # Then: every text meets WCAG AA contrast and every control has a name, on every screen
    assert {screen: found for screen, found in problems.items() if found} == {}
    assert watch.problems == []


# -- the static export --------------------------------------------------------------------------

# The paths nginx.conf passes to the app (its one regex location, read from the file so the two stay in step), less
# the event stream: this plain proxy reads whole answers, so the page falls back to polling behind it.
_PROXIED = re.search(r"location ~ \^/\(([a-z|-]+)\)\(/\|\$\)", (PROJECT_ROOT / "nginx.conf").read_text())
API_PATHS = (*(f"/{name}" for name in _PROXIED[1].split("|") if name != "changes"), "/openapi.json", "/healthz")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


class StaticSiteAndProxy(http.server.SimpleHTTPRequestHandler):
    """A plain static host (like nginx) for the exported files, passing the API's paths to the app."""

    upstream: tuple[str, int] = ("127.0.0.1", 0)

    def log_message(self, format: str, *args) -> None:
        pass

    def _is_api(self) -> bool:
        path = urlsplit(self.path).path
        return any(path == prefix or path.startswith(prefix + "/") for prefix in API_PATHS)

    def do_GET(self) -> None:
        if self._is_api():
            self._proxy()
        else:
            super().do_GET()

    def do_POST(self) -> None:
        self._proxy()

    do_PUT = do_DELETE = do_POST

    def _proxy(self) -> None:
        if not self._is_api():
            self.send_error(405)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {key: value for key, value in self.headers.items() if key.lower() not in HOP_BY_HOP}
        connection = http.client.HTTPConnection(*self.upstream, timeout=10)
        connection.request(self.command, self.path, body=body or None, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        connection.close()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def static_site(app, live_server: str, tmp_path: Path) -> Iterator[str]:
    """The output of `flask ui export`, served by a plain static server that proxies the API to the app."""
    result = app.test_cli_runner().invoke(args=["ui", "export", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    upstream = urlsplit(live_server)
    handler = type("Handler", (StaticSiteAndProxy,), {"upstream": (upstream.hostname, upstream.port)})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(tmp_path / "site"))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_static_export__behind_static_server_with_api_proxied__works(page, static_site, api):
    # Given
    api.create("dark-mode", "Offer the dark theme")

    # When: the same tasks as on the served page
    sign_in(page, static_site, path="/?env=production")
    page.get_by_role("switch", name="Toggle dark-mode in Production").click()
    page.get_by_role("button", name="New flag").click()
    page.get_by_role("dialog").get_by_label("Name").fill("from-static-page")
    page.get_by_role("button", name="Create").click()

    # Then
    expect(page.get_by_role("switch", name="Toggle dark-mode in Production")).to_have_attribute("aria-checked", "true")
    expect(row(page, "from-static-page")).to_be_visible()
    assert api.state("dark-mode")["production"] is True
    assert api.flag("from-static-page").status_code == 200
    assert page.url.startswith(static_site)

    # When: the admin screens and a flag's page, each reading its own part of the API through the static host
    page.get_by_role("link", name="Segments").click()
    page.get_by_role("button", name="New segment").click()
    dialog = page.get_by_role("dialog", name="New segment")
    dialog.get_by_label("Name").fill("static-beta")
    dialog.get_by_label("Attribute 1").fill("plan")
    dialog.get_by_label("Values 1").fill("pro")
    dialog.get_by_role("button", name="Create segment").click()
    expect(page.get_by_role("heading", name="static-beta")).to_be_visible()
    page.get_by_role("link", name="Import and export").click()
    expect(page.get_by_role("heading", name="Import and export", level=1)).to_be_visible()
    page.goto(f"{static_site}/?page=flag&name=dark-mode&env=production")
    expect(page.locator("#flag-heading")).to_have_text("dark-mode")

    # Then: what they did reached the app
    assert api.session.get(f"{api.base}/segments/static-beta").status_code == 200
    # The static host sends no CSP header: the policy travels in the page itself.
    csp = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content")
    assert "script-src 'self'" in (csp or "")

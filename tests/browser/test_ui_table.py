"""The flags table in a real Chromium: finding, paging, switching, a shared link's view, the theme button.

Each test does the task in the page as a person would, then reads the outcome back through the API.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import Api
from tests.browser.test_ui_browser import sign_in
from tests.support import seed_flags

pytestmark = pytest.mark.browser


@pytest.fixture
def config(config):
    """The tests' settings, with time for the embedded database to read 10,000 flags at once on a busy machine."""
    return replace(config, db_timeout_ms=15_000)


def test_shared_link__query_in_address__box_filled_and_only_matches_listed(page, live_server, api: Api):
    # Given: three flags, one of which matches "colour"
    api.create("colour-picker", "Pick a colour", production=True)
    api.create("new-checkout", "The new checkout")
    api.create("dark-mode", "Dark theme")
    sign_in(page, live_server)

    # When: someone opens a link that carries the environment and the search
    page.goto(f"{live_server}/?env=production&q=colour")

    # Then: the box holds the search and only the match is listed (the list once ignored the box's value)
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("colour")
    expect(page.locator("#flag-rows > tr")).to_have_count(1)
    expect(page.get_by_role("switch", name="Toggle colour-picker in Production")).to_have_attribute(
        "aria-checked", "true"
    )
    expect(page.get_by_text("1 of 3 flags match")).to_be_visible()
    # And the API agrees on what "colour" finds
    response = api.session.get(f"{live_server}/flags", params={"environment": "production", "q": "colour"})
    assert response.status_code == 200
    assert [flag["name"] for flag in response.json()] == ["colour-picker"]
    assert response.headers["X-Total-Count"] == "1"


def test_theme_button__pressed__says_what_it_will_do_next(page, live_server, api: Api):
    # Given
    page.goto(live_server)
    button = page.locator("#theme-toggle")
    expect(button).to_have_text("Switch to dark theme")

    # When: the person switches with the keyboard
    button.focus()
    page.keyboard.press("Enter")

    # Then: the page is dark and the button offers the way back
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(button).to_have_text("Switch to light theme")
    assert page.evaluate("localStorage.getItem('ff.theme')") == "dark"
    # And the service still answers the page that carries the new label
    response = api.session.get(live_server, headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "Switch to dark theme" in response.text


def test_find__among_10000_by_tag_and_state__only_matches_listed_a_page_at_a_time(app, page, live_server, api: Api):
    # Given: 10,000 flags, stored in bulk (without their created events, which would take minutes to store here)
    seed_flags(app, 10_000, audited=False)
    sign_in(page, live_server)
    expect(page.get_by_text("10,000 flags, showing 1 to 50")).to_be_visible(timeout=30_000)
    expect(page.locator("#flag-rows > tr")).to_have_count(50)

    # When: the person picks a tag and a state, in staging
    page.get_by_label("Tag", exact=True).select_option("billing")
    page.get_by_label("State", exact=True).select_option("on")

    # Then: the API's count of matches, and only matching rows
    response = api.session.get(
        f"{live_server}/flags", params={"environment": "staging", "tag": "billing", "state": "on", "limit": "50"}
    )
    assert response.status_code == 200
    total = int(response.headers["X-Total-Count"])
    assert total == 1_000  # billing (every 5th, from flag-00002) and on in staging (every 2nd): every 10th
    expect(page.get_by_text(f"{total:,} of 10,000 flags match, showing 1 to 50")).to_be_visible()
    expect(page.locator("#flag-rows > tr")).to_have_count(50)
    first = page.locator("#flag-rows > tr").first
    expect(first.get_by_role("link")).to_have_text("flag-00002")
    expect(first.get_by_role("switch", name="Toggle flag-00002 in Staging")).to_have_attribute("aria-checked", "true")
    assert "tag=billing" in page.url and "state=on" in page.url
    assert response.json()[0]["name"] == "flag-00002"

    # When: one flag is looked for by name among the matches
    page.get_by_role("searchbox").fill("flag-09992")

    # Then: that one alone, as the API finds it
    expect(page.get_by_text("1 of 10,000 flags match")).to_be_visible()
    expect(page.locator("#flag-rows > tr")).to_have_count(1)
    expect(page.locator("#flag-rows > tr").first.get_by_role("link")).to_have_text("flag-09992")
    found = api.session.get(
        f"{live_server}/flags", params={"environment": "staging", "tag": "billing", "state": "on", "q": "flag-09992"}
    )
    assert [flag["name"] for flag in found.json()] == ["flag-09992"]


def test_paging__next_and_previous__count_from_api_and_next_page_shown(app, page, live_server, api: Api):
    # Given
    seed_flags(app, 120)
    sign_in(page, live_server)
    response = api.session.get(f"{live_server}/flags", params={"environment": "staging", "limit": "50"})
    assert response.headers["X-Total-Count"] == "120"
    assert 'rel="next"' in response.headers["Link"]

    # When
    expect(page.get_by_text("120 flags, showing 1 to 50")).to_be_visible()
    expect(page.get_by_role("button", name="Previous page")).to_be_hidden()
    page.get_by_role("button", name="Next page").click()

    # Then: the next page, as the API's Link header names it
    expect(page.get_by_text("120 flags, showing 51 to 100")).to_be_visible()
    next_page = requests.get(response.links["next"]["url"], headers=api.session.headers, timeout=10).json()
    expect(page.locator("#flag-rows > tr").first.get_by_role("link")).to_have_text(next_page[0]["name"])

    # When: the last page, then back
    page.get_by_role("button", name="Next page").click()
    expect(page.get_by_text("120 flags, showing 101 to 120")).to_be_visible()
    expect(page.get_by_role("button", name="Next page")).to_be_hidden()
    page.get_by_role("button", name="Previous page").click()

    # Then
    expect(page.get_by_text("120 flags, showing 51 to 100")).to_be_visible()


def test_toggle__switch_in_a_column__flag_changed_in_that_environment(page, live_server, api: Api):
    # Given
    api.create("new-checkout")
    sign_in(page, live_server)
    switch = page.get_by_role("switch", name="Toggle new-checkout in Production")

    # When: switched on from the keyboard
    switch.focus()
    page.keyboard.press("Space")

    # Then: on in production only, as the API reads it back, and the row says who changed it
    expect(switch).not_to_have_attribute("aria-busy", "true")
    expect(switch).to_have_attribute("aria-checked", "true")
    assert api.state("new-checkout") == {"development": False, "staging": False, "production": True}
    expect(page.get_by_role("switch", name="Toggle new-checkout in Staging")).to_have_attribute("aria-checked", "false")
    expect(page.get_by_role("row").filter(has_text="new-checkout")).to_contain_text("Changed by bootstrap")


def test_client_token__one_read_only_column__switch_does_nothing(page, live_server, api: Api):
    # Given
    api.create("dark-mode", production=True)
    token = api.client_token("production")

    # When
    sign_in(page, live_server, token)

    # Then: one column, its switch inert, no editing controls
    expect(page.get_by_role("columnheader", name="Production")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Staging")).to_be_hidden()
    expect(page.get_by_role("columnheader", name="Development")).to_be_hidden()
    switches = page.get_by_role("switch")
    expect(switches).to_have_count(1)
    expect(switches.first).to_be_disabled()
    expect(page.get_by_role("button", name="Edit dark-mode")).to_have_count(0)
    switches.first.click(force=True)
    assert api.state("dark-mode")["production"] is True
    # And the API gives this token its own environment only
    client = Api(live_server, token)
    assert client.session.get(f"{live_server}/flags", params={"environment": "staging"}).status_code == 403

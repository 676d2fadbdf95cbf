"""The flags table in a real Chromium: a shared link's view, the theme button's label.

Each test does the task in the page as a person would, then reads the outcome back through the API.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_ui_browser import Api, sign_in

pytestmark = pytest.mark.browser


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
    expect(page.get_by_role("switch")).to_have_count(1)
    expect(page.get_by_role("switch", name="Toggle colour-picker")).to_have_attribute("aria-checked", "true")
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

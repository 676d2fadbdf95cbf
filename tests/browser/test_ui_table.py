"""The flags table in a real Chromium: finding, paging, switching, a shared link's view, the theme button.

Each test does the task in the page as a person would, then reads the outcome back through the API.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import Api
from tests.browser.test_ui_browser import sign_in
from tests.support import ADMIN_TOKEN, seed_flags

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
    expect(first.locator("a.flag-name")).to_have_text("flag-00002")
    expect(first.get_by_role("switch", name="Toggle flag-00002 in Staging")).to_have_attribute("aria-checked", "true")
    assert "tag=billing" in page.url and "state=on" in page.url
    assert response.json()[0]["name"] == "flag-00002"

    # When: one flag is looked for by name among the matches
    page.get_by_role("searchbox").fill("flag-09992")

    # Then: that one alone, as the API finds it
    expect(page.get_by_text("1 of 10,000 flags match")).to_be_visible()
    expect(page.locator("#flag-rows > tr")).to_have_count(1)
    expect(page.locator("#flag-rows > tr").first.locator("a.flag-name")).to_have_text("flag-09992")
    found = api.session.get(
        f"{live_server}/flags", params={"environment": "staging", "tag": "billing", "state": "on", "q": "flag-09992"}
    )
    assert [flag["name"] for flag in found.json()] == ["flag-09992"]


INDEX_LOADED = "() => performance.getEntriesByName('ff-index-loaded').length > 0"


def row_names(page) -> list[str]:
    return page.locator("#flag-rows > tr .flag-name").all_text_contents()


def test_search__api_slow__first_page_found_in_the_page_then_the_api_agrees(app, page, live_server, api: Api):
    # Given: 300 flags, the table on screen and the page's index of every flag read behind it
    seed_flags(app, 300)
    sign_in(page, live_server)
    page.wait_for_function(INDEX_LOADED)
    # And: the API's answers to searches held back, as on a slow link
    held = []
    page.route(re.compile(r"/flags\?.*\bq="), lambda route: held.append(route))

    # When: the person searches
    page.get_by_role("searchbox").fill("flag-0004")

    # Then: the matches are on screen before the API has answered
    expect(page.get_by_text("10 of 300 flags match")).to_be_visible()
    assert row_names(page) == [f"flag-{i:05d}" for i in range(40, 50)]
    # The API's request leaves after the index's answer is drawn; on a busy machine, a moment after
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the API was asked too"
    # And: the API, once it answers, finds the same flags, so the table stands
    for route in held:
        route.continue_()
    page.unroute(re.compile(r"/flags\?.*\bq="))
    answer = api.session.get(f"{live_server}/flags", params={"environment": "staging", "q": "flag-0004", "limit": "50"})
    assert [flag["name"] for flag in answer.json()] == row_names(page)
    assert answer.headers["X-Total-Count"] == "10"

    # When: a search whose page of 50 reaches far below the window
    page.get_by_role("searchbox").fill("flag-002")

    # Then: every row of the page follows, as the API pages it
    answer = api.session.get(f"{live_server}/flags", params={"environment": "staging", "q": "flag-002", "limit": "50"})
    expect(page.get_by_text("100 of 300 flags match, showing 1 to 50")).to_be_visible()
    expected = [flag["name"] for flag in answer.json()]
    assert len(expected) == 50
    expect(page.locator("#flag-rows > tr .flag-name")).to_have_text(expected)


# Filters and orders the page's index answers itself; each is checked against the API's own answer.
INDEX_VIEWS = [
    {},
    {"q": "flag-001"},
    {"q": "NUMBER 1"},
    {"q": "no such flag"},
    {"tag": "billing"},
    {"type": "experiment"},
    {"state": "on"},
    {"state": "off", "tag": "billing"},
    {"stale": "true"},
    {"stale": "false", "q": "2"},
    {"sort": "-updated_at"},
    {"sort": "updated_at", "state": "on"},
    {"sort": "-name", "q": "flag"},
    {"sort": "created_at"},
    {"sort": "-created_at", "type": "release"},
]

# Runs in the page: the index module as the page loads it, over the flags the API lists, asked each view.
FIRST_PAGES = """async ({ token, views }) => {
  const main = document.querySelector('script[type="module"]').src;
  const { FlagIndex } = await import(new URL("flag-index.js", main).href);
  const request = async (method, path) => {
    const answer = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
    return { status: answer.status, data: await answer.json(), etag: answer.headers.get("ETag") };
  };
  const index = new FlagIndex({ request });
  await index.load("staging");
  return views.map((view) => index.firstPage("staging", view, 50));
}"""


def test_index__each_filter_and_order__first_page_as_the_api_answers_it(app, page, live_server, api: Api):
    # Given: flags of every tag and type, some changed later (their times differ), marked stale, or made later
    seed_flags(app, 120)
    for name in ("flag-00007", "flag-00003", "flag-00110"):
        api.toggle(name, "staging")
    api.update("flag-00012", stale=True)
    api.create("late-one", "Made after the rest", staging=True)
    sign_in(page, live_server)

    # When: the index answers each view
    pages = page.evaluate(FIRST_PAGES, {"token": ADMIN_TOKEN, "views": INDEX_VIEWS})

    # Then: the same flags, in the same order, field for field, and the same counts as the API
    for view, local in zip(INDEX_VIEWS, pages, strict=True):
        answer = api.session.get(f"{live_server}/flags", params={"environment": "staging", "limit": "50", **view})
        assert answer.status_code == 200, answer.text
        assert local is not None, view
        assert local["flags"] == answer.json(), view
        assert local["total"] == int(answer.headers["X-Total-Count"]), view
        assert local["all"] == 121


def test_index__text_the_api_folds_otherwise__search_left_to_the_api(page, live_server, api: Api):
    # Given: a description with "ß", which the API's case folding matches as "ss" and JavaScript's does not
    api.create("street-names", "Große Straße")
    api.create("plain", "Nothing special")
    sign_in(page, live_server)

    # When
    searched, unfiltered = page.evaluate(FIRST_PAGES, {"token": ADMIN_TOKEN, "views": [{"q": "ss"}, {}]})

    # Then: the index declines the search (the API's answer is the one shown) but still answers the rest
    assert searched is None
    assert [flag["name"] for flag in unfiltered["flags"]] == ["plain", "street-names"]
    answer = api.session.get(f"{live_server}/flags", params={"environment": "staging", "q": "ss"})
    assert [flag["name"] for flag in answer.json()] == ["street-names"]
    # And in the page, the search shows what the API found
    page.get_by_role("searchbox").fill("ss")
    expect(page.get_by_text("1 of 2 flags match")).to_be_visible()
    assert row_names(page) == ["street-names"]


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
    expect(page.locator("#flag-rows > tr").first.locator("a.flag-name")).to_have_text(next_page[0]["name"])

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
    expect(page.get_by_role("button", name="Actions for dark-mode")).to_have_count(0)
    switches.first.click(force=True)
    assert api.state("dark-mode")["production"] is True
    # And the API gives this token its own environment only
    client = Api(live_server, token)
    assert client.session.get(f"{live_server}/flags", params={"environment": "staging"}).status_code == 403


def test_table_at_1280__long_changed_by_and_tags__nothing_cut_off_and_tag_chips_filter(page, live_server, api):
    # Given: flags whose "changed by" is long, with tags, in a 1280 px window
    page.set_viewport_size({"width": 1280, "height": 800})
    for index in range(3):
        api.create(f"wide-row-{index}", production=True)
    long_name = "release automation service account for continuous delivery eu-west-1"
    token = api.session.post(f"{live_server}/tokens", json={"name": long_name, "role": "admin"}).json()["token"]
    for index in range(3):
        Api(live_server, token).update(f"wide-row-{index}", tags=["payments", "checkout-team", f"wave-{index}"])
    page.goto(live_server)
    page.get_by_label("API token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#flag-rows > tr")).to_have_count(3)

    # Then: the page does not scroll sideways, every row's Actions button is within the window, and who changed it is
    # whole in its title
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    for row in page.locator("#flag-rows > tr").all():
        box = row.get_by_role("button", name=re.compile("^Actions for ")).bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1280, box
    expect(page.locator(".flag-actor").first).to_have_attribute("title", long_name)
    # And at 1024 px too, where a shorter description line and the moment on two lines make the room
    page.set_viewport_size({"width": 1024, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    for row in page.locator("#flag-rows > tr").all():
        box = row.get_by_role("button", name=re.compile("^Actions for ")).bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1024, box
    page.set_viewport_size({"width": 1280, "height": 800})

    # When: a tag chip is followed
    page.get_by_role("row", name="wide-row-1").get_by_role("link", name="Flags tagged wave-1").click()

    # Then: only that tag's flag is listed, the tag shown as chosen
    expect(page.locator("#filter-tags-chosen li span")).to_have_text(["wave-1"])
    expect(page.locator("#flag-rows > tr")).to_have_count(1)


def test_several_tags__each_narrows_the_list_as_the_api_does_and_each_comes_off(page, live_server, api):
    # Given: flags carrying two tags, one of them, or the other
    api.create("both-tags")
    api.create("payments-only")
    api.create("backend-only")
    api.update("both-tags", tags=["payments", "backend"])
    api.update("payments-only", tags=["payments"])
    api.update("backend-only", tags=["backend"])
    sign_in(page, live_server)
    expect(page.locator("#flag-rows > tr")).to_have_count(3)

    # When: two tags are chosen, one after the other
    page.get_by_label("Tag", exact=True).select_option("payments")
    expect(page.locator("#flag-rows > tr")).to_have_count(2)
    page.get_by_label("Tag", exact=True).select_option("backend")

    # Then: only the flag carrying both is listed, as the API answers the same two tags, and the address holds both
    expect(page.locator("#flag-rows > tr")).to_have_count(1)
    expect(page.locator("#flag-rows a.flag-name")).to_have_text(["both-tags"])
    response = api.session.get(f"{live_server}/flags", params=[("tag", "payments"), ("tag", "backend")])
    assert [flag["name"] for flag in response.json()] == ["both-tags"]
    assert "tag=payments&tag=backend" in page.url
    expect(page.locator("#filter-tags-chosen li span")).to_have_text(["payments", "backend"])
    expect(page.get_by_text("1 of 3 flags match")).to_be_visible()

    # When: the page is opened again from its address
    page.goto(page.url)

    # Then: both tags are still chosen
    expect(page.locator("#filter-tags-chosen li")).to_have_count(2)
    expect(page.locator("#flag-rows > tr")).to_have_count(1)

    # When: one tag is taken off
    page.get_by_role("button", name="Remove tag payments").click()

    # Then: the flags carrying the other are listed, and going back restores both
    expect(page.locator("#flag-rows a.flag-name")).to_have_text(["backend-only", "both-tags"])
    assert "tag=payments" not in page.url
    page.go_back()
    expect(page.locator("#flag-rows > tr")).to_have_count(1)


def test_table_at_360__rows_are_cards__name_description_and_every_switch_in_view(page, live_server, api):
    # Given: a phone-sized window and two flags
    page.set_viewport_size({"width": 360, "height": 740})
    api.create("phone-checkout", "The checkout on a phone", production=True)
    api.create("phone-banner", "A banner")
    page.goto(live_server)
    page.get_by_label("API token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#flag-rows > tr")).to_have_count(2)

    # Then: nothing scrolls sideways, and each card shows its name, description and every switch within the window
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    card = page.get_by_role("row").filter(has=page.get_by_role("link", name="phone-checkout", exact=True))
    expect(card).to_contain_text("The checkout on a phone")
    for environment in ("Development", "Staging", "Production"):
        switch = card.get_by_role("switch", name=f"Toggle phone-checkout in {environment}")
        box = switch.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, (environment, box)
    expect(card.locator("td.flag-tags")).to_be_hidden()

    # When: a switch is used on the card
    card.get_by_role("switch", name="Toggle phone-checkout in Staging").click()

    # Then: the API has it
    staging = card.get_by_role("switch", name="Toggle phone-checkout in Staging")
    expect(staging).to_have_attribute("aria-checked", "true")
    expect(staging).not_to_have_attribute("aria-busy", "true")
    assert api.state("phone-checkout")["staging"] is True

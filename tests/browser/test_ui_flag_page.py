"""A flag's own page (?page=flag) in Chromium: each task done in the page, its outcome read back through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from playwright.sync_api import Page, expect

from feature_flags.usage import usage_recorder
from tests.browser.conftest import Api
from tests.browser.test_ui_browser import CONTRAST_FAILURES, NAMELESS_CONTROLS, SCREENSHOTS, STREAMED_WITHIN_MS, tab_to
from tests.support import ADMIN_TOKEN

pytestmark = pytest.mark.browser


def open_flag(page: Page, base: str, name: str, env: str = "production", token: str = ADMIN_TOKEN) -> None:
    """Open a flag's page by its address and sign in through the form, as a person following a link would."""
    page.goto(f"{base}/?page=flag&name={name}&env={env}")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect(page.get_by_role("tab", name=env.capitalize())).to_have_attribute("aria-selected", "true")


def open_flag_following_changes(page: Page, base: str, name: str) -> None:
    """Open a flag's page and wait until its event stream is open, so that a change made next is heard."""
    with page.expect_response(lambda response: response.request.resource_type == "eventsource"):
        open_flag(page, base, name)


def targeting(api: Api, name: str, env: str) -> dict:
    response = api.flag(name)
    assert response.status_code == 200, response.text
    return response.json()["targeting"].get(env)


def test_rollout__25_percent_and_pro_plan__saved_in_production(page, live_server, api):
    # Given
    api.create("new-checkout", production=True)
    open_flag(page, live_server, "new-checkout")

    # When: a rule for plan "pro" serving on, and everyone else a 25 % split
    page.get_by_role("button", name="Add rule").click()
    page.locator("#fp-targeting-production-rules-0-when-0-attribute").fill("plan")
    page.locator("#fp-targeting-production-rules-0-when-0-values").fill("pro")
    page.locator("#fp-targeting-production-rules-0-serve").select_option("on")
    default = page.locator("#flag-default-serve")
    default.get_by_label("Default serve: what").select_option("split")
    default.get_by_label("on %").fill("25")
    expect(default.locator("output")).to_have_text("Total: 25 % (must be 100)")
    default.get_by_label("off %").fill("75")
    expect(default.locator("output")).to_have_text("Total: 100 %")
    page.get_by_role("button", name="Save targeting").click()

    # Then
    expect(page.get_by_role("status").filter(has_text="Targeting in Production saved.")).to_be_visible()
    assert targeting(api, "new-checkout", "production") == {
        "rules": [{"when": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}],
        "serve": {"on": 25, "off": 75},
    }


def test_variants__strings_served_to_a_segment__saved(page, live_server, api):
    # Given
    api.create("button-color", production=True)
    response = api.session.post(
        f"{live_server}/segments",
        json={"name": "beta-users", "conditions": [{"attribute": "beta", "op": "in", "values": ["yes"]}]},
    )
    assert response.status_code == 201, response.text
    open_flag(page, live_server, "button-color")

    # When: string variants, saved
    variants = page.locator("#flag-variants")
    variants.get_by_label("Type").select_option("string")
    page.locator("#fp-variants-0-name").fill("blue")
    page.locator("#fp-variants-on").fill("#0000ff")
    page.locator("#fp-variants-1-name").fill("green")
    page.locator("#fp-variants-off").fill("#00ff00")
    expect(variants.get_by_label("Served while off")).to_have_value("green")
    page.get_by_role("button", name="Save variants").click()
    expect(page.get_by_role("status").filter(has_text="Variants saved.")).to_be_visible()

    # When: a rule for the segment serving green
    page.get_by_role("button", name="Add rule").click()
    page.get_by_role("button", name="Remove condition 1 of rule 1").click()
    page.get_by_role("button", name="Add segment").click()
    page.locator("#fp-targeting-production-rules-0-when-0-segment").select_option("beta-users")
    page.locator("#fp-targeting-production-rules-0-serve").select_option("green")
    page.get_by_role("button", name="Save targeting").click()

    # Then
    expect(page.get_by_role("status").filter(has_text="Targeting in Production saved.")).to_be_visible()
    flag = api.flag("button-color").json()
    assert flag["variants"] == {"blue": "#0000ff", "green": "#00ff00"}
    assert flag["off_variant"] == "green"
    assert flag["targeting"]["production"] == {
        "rules": [{"when": [{"segment": "beta-users"}], "serve": "green"}],
        "serve": "blue",
    }
    evaluated = api.session.post(
        f"{live_server}/ofrep/v1/evaluate/flags/button-color?environment=production",
        json={"context": {"targetingKey": "u1", "beta": "yes"}},
    )
    assert evaluated.json()["value"] == "#00ff00"


def test_prerequisite__added_by_keyboard__saved(page, live_server, api):
    # Given
    api.create("payments-v2", production=True)
    api.create("checkout-banner")
    api.create("new-checkout", production=True)
    open_flag(page, live_server, "new-checkout")

    # When: the arrow keys move between the environment tabs, and the address follows
    page.get_by_role("tab", name="Production").focus()
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("tab", name="Staging")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("switch", name="Staging: off")).to_be_visible()
    assert "env=staging" in page.url
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Production")).to_be_focused()
    assert "env=production" in page.url

    # When: a prerequisite added with the keyboard alone
    page.get_by_role("button", name="Add prerequisite").focus()
    page.keyboard.press("Enter")
    required = page.locator("#fp-targeting-production-prerequisites-0-flag")
    expect(required).to_be_focused()
    page.keyboard.type("pay")
    # Then: the names offered are the API's matches, asked as the person types (not a list of every flag)
    offered = page.locator(f"datalist#{required.get_attribute('list')} option")
    expect(offered).to_have_count(1)
    expect(offered).to_have_attribute("value", "payments-v2")
    page.keyboard.type("ments-v2")
    page.keyboard.press("Tab")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("on")
    page.get_by_role("button", name="Save targeting").focus()
    page.keyboard.press("Enter")

    # Then
    expect(page.get_by_role("status").filter(has_text="Targeting in Production saved.")).to_be_visible()
    assert targeting(api, "new-checkout", "production")["prerequisites"] == [
        {"flag": "payments-v2", "variants": ["on"]}
    ]


def test_schedule__switch_a_few_seconds_ahead__seen_happening_on_the_page(page, live_server, api):
    # Given
    api.create("night-sale", production=False)
    open_flag(page, live_server, "night-sale")
    switch = page.get_by_role("switch", name="Production: off")
    expect(switch).to_have_attribute("aria-checked", "false")

    # When
    at = (datetime.now(UTC) + timedelta(seconds=4)).astimezone()
    page.get_by_label("When").fill(at.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_label("Change", exact=True).select_option("true")
    page.get_by_role("button", name="Schedule").click()

    # Then: pending, then applied, and the switch follows without a reload
    schedules = page.get_by_role("list", name="Scheduled changes")
    expect(schedules.get_by_role("listitem")).to_contain_text("pending")
    expect(schedules.get_by_role("listitem")).to_contain_text("applied", timeout=15_000)
    expect(page.locator("#flag-env-switch")).to_have_attribute("aria-checked", "true")
    assert api.state("night-sale")["production"] is True
    listed = api.session.get(f"{live_server}/flags/night-sale/schedules").json()
    assert [schedule["state"] for schedule in listed] == ["applied"]


def test_copy__staging_to_production__state_and_targeting_copied(page, live_server, api):
    # Given
    flag = api.create("search-v2", staging=True, production=False)
    api.update(flag["_id"], targeting={"staging": {"rules": [], "serve": {"on": 50, "off": 50}}})
    open_flag(page, live_server, "search-v2", env="staging")

    # When
    page.locator("#flag-copy").get_by_label("Copy to").select_option("production")
    page.get_by_role("button", name="Copy", exact=True).click()

    # Then
    expect(page.get_by_role("status").filter(has_text="Copied Staging to Production.")).to_be_visible()
    assert api.state("search-v2")["production"] is True
    assert targeting(api, "search-v2", "production") == {"rules": [], "serve": {"on": 50, "off": 50}}


def test_try_it__context_matching_a_rule__shows_the_rule(page, live_server, api):
    # Given
    flag = api.create("new-checkout", production=True)
    rules = [
        {"when": [{"attribute": "country", "op": "in", "values": ["fr"]}], "serve": "off"},
        {"when": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"},
    ]
    api.update(flag["_id"], targeting={"production": {"rules": rules, "serve": "off"}})
    open_flag(page, live_server, "new-checkout")

    # When
    page.locator("#flag-try").get_by_label("targetingKey").fill("user-1")
    page.locator("#flag-try").get_by_label("Other attributes (JSON object)").fill('{"plan": "pro"}')
    page.get_by_role("button", name="Evaluate").click()

    # Then
    result = page.locator(".try-result")
    expect(result).to_contain_text("Rule 2")
    expect(result).to_contain_text("TARGETING_MATCH")
    expect(result).to_contain_text("true")
    answer = api.session.post(
        f"{live_server}/ofrep/v1/evaluate/flags/new-checkout?environment=production",
        json={"context": {"targetingKey": "user-1", "plan": "pro"}},
    ).json()
    assert answer["metadata"] == {"rule": 1} and answer["variant"] == "on"


def test_rule__refused_by_api__error_next_to_its_field_and_nothing_saved(page, live_server, api):
    # Given
    api.create("new-checkout", production=True)
    before = api.flag("new-checkout").json()
    open_flag(page, live_server, "new-checkout")

    # When: a number operator compared with a word
    page.get_by_role("button", name="Add rule").click()
    page.locator("#fp-targeting-production-rules-0-when-0-attribute").fill("age")
    page.locator("#fp-targeting-production-rules-0-when-0-op").select_option("gt")
    page.locator("#fp-targeting-production-rules-0-when-0-values").fill("old")
    page.get_by_role("button", name="Save targeting").click()

    # Then
    values = page.locator("#fp-targeting-production-rules-0-when-0-values")
    expect(values).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#fp-targeting-production-rules-0-when-0-values-error")).to_contain_text("number")
    expect(values).to_be_focused()
    after = api.flag("new-checkout").json()
    assert after["version"] == before["version"] and after["targeting"] == before["targeting"]


def test_details__changed_elsewhere_meanwhile__412_keeps_the_edit(page, live_server, api):
    # Given
    flag = api.create("new-checkout", "Old words", production=True)
    open_flag(page, live_server, "new-checkout")
    details = page.get_by_role("form", name="Details")
    details.get_by_label("Description").fill("My new words")
    details.get_by_label("Tags (comma-separated)").fill("payments, web")
    api.update(flag["_id"], description="Someone else's words")

    # When
    page.get_by_role("button", name="Save details").click()

    # Then: told, the edit still there; keeping it and saving again wins
    expect(page.get_by_role("alert").filter(has_text="changed elsewhere")).to_be_visible()
    expect(details.get_by_label("Description")).to_have_value("My new words")
    assert api.flag("new-checkout").json()["description"] == "Someone else's words"
    page.get_by_role("button", name="Keep my edit").click()
    expect(page.get_by_role("alert").filter(has_text="changed elsewhere")).to_be_hidden()
    page.get_by_role("button", name="Save details").click()
    expect(page.get_by_role("status").filter(has_text="Details saved.")).to_be_visible()
    saved = api.flag("new-checkout").json()
    assert saved["description"] == "My new words" and saved["tags"] == ["payments", "web"]


def test_lifecycle__archive_revive_then_delete__each_read_back(page, live_server, api):
    # Given
    api.create("old-banner", production=True)
    open_flag(page, live_server, "old-banner")

    # When / Then: switched off in production
    page.get_by_role("switch", name="Production: on").click()
    expect(page.get_by_role("switch", name="Production: off")).to_have_attribute("aria-checked", "false")
    assert api.state("old-banner")["production"] is False

    # When / Then: archived
    page.get_by_role("button", name="Archive").click()
    expect(page.get_by_role("button", name="Revive")).to_be_visible()
    assert api.flag("old-banner").json()["archived_at"] is not None

    # When / Then: revived
    page.get_by_role("button", name="Revive").click()
    expect(page.get_by_role("button", name="Archive")).to_be_visible()
    assert api.flag("old-banner").json()["archived_at"] is None

    # When / Then: deleted after confirming in the dialog, and back at the flags table
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog", name="Delete this flag?").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Flags", level=1)).to_be_visible()
    assert api.flag("old-banner").status_code == 404


def test_client_token__flag_page__read_only_with_usage_bars(page, live_server, api):
    # Given: a flag evaluated a few times in production
    api.create("dark-mode", production=True)
    for key in ("a", "b", "c"):
        answer = api.session.post(
            f"{live_server}/ofrep/v1/evaluate/flags/dark-mode?environment=production",
            json={"context": {"targetingKey": key}},
        )
        assert answer.status_code == 200, answer.text
    token = api.client_token("production")

    # When
    open_flag(page, live_server, "dark-mode", token=token)

    # Then: nothing to edit, the usage shown (once flushed) as bars and a table
    for name in ("Save details", "Save targeting", "Save variants", "Archive", "Delete", "Add rule"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("switch", name="Production: on")).to_be_disabled()
    expect(page.get_by_role("tab", name="Staging")).to_be_hidden()
    table = page.get_by_role("table", name="Evaluations in the last 24 hours, by variant")
    for _ in range(10):
        if table.count():
            break
        page.wait_for_timeout(1000)
        page.get_by_role("tab", name="Production").click()
    expect(table.get_by_role("row", name="on 3")).to_be_visible()
    assert page.locator(".usage-bar").evaluate("bar => getComputedStyle(bar).width") != "0px"
    usage = api.session.get(f"{live_server}/flags/dark-mode/usage").json()
    assert usage["environments"]["production"]["last_24_hours"] == {"on": 3}


def test_in_process__flag_sdks_cannot_express_said_and_reporting_applications_listed(page, live_server, api):
    # Given: a split serving false to the first buckets (Unleash's rollouts enable the first ones), and an
    # application that reported evaluating another flag in process
    backwards = {"name": "backwards", "environments": {"production": True},
                 "targeting": {"production": {"serve": {"off": 70, "on": 30}}}}  # fmt: skip
    assert api.session.post(f"{live_server}/flags", json=backwards).status_code == 201
    api.create("dark-mode", production=True)
    server = api.session.post(f"{live_server}/tokens", json={"name": "backend", "role": "server",
                                                              "environment": "production"}).json()["token"]  # fmt: skip
    bucket = {"start": "2026-12-06T10:00:00Z", "stop": "2026-12-06T10:01:00Z",
              "toggles": {"dark-mode": {"yes": 4, "no": 0, "variants": {}}}}  # fmt: skip
    reported = requests.post(f"{live_server}/api/client/metrics", headers={"Authorization": server},
                             json={"appName": "checkout", "instanceId": "pod-1", "bucket": bucket})  # fmt: skip
    assert reported.status_code == 202

    # When / Then: the first flag's page says the SDKs are not sent it in production, and why
    open_flag(page, live_server, "backwards")
    note = page.locator("#flag-local-evaluation")
    expect(note).to_contain_text("Not sent to in-process SDKs")
    expect(note).to_contain_text("serves false to the first buckets")
    page.get_by_role("tab", name="Staging").click()
    expect(note).to_be_hidden()

    # When / Then: the other flag's page says no such thing, and names the application once its counts are in
    page.goto(f"{live_server}/?page=flag&name=dark-mode&env=production")
    expect(page.get_by_role("heading", name="dark-mode", level=1)).to_be_visible()
    expect(note).to_be_hidden()
    applications = page.get_by_role("heading", name="Applications evaluating it in process")
    for _ in range(10):
        if applications.count():
            break
        page.wait_for_timeout(1000)
        page.get_by_role("tab", name="Production").click()
    expect(page.locator("#flag-usage")).to_contain_text("checkout")
    usage = api.session.get(f"{live_server}/flags/dark-mode/usage").json()["environments"]["production"]
    assert [application["name"] for application in usage["applications"]] == ["checkout"]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_flag_page__both_themes__readable_named_and_fits_360px(browser, live_server, api, watch, theme):
    # Given: a flag with a rule, a split and a prerequisite
    api.create("payments-v2", production=True)
    flag = api.create("new-checkout", "The redesigned checkout", production=True)
    rules = [{"when": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}]
    prerequisites = [{"flag": "payments-v2", "variants": ["on"]}]
    api.update(
        flag["_id"],
        targeting={"production": {"rules": rules, "serve": {"on": 25, "off": 75}, "prerequisites": prerequisites}},
    )
    problems: dict[str, list[str]] = {}
    for width, height in [(1100, 900), (360, 740)]:
        context = browser.new_context(color_scheme=theme, viewport={"width": width, "height": height})
        context.on("page", watch.attach)
        page = context.new_page()
        try:
            # When
            open_flag(page, live_server, "new-checkout")
            expect(page.locator("#flag-default-serve output")).to_have_text("Total: 100 %")

            # Then
            problems[f"{width}px"] = page.evaluate(CONTRAST_FAILURES) + page.evaluate(NAMELESS_CONTROLS)
            fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert fits, f"horizontal scrolling at {width}px"
            page.screenshot(path=SCREENSHOTS / f"flag-page-{theme}-{width}px.png", full_page=True)
        finally:
            context.close()
    assert {screen: found for screen, found in problems.items() if found} == {}
    assert watch.problems == []


# -- changes made elsewhere, heard over the event stream (polling set to minutes) --------------


def test_live__changed_through_api__page_shows_the_latest_without_reload(no_polling, page, live_server, api):
    # Given: the page open, the description focused but not edited
    flag = api.create("new-checkout", "Old words", production=False)
    open_flag_following_changes(page, live_server, "new-checkout")
    page.evaluate("window.__sameDocument = true")
    description = page.get_by_role("form", name="Details").get_by_label("Description")
    description.focus()

    # When: a change that does not touch this flag
    with page.expect_response(lambda r: r.url.endswith(f"/flags/{flag['_id']}") and r.status == 304):
        api.create("unrelated")

    # When: it is switched on in production and described anew elsewhere
    api.toggle(flag["_id"], "production")
    api.update(flag["_id"], description="Words from a script")

    # Then: shown at once, in the same tab, focus where it was, no conflict
    switch = page.locator("#flag-env-switch")
    expect(switch).to_have_attribute("aria-checked", "true", timeout=STREAMED_WITHIN_MS)
    expect(description).to_have_value("Words from a script", timeout=STREAMED_WITHIN_MS)
    expect(page.get_by_role("status").filter(has_text="Changed elsewhere; showing the latest.")).to_be_visible()
    expect(page.locator("#flag-conflict")).to_be_hidden()
    expect(page.get_by_role("tab", name="Production")).to_have_attribute("aria-selected", "true")
    expect(description).to_be_focused()
    assert page.evaluate("window.__sameDocument") is True

    # Then: the page holds the latest version, so an edit saved now is not refused
    description.fill("Words from the page")
    page.get_by_role("button", name="Save details").click()
    expect(page.get_by_role("status").filter(has_text="Details saved.")).to_be_visible()
    saved = api.flag("new-checkout").json()
    assert saved["description"] == "Words from the page" and saved["environments"]["production"] is True


def _change_elsewhere(api, flag: dict) -> None:
    """Another person's change: a new description, and production switched off."""
    api.update(flag["_id"], description="Someone else's words")
    api.toggle(flag["_id"], "production")


def _conflict_notice(page: Page):
    """The notice that the flag changed elsewhere, once it is shown."""
    notice = page.get_by_role("alert").filter(has_text="changed elsewhere")
    expect(notice).to_be_visible(timeout=STREAMED_WITHIN_MS)
    return notice


def test_live__changed_while_typing__told_edit_kept_reload_shows_theirs(no_polling, page, live_server, api):
    # Given: a description typed and not saved
    flag = api.create("new-checkout", "Old words", production=True)
    open_flag_following_changes(page, live_server, "new-checkout")
    description = page.get_by_role("form", name="Details").get_by_label("Description")
    description.fill("My half-typed words")

    # When
    _change_elsewhere(api, flag)

    # Then: told, without taking the focus; the edit and the rest of the page untouched
    notice = _conflict_notice(page)
    expect(description).to_have_value("My half-typed words")
    expect(description).to_be_focused()
    expect(page.locator("#flag-env-switch")).to_have_attribute("aria-checked", "true")

    # When / Then: reloading shows the flag as the API has it
    page.get_by_role("button", name="Reload the flag").click()
    expect(description).to_have_value("Someone else's words")
    expect(page.locator("#flag-env-switch")).to_have_attribute("aria-checked", "false")
    expect(notice).to_be_hidden()
    flag_now = api.flag("new-checkout").json()
    assert flag_now["description"] == "Someone else's words" and flag_now["environments"]["production"] is False


def test_live__changed_while_adding_a_rule__keep_then_save_puts_the_rule_over_it(no_polling, page, live_server, api):
    # Given: a rule added and filled in, not saved
    flag = api.create("new-checkout", "Old words", production=True)
    open_flag_following_changes(page, live_server, "new-checkout")
    page.get_by_role("button", name="Add rule").click()
    page.locator("#fp-targeting-production-rules-0-when-0-attribute").fill("plan")
    values = page.locator("#fp-targeting-production-rules-0-when-0-values")
    values.fill("pro")

    # When
    _change_elsewhere(api, flag)

    # Then: told; saving before choosing is refused by If-Match, and nothing is saved
    notice = _conflict_notice(page)
    expect(values).to_have_value("pro")
    page.get_by_role("button", name="Save targeting").click()
    expect(page.get_by_role("button", name="Keep my edit")).to_be_focused()
    assert targeting(api, "new-checkout", "production") in (None, {"rules": [], "serve": "on"})

    # When: the edit kept, the untouched parts show the newer flag, and saving again applies it over the change
    page.get_by_role("button", name="Keep my edit").click()
    expect(notice).to_be_hidden()
    expect(page.get_by_role("form", name="Details").get_by_label("Description")).to_have_value("Someone else's words")
    expect(page.locator("#flag-env-switch")).to_have_attribute("aria-checked", "false")
    expect(values).to_have_value("pro")
    expect(page.get_by_role("button", name="Save targeting")).to_be_focused()
    page.keyboard.press("Enter")

    # Then: the rule saved, the other change kept
    expect(page.get_by_role("status").filter(has_text="Targeting in Production saved.")).to_be_visible()
    saved = api.flag("new-checkout").json()
    assert saved["targeting"]["production"]["rules"] == [
        {"when": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}
    ]
    assert saved["description"] == "Someone else's words" and saved["environments"]["production"] is False


def test_live__deleted_elsewhere__page_says_so_and_nothing_can_be_saved(no_polling, page, live_server, api):
    # Given: an edit under way
    flag = api.create("old-banner", "Old words", production=True)
    open_flag_following_changes(page, live_server, "old-banner")
    description = page.get_by_role("form", name="Details").get_by_label("Description")
    description.fill("Unsaved words")

    # When
    assert api.session.delete(f"{live_server}/flags/{flag['_id']}").status_code == 204

    # Then: said, every control off, the typed text still readable
    expect(page.get_by_role("status").filter(has_text="This flag was deleted elsewhere")).to_be_visible(
        timeout=STREAMED_WITHIN_MS
    )
    for name in ("Save details", "Save targeting", "Save variants", "Archive", "Delete", "Add rule"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_disabled()
    expect(page.locator("#flag-env-switch")).to_be_disabled()
    expect(description).to_be_disabled()
    expect(description).to_have_value("Unsaved words")
    expect(page.locator("#flag-conflict")).to_be_hidden()
    assert api.flag("old-banner").status_code == 404

    # When / Then: the link goes back to the flags
    page.get_by_role("link", name="Back to the flags").click()
    expect(page.get_by_role("heading", name="Flags", level=1)).to_be_visible()


def test_overview__each_environment_in_words__tags_link_and_the_stale_mark_is_set_from_the_page(page, live_server, api):
    # Given: a tagged flag on in production with a rule and a split by userId, off in staging with variant "off"
    api.create("checkout-flow", production=True)
    rule = {"when": [{"attribute": "country", "op": "in", "values": ["DE", "FR"]}], "serve": "on"}
    api.update(
        "checkout-flow",
        tags=["payments", "web"],
        stickiness="userId",
        targeting={"production": {"rules": [rule], "serve": {"on": 20, "off": 80}}},
    )
    api.create("other-payments-flag")
    api.update("other-payments-flag", tags=["payments"])
    open_flag(page, live_server, "checkout-flow", env="staging")

    # Then: the overview reads each environment's answer in words, above the editors
    serving = page.get_by_role("list", name="What each environment serves")
    production = serving.locator("li[data-environment=production]")
    expect(production).to_contain_text(
        "Production · on · country is one of DE, FR → serves on; everyone else serves on 20 %, off 80 % by userId"
    )
    expect(serving.locator("li[data-environment=staging]")).to_contain_text("Staging · off · serves off to everyone")
    overview_top = page.locator("#flag-overview").bounding_box()["y"]
    assert overview_top < page.locator("#flag-variants").bounding_box()["y"]
    assert page.locator("#flag-variants").bounding_box()["y"] < page.locator("#flag-targeting").bounding_box()["y"]

    # When: production's line is followed
    production.get_by_role("button").click()

    # Then: production's editor is the one shown
    expect(page.get_by_role("tab", name="Production")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#flag-env-switch")).to_have_text("Production: on")

    # When: the flag is marked stale from the page
    page.get_by_role("button", name="Mark stale").click()

    # Then: the page says so, with its reason, and the API has the mark
    expect(page.locator("#flag-stale")).to_contain_text("Stale: marked stale by a person")
    assert api.flag("checkout-flow").json()["stale_reason"] == "marked"
    page.get_by_role("button", name="Take the stale mark off").click()
    expect(page.locator("#flag-stale")).to_contain_text("Not stale.")
    assert api.flag("checkout-flow").json()["stale"] is False

    # When: a tag chip is followed
    page.get_by_role("link", name="Flags tagged payments").click()

    # Then: the flags table lists that tag's flags
    expect(page.locator("#filter-tags-chosen li span")).to_have_text(["payments"])
    expect(page.locator("#flag-rows > tr")).to_have_count(2)


def test_archived_flag__banner_and_nothing_editable_until_revived(page, live_server, api):
    # Given: an archived flag
    api.create("old-banner", production=True)
    assert api.session.post(f"{live_server}/flags/old-banner/archive").status_code == 200
    open_flag(page, live_server, "old-banner")

    # Then: a banner says so, and no editor can be used
    expect(page.locator("#flag-archived-banner")).to_contain_text("nothing serves it and this page is read-only")
    expect(page.get_by_role("button", name="Save targeting")).to_be_hidden()
    expect(page.get_by_role("button", name="Save details")).to_be_hidden()
    expect(page.get_by_role("button", name="Save variants")).to_be_hidden()
    expect(page.locator("#flag-env-switch")).to_be_disabled()
    expect(page.locator("#flag-details").get_by_label("Name")).to_be_disabled()

    # When: it is revived from the page
    page.get_by_role("button", name="Revive").click()

    # Then: the banner goes, the editors come back, and the API has it live
    expect(page.locator("#flag-archived-banner")).to_be_hidden()
    expect(page.get_by_role("button", name="Save targeting")).to_be_visible()
    expect(page.locator("#flag-details").get_by_label("Name")).to_be_enabled()
    assert api.flag("old-banner").json()["archived_at"] is None


def test_unsaved_targeting__leaving_asks_first__staying_keeps_the_edit(page, live_server, api):
    # Given: an edit to production's targeting, not saved
    api.create("careful-edit", production=True)
    open_flag(page, live_server, "careful-edit")
    page.get_by_role("button", name="Add rule").click()
    page.locator("#fp-targeting-production-rules-0-when-0-attribute").fill("plan")

    # When: the person clicks to another environment's tab, and chooses to stay
    page.get_by_role("tab", name="Staging").click()
    dialog = page.get_by_role("dialog", name="Leave without saving?")
    expect(dialog).to_contain_text("Targeting has changes you have not saved")
    dialog.get_by_role("button", name="Stay").click()

    # Then: production is still shown with the edit
    expect(page.get_by_role("tab", name="Production")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#fp-targeting-production-rules-0-when-0-attribute")).to_have_value("plan")

    # When: the person follows a link away, and this time leaves
    page.get_by_role("navigation", name="Screens").get_by_role("link", name="Flags").click()
    dialog.get_by_role("button", name="Leave without saving").click()

    # Then: the flags table is shown, and nothing was saved
    expect(page.get_by_role("heading", name="Flags", level=1)).to_be_visible()
    assert api.flag("careful-edit").json()["targeting"] == {}


def test_unsaved_targeting__closing_the_tab__the_browser_asks_first_and_only_then(page, live_server, api, watch):
    # Given: an edit to production's targeting, not saved
    api.create("closing-tab", production=True)
    open_flag(page, live_server, "closing-tab")
    page.get_by_role("button", name="Add rule").click()
    page.locator("#fp-targeting-production-rules-0-when-0-attribute").fill("plan")

    # When: the tab is closed
    with page.expect_event("dialog") as asked:
        page.close(run_before_unload=True)

    # Then: the browser asks before leaving (answered "stay" here), and the page and its edit stay
    assert asked.value.type == "beforeunload"
    assert not page.is_closed()
    expect(page.locator("#fp-targeting-production-rules-0-when-0-attribute")).to_have_value("plan")
    assert [problem for problem in watch.problems if "beforeunload" in problem] != []
    watch.problems[:] = [problem for problem in watch.problems if "beforeunload" not in problem]

    # When: the same flag's page, with nothing unsaved, is closed
    other = page.context.new_page()
    open_flag(other, live_server, "closing-tab")
    with other.expect_event("close"):
        other.close(run_before_unload=True)

    # Then: it closes without a question
    assert watch.problems == []


def test_save__said_beside_the_button(page, live_server, api):
    # Given
    api.create("said-here", production=True)
    open_flag(page, live_server, "said-here")

    # When: the default serve becomes off, and is saved
    page.locator("#flag-default-serve").get_by_label("Default serve: variant").select_option("off")
    page.get_by_role("button", name="Save targeting").click()

    # Then: the confirmation is beside the button, in words, and the API has it
    beside = page.locator("#flag-targeting .form-actions .form-status")
    expect(beside).to_have_text("Saved. Production · on · everyone serves off")
    assert api.flag("said-here").json()["targeting"]["production"]["serve"] == "off"


def test_rollout__20_percent_by_user_id__chosen_in_the_page_and_evaluated_by_it(page, live_server, api):
    # Given: a flag on in production, and an application that sends userId, not targetingKey
    api.create("sticky-rollout", production=True)
    client = api.client_token("production")
    open_flag(page, live_server, "sticky-rollout")

    # When: everyone gets a 20 % rollout, stuck to userId
    default = page.locator("#flag-default-serve")
    default.get_by_label("Default serve: what").select_option("split")
    default.get_by_label("on %").fill("20")
    default.get_by_label("off %").fill("80")
    page.get_by_label("Splits stick by (every environment)").fill("userId")
    page.get_by_role("button", name="Save targeting").click()

    # Then: the flag splits by userId, and a context with only a userId is split rather than refused
    expect(page.locator("#flag-targeting .form-status")).to_contain_text("off 80 % by userId")
    flag = api.flag("sticky-rollout").json()
    assert flag["stickiness"] == "userId"
    assert flag["targeting"]["production"]["serve"] == {"on": 20, "off": 80}
    answers = [
        requests.post(
            f"{live_server}/ofrep/v1/evaluate/flags/sticky-rollout",
            json={"context": {"userId": f"user-{n}"}},
            headers={"Authorization": f"Bearer {client}"},
            timeout=10,
        ).json()
        for n in range(40)
    ]
    assert {answer["reason"] for answer in answers} == {"SPLIT"}
    assert {answer["variant"] for answer in answers} == {"on", "off"}


def test_rule__a_segment_alone__saved_and_an_empty_rule_refused_in_a_sentence(page, live_server, api):
    # Given: a segment, and a flag on in production
    response = api.session.post(
        f"{live_server}/segments",
        json={"name": "beta-users", "conditions": [{"attribute": "beta", "op": "in", "values": ["yes"]}]},
    )
    assert response.status_code == 201, response.text
    api.create("segment-only", production=True)
    open_flag(page, live_server, "segment-only")

    # When: a rule is added and saved with nothing in it
    page.get_by_role("button", name="Add rule").click()
    page.get_by_role("button", name="Save targeting").click()

    # Then: the refusal is a sentence under the rule, with no validator wording anywhere
    rule = page.locator('[data-rule="0"]')
    expect(rule).to_contain_text("A rule needs at least one condition or segment.")
    for internal in ("Value error", "List should", "Input should", "after validation"):
        expect(page.locator("#flag-targeting")).not_to_contain_text(internal)

    # When: the rule gets a segment (its blank condition left as it came) and is saved
    rule.get_by_role("button", name="Add segment").click()
    page.get_by_role("button", name="Save targeting").click()

    # Then: the rule holds the segment alone
    expect(page.locator("#flag-targeting .form-status")).to_contain_text("in segment beta-users → serves on")
    assert api.flag("segment-only").json()["targeting"]["production"]["rules"] == [
        {"when": [{"segment": "beta-users"}], "serve": "on"}
    ]


def test_schedule__targeting_change_from_the_editor__pending_and_today_unchanged(page, live_server, api):
    # Given: a flag on in production, its default serve changed to off in the editor but not saved
    api.create("night-rules", production=True)
    open_flag(page, live_server, "night-rules")
    page.locator("#flag-default-serve").get_by_label("Default serve: variant").select_option("off")

    # When: that targeting is scheduled for two hours from now
    at = (datetime.now(UTC) + timedelta(hours=2)).astimezone()
    schedules = page.locator("#flag-schedules")
    schedules.get_by_label("When").fill(at.strftime("%Y-%m-%dT%H:%M:%S"))
    schedules.get_by_label("Change", exact=True).select_option("targeting")
    schedules.get_by_role("button", name="Schedule").click()

    # Then: a pending targeting change is listed and stored with the editor's targeting; today's is unchanged
    expect(schedules.get_by_role("list", name="Scheduled changes")).to_contain_text("Replace targeting at")
    (schedule,) = api.session.get(f"{live_server}/flags/night-rules/schedules").json()
    assert (schedule["environment"], schedule["state"]) == ("production", "pending")
    assert schedule["targeting"] == {"rules": [], "serve": "off"}
    assert api.flag("night-rules").json()["targeting"] == {}


def test_rule_editor__offers_the_attribute_names_applications_send(page, live_server, api, app):
    # Given: an application's contexts in production carried "plan" and "country", counted and flushed
    api.create("offered-names", production=True)
    for context in ({"targetingKey": "u-1", "plan": "pro"}, {"targetingKey": "u-2", "plan": "team", "country": "NZ"}):
        answered = api.session.post(
            f"{live_server}/ofrep/v1/evaluate/flags/offered-names?environment=production", json={"context": context}
        )
        assert answered.status_code == 200, answered.text
    usage_recorder(app).flush()
    # And an admin described "country"
    described = {"name": "country", "description": "ISO 3166 code of the shop", "values": ["NZ", "AU"]}
    assert api.session.post(f"{live_server}/context-fields", json=described).status_code == 201
    open_flag(page, live_server, "offered-names")

    # When: a rule is added
    page.get_by_role("button", name="Add rule").click()

    # Then: its attribute field offers the described field (with what it means), then what applications send,
    # most frequent first, then the standard names
    attribute = page.locator("#fp-targeting-production-rules-0-when-0-attribute")
    expect(attribute).to_have_attribute("list", "flag-known-attributes")
    options = page.locator("#flag-known-attributes option")
    expect(options.first).to_have_attribute("label", "country: ISO 3166 code of the shop")
    offered = options.evaluate_all("nodes => nodes.map(node => node.value)")
    assert offered[:3] == ["country", "targetingKey", "plan"] and "userId" in offered


def test_usage__hour_by_hour__stacked_by_variant_and_as_a_table(page, live_server, api, app):
    # Given: a 50/50 split evaluated for 40 users in production this hour, counted and flushed
    api.create("hourly-split", production=True)
    api.update("hourly-split", targeting={"production": {"rules": [], "serve": {"on": 50, "off": 50}}})
    for n in range(40):
        answer = api.session.post(
            f"{live_server}/ofrep/v1/evaluate/flags/hourly-split?environment=production",
            json={"context": {"targetingKey": f"user-{n}"}},
        )
        assert answer.status_code == 200, answer.text
    usage_recorder(app).flush()
    served = api.session.get(f"{live_server}/flags/hourly-split/usage").json()["environments"]["production"]
    counted_hours = [hour for hour in served["hours"] if hour["variants"]]

    # When
    open_flag(page, live_server, "hourly-split")

    # Then: 24 columns, the latest stacked by variant, and every counted hour's counts in the table
    chart = page.locator("#flag-usage .usage-hours")
    expect(chart.locator(".usage-hour")).to_have_count(24)
    expect(chart.locator(".usage-hour").last.locator(".usage-segment")).not_to_have_count(0)
    page.get_by_text("The hours as a table").click()
    table = page.get_by_role("table", name="Evaluations hour by hour, by variant")
    for hour in counted_hours:
        cells = table.locator(f'tr[data-hour="{hour["hour"]}"] td').all_text_contents()
        assert sorted(int(cell) for cell in cells if cell != "0") == sorted(hour["variants"].values())
    assert sum(n for hour in counted_hours for n in hour["variants"].values()) == 40


def test_history_in_the_page__narrowed_to_switches_and_to_one_environment(page, live_server, api):
    # Given: a flag switched in two environments, and its description and production targeting changed
    api.create("storied", production=False)
    api.toggle("storied", "production")
    api.toggle("storied", "staging")
    api.update("storied", description="Now with a story")
    api.update("storied", targeting={"production": {"rules": [], "serve": "off"}})
    open_flag(page, live_server, "storied")
    history = page.get_by_role("list", name="Changes to this flag, newest first")

    # Then: every change is in the page, reachable from the top
    expect(history.get_by_role("listitem")).to_have_count(5)
    page.get_by_role("navigation", name="On this page").get_by_role("link", name="History").click()
    expect(page.locator("#flag-history-card")).to_be_in_viewport()

    # When: only switches are asked for
    page.locator("#flag-history-card").get_by_label("Show", exact=True).select_option("switches")

    # Then: the two switches
    expect(history.get_by_role("listitem")).to_have_count(2)
    expect(history).to_contain_text("Switched on in Production")
    expect(history).to_contain_text("Switched on in Staging")

    # When: and only what touches production
    page.get_by_label("Only what touches Production").check()

    # Then: production's switch alone; with every kind again, production's changes and the flag-wide edits
    expect(history.get_by_role("listitem")).to_have_count(1)
    expect(history).to_contain_text("Switched on in Production")
    page.locator("#flag-history-card").get_by_label("Show", exact=True).select_option("all")
    expect(history.get_by_role("listitem")).to_have_count(4)
    expect(history).not_to_contain_text("Staging")
    expect(page.locator("#flag-history-card .count")).to_have_text("4 of the 5 latest changes shown, newest first.")


def test_keyboard_only__flag_page__environment_opened_switched_and_a_rule_saved(page, live_server, api):
    # Given: a flag on in production, its page open at staging, focus at the top
    api.create("keyed", production=True)
    open_flag(page, live_server, "keyed", env="staging")
    page.locator("#flag-heading").focus()

    # When: production's line in the overview is reached with Tab and opened with Enter
    assert tab_to(page, lambda label: label.startswith("Open Production")), "production's line is reachable"
    page.keyboard.press("Enter")

    # Then: production's tab is selected and focused
    expect(page.get_by_role("tab", name="Production")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tab", name="Production")).to_be_focused()

    # When: its switch is reached and pressed with Space
    assert tab_to(page, lambda label: label.startswith("Production: on")), "the switch is reachable"
    page.keyboard.press("Space")

    # Then: production is off, read back through the API
    expect(page.locator("#flag-env-switch")).to_have_text("Production: off")
    assert api.state("keyed")["production"] is False

    # When: a rule is added, filled and saved from the keyboard alone
    assert tab_to(page, lambda label: label == "Add rule"), "Add rule is reachable"
    page.keyboard.press("Enter")
    expect(page.locator("#fp-targeting-production-rules-0-when-0-attribute")).to_be_focused()
    page.keyboard.type("plan")
    assert tab_to(page, lambda label: label.startswith("Values"), presses=3), "the values follow the attribute"
    page.keyboard.type("pro")
    assert tab_to(page, lambda label: label == "Save targeting"), "Save targeting is reachable"
    page.keyboard.press("Enter")

    # Then: the rule is saved, said beside the button
    expect(page.locator("#flag-targeting .form-status")).to_contain_text("plan is pro → serves on")
    saved = api.flag("keyed").json()["targeting"]["production"]["rules"]
    assert saved == [{"when": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}]

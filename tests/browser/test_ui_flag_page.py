"""A flag's own page (?page=flag) in Chromium: each task done in the page, its outcome read back through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_ui_browser import Api, api, context, page, watch  # noqa: F401
from tests.support import ADMIN_TOKEN

pytestmark = pytest.mark.browser


def open_flag(page: Page, base: str, name: str, env: str = "production", token: str = ADMIN_TOKEN) -> None:
    """Open a flag's page by its address and sign in through the form, as a person following a link would."""
    page.goto(f"{base}/?page=flag&name={name}&env={env}")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect(page.get_by_role("tab", name=env.capitalize())).to_have_attribute("aria-selected", "true")


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

"""Change requests in a real Chromium: one person asks for a production change, another approves it, and the
flag is then served through OFREP. Production needs approval here (FF_APPROVALS=production).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import row_action
from tests.people.persons import SSO_SETTINGS, session_for
from tests.support import auth, serving

pytestmark = pytest.mark.browser


def _as(context, base: str, secret: str) -> None:
    """Make the browser's session the person's whose cookie secret this is."""
    context.clear_cookies()
    context.add_cookies([{"name": "ff_session", "value": secret, "url": base}])


def test_change_request__asked_in_the_table_approved_by_another__served_through_ofrep(context, make_app):
    # Given: a flag, a production client, and two editors
    app = make_app(**SSO_SETTINGS, approvals=("production",))
    with serving(app) as base:
        assert requests.post(f"{base}/flags", json={"name": "dark-mode"}, headers=auth(), timeout=10).ok
        client = requests.post(
            f"{base}/tokens",
            json={"name": "shop", "role": "client", "environment": "production"},
            headers=auth(),
            timeout=10,
        ).json()["token"]
        alice, _ = session_for(app, "alice@example.com", "editor")
        bob, _ = session_for(app, "bob@example.com", "editor")
        _as(context, base, alice)
        page = context.new_page()

        # When: alice switches production on in the table
        page.goto(base)
        production = page.get_by_role("switch", name="Toggle dark-mode in Production")
        production.click()

        # Then: a request is sent, and the table still shows what production serves
        expect(page.locator("#messages")).to_contain_text("Asked to switch dark-mode on in Production")
        expect(production).to_have_attribute("aria-checked", "false")
        flag = requests.get(f"{base}/flags/dark-mode", headers=auth(), timeout=10).json()
        assert flag["environments"]["production"] is False
        # And a rename in the table (every environment serves the name) goes the same way
        row_action(page, "dark-mode", "Edit")
        form = page.get_by_role("form", name="Edit dark-mode")
        form.get_by_label("Name").fill("dark-theme")
        form.get_by_role("button", name="Save").click()
        expect(page.locator("#messages")).to_contain_text("asked for the change to dark-mode")
        expect(form).to_be_hidden()
        assert requests.get(f"{base}/flags/dark-mode", headers=auth(), timeout=10).json()["name"] == "dark-mode"
        # And the flag's page says production's changes need approval
        page.goto(f"{base}/?page=flag&name=dark-mode&env=production")
        expect(page.locator("#flag-env-switch")).to_have_text("Production: off · changes need approval")
        # And on the change requests screen she may withdraw her request, not approve it
        page.get_by_role("navigation", name="Screens").get_by_role("link", name="Change requests").click()
        requests_listed = page.locator("#change-requests-list li")
        expect(requests_listed).to_have_count(2)
        request = requests_listed.filter(has_text="Requested a change in Production")
        expect(request).to_contain_text("dark-mode")
        expect(request).to_contain_text("Requested a change in Production")
        expect(request.get_by_role("button", name="Withdraw the change to dark-mode")).to_be_visible()
        expect(request.get_by_role("button", name="Approve the change to dark-mode")).to_have_count(0)

        # When: bob opens the change requests and approves it
        _as(context, base, bob)
        page.goto(f"{base}/?page=change-requests")
        expect(request).to_contain_text("by alice@example.com")
        request.get_by_role("button", name="Approve the change to dark-mode").click()

        # Then: it is applied, and production serves it
        expect(page.locator("#change-requests-status")).to_have_text("Approved the change to dark-mode.")
        expect(requests_listed).to_have_count(1)
        answer = requests.post(
            f"{base}/ofrep/v1/evaluate/flags/dark-mode",
            json={"context": {"targetingKey": "u-1"}},
            headers=auth(client),
            timeout=10,
        )
        assert answer.status_code == 200 and answer.json()["value"] is True
        page.get_by_role("combobox", name="Show").select_option("")
        applied = requests_listed.filter(has_text="Applied")
        expect(applied).to_contain_text("Approved by bob@example.com")
        expect(applied).to_contain_text("Production")


def test_flag_page__targeting_schedule_and_rename_in_production__sent_as_change_requests(context, make_app):
    # Given: a person who edits everywhere, on a flag's page in production
    app = make_app(**SSO_SETTINGS, approvals=("production",))
    with serving(app) as base:
        assert requests.post(f"{base}/flags", json={"name": "night-sale"}, headers=auth(), timeout=10).ok
        secret, _ = session_for(app, "alice@example.com", "editor")
        _as(context, base, secret)
        page = context.new_page()
        page.goto(f"{base}/?page=flag&name=night-sale&env=production")
        expect(page.get_by_role("heading", name="night-sale", level=1)).to_be_visible()
        status = page.locator("#flag-status")

        # When: production's default serve, a switch scheduled there, and a rename (every environment serves it)
        page.locator("#flag-default-serve").get_by_label("Default serve: variant").select_option("off")
        page.get_by_role("button", name="Save targeting").click()
        expect(status).to_contain_text("Production's targeting")
        at = (datetime.now(UTC) + timedelta(hours=2)).astimezone()
        page.get_by_label("When").fill(at.strftime("%Y-%m-%dT%H:%M:%S"))
        page.get_by_label("Change", exact=True).select_option("true")
        page.get_by_role("button", name="Schedule").click()
        expect(page.get_by_text("it applies at that moment once someone else approves it")).to_be_visible()
        details = page.get_by_role("form", name="Details")
        details.get_by_label("Name").fill("night-sale-2")
        page.get_by_role("button", name="Save details").click()
        expect(status).to_contain_text("need approval")

        # Then: three requests wait, each shown beside production's switch, and the flag is as it was
        waiting = page.get_by_role("list", name="Change requests to come").get_by_role("listitem")
        expect(waiting).to_have_count(3)
        expect(waiting.filter(has_text="night-sale-2")).to_contain_text("Waiting for someone else's approval.")
        listed = requests.get(f"{base}/change-requests?state=open", headers=auth(), timeout=10).json()
        asked = {next(iter(r["changes"])): r for r in listed["change_requests"]}
        assert sorted(asked) == ["environments", "name", "targeting"]
        assert asked["environments"]["changes"] == {"environments": {"production": True}}
        assert asked["environments"]["apply_at"] is not None and asked["name"]["apply_at"] is None
        assert asked["name"]["changes"]["name"] == "night-sale-2"
        assert asked["targeting"]["changes"]["targeting"]["production"]["serve"] == "off"
        flag = requests.get(f"{base}/flags/night-sale", headers=auth(), timeout=10).json()
        assert flag["version"] == 1 and flag["targeting"] == {}

        # When: a reviewer's token approves the scheduled one, and the page is read again
        reviewer = requests.post(
            f"{base}/tokens", json={"name": "reviewer", "role": "editor"}, headers=auth(), timeout=10
        ).json()["token"]
        scheduled = asked["environments"]["_id"]
        approved = requests.post(f"{base}/change-requests/{scheduled}/approve", headers=auth(reviewer), timeout=10)
        assert approved.status_code == 200 and approved.json()["state"] == "approved"
        page.reload()

        # Then: it is still to come, approved, waiting for its moment
        expect(waiting.filter(has_text="Approved by reviewer; applies at")).to_have_count(1)


def _applied(base: str, reviewer: str, changes: dict) -> None:
    """Make a production change as approvals allow: the admin token asks, the reviewer's token approves."""
    asked = requests.post(
        f"{base}/change-requests", json={"flag": "checkout", "changes": changes}, headers=auth(), timeout=10
    )
    assert asked.status_code == 201, asked.text
    approved = requests.post(
        f"{base}/change-requests/{asked.json()['_id']}/approve", headers=auth(reviewer), timeout=10
    )
    assert approved.status_code == 200 and approved.json()["state"] == "applied", approved.text


def test_change_requests__switch_off_targeting_and_rename__each_card_shows_exactly_what_differs(context, make_app):
    # Given: checkout on in production with one rule there, applied through an approved request
    app = make_app(**SSO_SETTINGS, approvals=("production",))
    plan_rule = {"when": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}
    country_rule = {"when": [{"attribute": "country", "op": "in", "values": ["NZ"]}], "serve": "off"}
    with serving(app) as base:
        assert requests.post(f"{base}/flags", json={"name": "checkout"}, headers=auth(), timeout=10).ok
        reviewer = requests.post(
            f"{base}/tokens", json={"name": "reviewer", "role": "editor"}, headers=auth(), timeout=10
        ).json()["token"]
        _applied(base, reviewer, {"environments": {"production": True}})
        _applied(base, reviewer, {"targeting": {"production": {"rules": [plan_rule], "serve": "on"}}})
        alice, alice_csrf = session_for(app, "alice@example.com", "editor")
        bob, _ = session_for(app, "bob@example.com", "editor")

        # When: alice asks, from the flag's page, to switch production off, with a note for the reviewer
        _as(context, base, alice)
        page = context.new_page()
        page.goto(f"{base}/?page=flag&name=checkout&env=production")
        page.get_by_label("Note for the reviewer").fill("Errors are up since the release")
        page.locator("#flag-env-switch").click()
        expect(page.locator("#flag-status")).to_contain_text("switching Production off")
        expect(page.get_by_label("Note for the reviewer")).to_have_value("")
        # And asks (through the API, as a script would) for a second rule, and for a new name
        for changes in (
            {"targeting": {"production": {"rules": [plan_rule, country_rule], "serve": "on"}}},
            {"name": "checkout-v2"},
        ):
            made = requests.post(
                f"{base}/change-requests",
                json={"flag": "checkout", "changes": changes},
                headers={"Cookie": f"ff_session={alice}", "X-CSRF-Token": alice_csrf},
                timeout=10,
            )
            assert made.status_code == 201, made.text

        # Then: bob's change requests screen shows each request as what it changes, and only that
        _as(context, base, bob)
        page.goto(f"{base}/?page=change-requests")
        cards = page.locator("#change-requests-list > li")
        expect(cards).to_have_count(3)

        def row(card, label):
            return card.locator(".event-change").filter(has=page.locator("dt", has_text=label))

        switch_off = cards.filter(has_text="Errors are up since the release")
        expect(switch_off.locator(".event-change")).to_have_count(1)
        expect(row(switch_off, "Production").locator("del")).to_have_text("on")
        expect(row(switch_off, "Production").locator("ins")).to_have_text("off")
        targeting = cards.filter(has=page.locator("dt", has_text="Rule 2 added"))
        expect(targeting.locator(".event-change")).to_have_count(1)
        expect(targeting.locator("ins")).to_have_text("country is NZ → serves off")
        renamed = cards.filter(has=page.locator("dt", has_text="Name"))
        expect(renamed.locator(".event-change")).to_have_count(1)
        expect(row(renamed, "Name").locator("del")).to_have_text("checkout")
        expect(row(renamed, "Name").locator("ins")).to_have_text("checkout-v2")

        # When: bob rejects the rename with a comment typed on its card
        renamed.get_by_label("Comment (optional)").fill("Keep the name: dashboards use it")
        renamed.get_by_role("button", name="Reject the change to checkout").click()

        # Then: the comment is the review's, read back through the API, and the note is the switch-off's
        expect(page.locator("#change-requests-status")).to_have_text("Rejected the change to checkout.")
        listed = requests.get(f"{base}/change-requests", headers=auth(), timeout=10).json()["change_requests"]
        by_field = {next(iter(r["changes"])): r for r in listed if r["requested_by"] == "alice@example.com"}
        assert by_field["name"]["state"] == "rejected"
        assert by_field["name"]["review_comment"] == "Keep the name: dashboards use it"
        assert by_field["environments"]["comment"] == "Errors are up since the release"
        assert by_field["environments"]["base"] == {"environments": {"production": True}}

"""The people screen in a real Chromium: an admin who signed in through single sign-on gives people roles per
environment and deactivates someone; what the page saved is read back through the API.
"""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from tests.people.persons import SSO_SETTINGS, session_for
from tests.support import auth, serving

pytestmark = pytest.mark.browser


def test_people__admin_sets_roles_per_environment_and_deactivates__saved_and_refusals_shown(context, make_app):
    # Given: an admin and two people who have signed in
    app = make_app(**SSO_SETTINGS)
    with serving(app) as base:
        admin, _ = session_for(app, "ada@example.com", "admin")
        session_for(app, "bob@example.com", "viewer")
        session_for(app, "cy@example.com", "editor")
        context.add_cookies([{"name": "ff_session", "value": admin, "url": base}])
        page = context.new_page()
        page.goto(base)
        page.get_by_role("navigation", name="Screens").get_by_role("link", name="People").click()
        expect(page.get_by_role("heading", name="People", level=1)).to_be_visible()
        expect(page.locator("#people-status")).to_have_text("3 people.")

        # When: bob becomes an editor who only reads production, and cy is deactivated
        bob = page.get_by_role("form", name="Roles of bob@example.com")
        bob.get_by_label("Role").select_option("editor")
        bob.get_by_label("In Production").select_option("viewer")
        bob.get_by_role("button", name="Save").click()
        expect(page.locator("#people-status")).to_have_text("Saved bob@example.com.")
        cy = page.get_by_role("form", name="Roles of cy@example.com")
        cy.get_by_label("May sign in").uncheck()
        cy.get_by_role("button", name="Save").click()
        expect(page.locator("#people-status")).to_have_text("Saved cy@example.com.")
        # And the admin tries to demote themselves
        ada = page.get_by_role("form", name="Roles of ada@example.com")
        ada.get_by_label("Role").select_option("viewer")
        ada.get_by_role("button", name="Save").click()

        # Then
        expect(ada.get_by_role("alert")).not_to_be_empty()
        users = {u["email"]: u for u in requests.get(f"{base}/users", headers=auth(), timeout=10).json()}
        assert users["bob@example.com"]["role"] == "editor"
        assert users["bob@example.com"]["environment_roles"] == {"production": "viewer"}
        assert users["cy@example.com"]["active"] is False
        assert users["ada@example.com"]["role"] == "admin"
        expect(page.get_by_role("form", name="Roles of cy@example.com").get_by_label("May sign in")).not_to_be_checked()

"""The admin screens besides flags (tokens, audit log, segments, webhooks, import and export) in a real Chromium.

Each test does a person's task in the page, then reads the outcome back through the API.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import requests
from playwright.sync_api import Page, expect

from feature_flags.usage import usage_recorder
from tests.browser.conftest import row_action
from tests.browser.test_ui_browser import CONTRAST_FAILURES, NAMELESS_CONTROLS, SCREENSHOTS, sign_in, tab_to
from tests.support import ADMIN_TOKEN, Receiver, auth, wait_for

pytestmark = pytest.mark.browser


def open_screen(page: Page, name: str) -> None:
    """Follow the navigation link to a screen, as a person would."""
    page.get_by_role("navigation", name="Screens").get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()


# -- tokens ---------------------------------------------------------------------------------------


def test_tokens__create_client_token__secret_shown_once_works_then_revoked_with_dialog(page, live_server, api):
    # Given
    sign_in(page, live_server)
    open_screen(page, "Tokens")
    expect(page.get_by_role("heading", name="SDK tokens")).to_be_visible()

    # When: a client token for production is created
    form = page.get_by_role("form", name="New token")
    form.get_by_label("Name").fill("checkout-service")
    form.get_by_label("Role").select_option("client")
    form.get_by_label("Environment").select_option("production")
    form.get_by_role("button", name="Create token").click()

    # Then: its secret is shown, with the warning, and it works through the API for production only
    secret_box = page.get_by_role("region", name="Copy the new token now")
    expect(secret_box).to_contain_text("It will not be shown again")
    secret_field = secret_box.get_by_label("Secret of checkout-service")
    expect(secret_field).to_have_value(re.compile(r"^ff_client_"))
    secret = secret_field.input_value()
    reader = requests.Session()
    reader.headers.update(auth(secret))
    assert reader.get(f"{live_server}/flags", params={"environment": "production"}).status_code == 200
    assert reader.get(f"{live_server}/flags", params={"environment": "staging"}).status_code == 403
    listed = next(
        token for token in api.session.get(f"{live_server}/tokens").json() if token["name"] == "checkout-service"
    )
    assert (listed["role"], listed["environment"]) == ("client", "production")

    # When: the copy button, without clipboard permission, selects the text instead
    secret_box.get_by_role("button", name="Copy").click()
    expect(secret_box.get_by_role("status")).not_to_be_empty()

    # When: the person is done with it
    secret_box.get_by_role("button", name="I have copied it").click()

    # Then: the secret is gone from the page, and the list shows the token with role, environment and use
    expect(secret_box).to_be_hidden()
    assert secret not in page.content()
    item = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="checkout-service"))
    expect(item).to_contain_text("Client (answers only)")
    expect(item).to_contain_text("Production")
    expect(item.locator("time").first).to_have_attribute("datetime", re.compile(r"^\d{4}-"))

    # When: revoking is started, cancelled, then confirmed in the dialog
    item.get_by_role("button", name="Revoke checkout-service").click()
    dialog = page.get_by_role("dialog", name="Revoke checkout-service?")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(item.get_by_role("button", name="Revoke checkout-service")).to_be_focused()
    assert reader.get(f"{live_server}/flags", params={"environment": "production"}).status_code == 200
    item.get_by_role("button", name="Revoke checkout-service").click()
    dialog.get_by_role("button", name="Revoke", exact=True).click()

    # Then: gone from the list, and the API refuses the secret
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("heading", name="checkout-service")).to_have_count(0)
    assert reader.get(f"{live_server}/flags", params={"environment": "production"}).status_code == 401
    assert all(token["name"] != "checkout-service" for token in api.session.get(f"{live_server}/tokens").json())


def test_tokens__server_token__made_for_sdks_reads_rules_and_its_application_listed(page, live_server, api):
    # Given
    api.create("dark-mode", production=True)
    sign_in(page, live_server)
    open_screen(page, "Tokens")
    form = page.get_by_role("form", name="New token")
    expect(form).to_contain_text("gets a server token")

    # When: a server token for production is made, and an Unleash SDK registers with it (sent raw, as they do)
    form.get_by_label("Name").fill("checkout-backend")
    form.get_by_label("Role").select_option("server")
    form.get_by_label("Environment").select_option("production")
    form.get_by_role("button", name="Create token").click()
    secret = page.get_by_role("region", name="Copy the new token now").get_by_label("Secret of checkout-backend")
    expect(secret).to_have_value(re.compile(r"^ff_server_"))
    sdk = requests.Session()
    sdk.headers.update({"Authorization": secret.input_value()})
    features = sdk.get(f"{live_server}/api/client/features")
    registered = sdk.post(f"{live_server}/api/client/register", json={
        "appName": "checkout", "instanceId": "pod-7", "sdkVersion": "unleash-client-node:6.12.0", "strategies": [],
        "started": "2026-12-06T10:00:00Z", "interval": 15000})  # fmt: skip
    page.get_by_role("button", name="I have copied it").click()

    # Then: the token reads production's rules, and once the screen is opened again the instance is listed
    assert features.status_code == 200 and [f["name"] for f in features.json()["features"]] == ["dark-mode"]
    assert registered.status_code == 202
    item = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="checkout-backend"))
    expect(item).to_contain_text("Server (reads rules, evaluates in process)")
    open_screen(page, "Flags")
    open_screen(page, "Tokens")
    applications = page.get_by_role("list", name="Applications evaluating in process")
    instance = applications.get_by_role("listitem").filter(has=page.get_by_role("heading", name="checkout"))
    expect(instance).to_contain_text("pod-7")
    expect(instance).to_contain_text("unleash-client-node:6.12.0")
    expect(instance).to_contain_text("Production")
    expect(page.locator("#application-status")).to_have_text("1 instance.")


@pytest.mark.parametrize(("environment", "label"), [("", "Every environment"), ("staging", "Staging")])
def test_tokens__create_editor_token__changes_flags_where_it_is_bound(page, live_server, api, environment, label):
    # Given
    api.create("dark-mode", "Offer the dark theme")
    sign_in(page, live_server)
    open_screen(page, "Tokens")

    # When: an editor token is made, for every environment or for staging
    form = page.get_by_role("form", name="New token")
    form.get_by_label("Name").fill("pipeline")
    form.get_by_label("Role").select_option("editor")
    form.get_by_label("Environment").select_option(environment)
    form.get_by_role("button", name="Create token").click()

    # Then: listed as an editor of what it covers, and its secret changes flags there (and only there)
    secret = page.get_by_role("region", name="Copy the new token now").get_by_label("Secret of pipeline").input_value()
    assert secret.startswith("ff_editor_")
    item = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="pipeline"))
    expect(item).to_contain_text("Editor")
    expect(item).to_contain_text(label)
    editor = requests.Session()
    editor.headers.update(auth(secret))
    staging = editor.post(f"{live_server}/flags/dark-mode/toggle", json={"environment": "staging"})
    production = editor.post(f"{live_server}/flags/dark-mode/toggle", json={"environment": "production"})
    assert staging.status_code == 200, staging.text
    assert production.status_code == (200 if environment == "" else 403)
    assert editor.get(f"{live_server}/tokens").status_code == 403


def test_tokens__name_refused__error_next_to_name_field(page, live_server, api):
    # Given
    api.client_token("staging")
    sign_in(page, live_server)
    open_screen(page, "Tokens")
    form = page.get_by_role("form", name="New token")

    # When: a name already taken, then one with characters tokens may not have
    form.get_by_label("Name").fill("reader-staging")
    form.get_by_role("button", name="Create token").click()

    # Then
    expect(form.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#token-name-error")).not_to_be_empty()
    form.get_by_label("Name").fill("no/slashes")
    form.get_by_role("button", name="Create token").click()
    expect(page.locator("#token-name-error")).to_contain_text("starting with a letter or digit")
    expect(page.get_by_role("region", name="Copy the new token now")).to_be_hidden()
    assert [token["name"] for token in api.session.get(f"{live_server}/tokens").json()] == ["reader-staging"]


def test_tokens__client_token__admin_screens_not_offered(page, live_server, api):
    # Given
    token = api.client_token("production")

    # When: signed in with a client token, then straight at an admin screen's address
    sign_in(page, live_server, token)
    page.goto(f"{live_server}/?page=tokens")

    # Then: the flags table, and no link to any admin screen
    nav = page.get_by_role("navigation", name="Screens")
    expect(page.get_by_role("heading", name="Flags", level=1)).to_be_visible()
    for name in ("Tokens", "Audit log", "Segments", "Webhooks", "Import and export"):
        expect(nav.get_by_role("link", name=name)).to_be_hidden()
    expect(page.locator("#tokens-view")).to_be_hidden()


# -- history ------------------------------------------------------------------------------------


def test_history__targeting_change__rules_and_rollout_in_words(page, live_server, api):
    # Given: a flag whose production targeting gains a rule and a wider rollout, then loses its first rule
    flag = api.create("new-checkout")
    first = {"when": [{"attribute": "country", "op": "in", "values": ["NL"]}], "serve": "on"}
    second = {"when": [{"attribute": "plan", "op": "in", "values": ["pro", "team"]}], "serve": "on"}
    api.update(flag["_id"], targeting={"production": {"rules": [first], "serve": {"on": 10, "off": 90}}})
    api.update(flag["_id"], targeting={"production": {"rules": [first, second], "serve": {"on": 25, "off": 75}}})
    api.update(flag["_id"], variants={"on": True, "off": False, "beta": True}, tags=["checkout"])
    sign_in(page, live_server)

    # When
    row_action(page, "new-checkout", "History")

    # Then: each change is said in words, never as a bare "Edited"
    dialog = page.get_by_role("dialog", name="History of new-checkout")
    events = dialog.get_by_role("listitem")
    expect(events).to_have_count(4)
    expect(events.nth(0)).to_contain_text("Changed the variants and the tags")
    expect(events.nth(0)).to_contain_text("Variant beta added")
    expect(events.nth(1)).to_contain_text("Changed targeting in Production")
    added = events.nth(1).locator(".event-change").filter(has_text="Production · Rule 2 added")
    expect(added.locator("ins")).to_have_text("plan is one of pro, team → serves on")
    rollout = events.nth(1).locator(".event-change").filter(has_text="Production · Everyone else rollout")
    expect(rollout.locator("del")).to_have_text("10 %")
    expect(rollout.locator("ins")).to_have_text("25 %")
    expect(events.nth(2)).to_contain_text("Production · Rule 1 added")
    expect(events.nth(2)).to_contain_text("country is NL → serves on")
    everyone = events.nth(2).locator(".event-change").filter(has_text="Production · Everyone else")
    expect(everyone.locator("del")).to_have_text("serves on")
    expect(everyone.locator("ins")).to_have_text("serves on 10 %, off 90 %")
    expect(dialog).not_to_contain_text("Edited")
    history = api.session.get(f"{live_server}/flags/{flag['_id']}/history").json()["events"]
    assert [event["action"] for event in history] == ["flag.updated"] * 3 + ["flag.created"]


# -- audit log ----------------------------------------------------------------------------------


def test_audit__filtered_by_action_and_flag__matching_changes_and_filters_in_address(page, live_server, api):
    # Given: changes to two flags, of several kinds
    checkout = api.create("new-checkout")
    other = api.create("dark-mode")
    api.toggle(checkout["_id"], "production")
    api.toggle(checkout["_id"], "staging")
    api.toggle(other["_id"], "production")
    api.update(checkout["_id"], description="now with words")
    sign_in(page, live_server)
    open_screen(page, "Audit log")
    changes = page.get_by_role("list", name="Changes, newest first").get_by_role("listitem")
    expect(changes).to_have_count(6)

    # When: filtered by action and flag, from the keyboard
    filters = page.get_by_role("form", name="Filter changes")
    filters.get_by_label("Action").select_option("flag.toggled")
    filters.get_by_label("Flag").fill("new-checkout")
    filters.get_by_label("Flag").press("Enter")

    # Then: only that flag's toggles, each named and said in words, and the filters in the address
    expect(changes).to_have_count(2)
    expect(changes.nth(0)).to_contain_text("Switched on in Staging")
    expect(changes.nth(1)).to_contain_text("Switched on in Production")
    expect(changes.nth(0).get_by_role("link", name="new-checkout")).to_be_visible()
    assert "page=audit" in page.url and "action=flag.toggled" in page.url and "flag=new-checkout" in page.url
    answer = api.session.get(f"{live_server}/audit", params={"action": "flag.toggled", "flag": "new-checkout"})
    assert answer.status_code == 200
    assert [event["environment"] for event in answer.json()["events"]] == ["staging", "production"]

    # When: the address is opened again (a shared link), then Back goes to the unfiltered log
    page.reload()
    expect(changes).to_have_count(2)
    expect(page.get_by_role("form", name="Filter changes").get_by_label("Action")).to_have_value("flag.toggled")
    page.go_back()

    # Then
    expect(changes).to_have_count(6)

    # When: a time range that ends before anything happened
    filters.get_by_label("Until").fill("2001-01-01T00:00")
    filters.get_by_role("button", name="Show changes").click()

    # Then
    expect(page.get_by_text("No changes match these filters.")).to_be_visible()
    assert "until=2001-01-01T" in page.url or "until=2000-12-31T" in page.url


def test_audit__every_kind_of_change__said_in_words(page, live_server, api):
    # Given: one change of each kind, through the API
    flag = api.create("new-checkout")
    rule = {"when": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}
    post = api.session.post
    api.toggle(flag["_id"], "staging")
    assert post(f"{live_server}/flags/{flag['_id']}/copy", json={"from": "staging", "to": "production"}).ok
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"at": at, "environment": "production", "targeting": {"rules": [rule], "serve": "off"}}
    assert post(f"{live_server}/flags/{flag['_id']}/schedules", json=body).status_code == 201
    api.update(flag["_id"], stale=True, type="experiment")
    assert post(f"{live_server}/flags/{flag['_id']}/archive").ok
    assert post(f"{live_server}/flags/{flag['_id']}/revive").ok
    segment = {"name": "pros", "conditions": rule["when"]}
    assert post(f"{live_server}/segments", json=segment).status_code == 201
    assert api.session.put(f"{live_server}/segments/pros", json={"description": "paying"}).ok
    api.client_token("staging")
    assert post(f"{live_server}/webhooks", json={"url": "https://hooks.example.com/x", "events": ["*"]}).ok
    sign_in(page, live_server)

    # When
    open_screen(page, "Audit log")

    # Then: newest first, each said in words
    changes = page.get_by_role("list", name="Changes, newest first").get_by_role("listitem")
    expect(changes).to_have_count(11)
    said = [
        "Webhook to https://hooks.example.com/… created",
        "Token reader-staging created (client, Staging)",
        "Segment pros: changed the description",
        "Segment pros created",
        "Revived",
        "Archived",
        "Changed the type and marked it stale",
        "Scheduled to change targeting in Production",
        "Copied settings into Production: on/off in Production",
        "Switched on in Staging",
        "Created",
    ]
    for index, text in enumerate(said):
        expect(changes.nth(index).locator(".event-summary")).to_contain_text(text)
    expect(changes.nth(3)).to_contain_text("plan is pro")
    expect(changes.nth(7)).to_contain_text("Production · Rule 1")
    expect(changes.nth(7)).to_contain_text("plan is pro → serves on")
    expect(changes.nth(7)).to_contain_text("serves off")
    expect(page.get_by_role("list", name="Changes, newest first")).not_to_contain_text("Edited")
    assert len(api.session.get(f"{live_server}/audit").json()["events"]) == 11


# -- segments -----------------------------------------------------------------------------------


def test_segments__create_and_edit_conditions__saved_and_in_use_refusal_shown(page, live_server, api):
    # Given
    sign_in(page, live_server)
    open_screen(page, "Segments")

    # When: a segment with two conditions, the second refused at first (a number operator with a word)
    page.get_by_role("button", name="New segment").click()
    dialog = page.get_by_role("dialog", name="New segment")
    dialog.get_by_label("Name").fill("beta-users")
    dialog.get_by_label("Attribute 1").fill("plan")
    dialog.get_by_label("Values 1").fill("pro, team")
    dialog.get_by_role("button", name="Add condition").click()
    expect(dialog.get_by_label("Attribute 2")).to_be_focused()
    page.keyboard.type("age")
    dialog.get_by_label("Operator 2").select_option("gte")
    dialog.get_by_label("Values 2").fill("eighteen")
    dialog.get_by_role("button", name="Create segment").click()

    # Then: the API's message sits under the second condition's values
    expect(dialog.get_by_label("Values 2")).to_have_attribute("aria-invalid", "true")
    expect(dialog.locator('[data-error-for="conditions.1.values"]')).to_contain_text("number")
    assert api.session.get(f"{live_server}/segments").json() == []

    # When: fixed
    dialog.get_by_label("Values 2").fill("18")
    dialog.get_by_role("button", name="Create segment").click()

    # Then
    expect(dialog).to_be_hidden()
    item = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="beta-users"))
    expect(item).to_contain_text("plan is one of pro, team and age is at least 18")
    created = api.session.get(f"{live_server}/segments/beta-users").json()
    assert created["conditions"] == [
        {"attribute": "plan", "op": "in", "values": ["pro", "team"]},
        {"attribute": "age", "op": "gte", "values": [18]},
    ]

    # When: edited: the first condition's values change, the second is removed
    item.get_by_role("button", name="Edit beta-users").click()
    editor = page.get_by_role("dialog", name="Edit segment beta-users")
    expect(editor.get_by_label("Values 1")).to_have_value("pro, team")
    editor.get_by_label("Values 1").fill("pro, team, enterprise")
    editor.get_by_role("button", name="Remove condition 2").click()
    editor.get_by_role("button", name="Save segment").click()

    # Then
    expect(editor).to_be_hidden()
    expect(item).to_contain_text("plan is one of pro, team, enterprise")
    saved = api.session.get(f"{live_server}/segments/beta-users").json()
    assert (saved["conditions"], saved["version"]) == (
        [{"attribute": "plan", "op": "in", "values": ["pro", "team", "enterprise"]}],
        2,
    )

    # When: a flag's rule names it, and deleting it is confirmed
    response = api.session.post(
        f"{live_server}/flags",
        json={
            "name": "beta-banner",
            "targeting": {"production": {"rules": [{"when": [{"segment": "beta-users"}], "serve": "on"}]}},
        },
    )
    assert response.status_code == 201, response.text
    item.get_by_role("button", name="Delete beta-users").click()
    confirm = page.get_by_role("dialog", name="Delete segment beta-users?")
    confirm.get_by_role("button", name="Delete", exact=True).click()

    # Then: the API's refusal, naming the flag, stays in the dialog; the segment is still there
    expect(confirm.get_by_role("alert")).to_contain_text("beta-banner")
    assert api.session.get(f"{live_server}/segments/beta-users").status_code == 200
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()


# -- webhooks -----------------------------------------------------------------------------------


@pytest.fixture
def receiver():
    started = Receiver().start()
    yield started
    started.stop()


def test_webhooks__edited_in_the_form__address_events_and_signing_changed(page, live_server, api):
    # Given: a signed webhook for flag changes
    made = api.session.post(
        f"{live_server}/webhooks",
        json={"url": "https://hooks.example.com/old", "events": ["flag.*"], "secret": "whsec-0123456789abcdef"},
    ).json()
    sign_in(page, live_server)
    open_screen(page, "Webhooks")

    # When: it is opened for editing
    page.get_by_role("button", name="Edit https://hooks.example.com/old").click()

    # Then: the form holds it as it is
    form = page.get_by_role("form", name="Edit the webhook to https://hooks.example.com/old")
    expect(form.get_by_label("Address")).to_have_value("https://hooks.example.com/old")
    expect(form.get_by_label("flag.*: every flag action")).to_be_checked()
    expect(form.get_by_label("Every change", exact=True)).not_to_be_checked()

    # When: the address and events change, signing stops, and it is saved
    form.get_by_label("Address").fill("https://hooks.example.com/new")
    form.get_by_label("flag.*: every flag action").uncheck()
    form.get_by_label("Every change", exact=True).check()
    form.get_by_label("Stop signing (remove the secret)").check()
    form.get_by_role("button", name="Save changes").click()

    # Then: the list and the API have it changed, and the form is back to making a new one
    expect(
        page.get_by_role("status").filter(has_text="Saved the webhook to https://hooks.example.com/new")
    ).to_be_visible()
    expect(page.get_by_role("form", name="New webhook")).to_be_visible()
    webhook = api.session.get(f"{live_server}/webhooks/{made['id']}").json()
    assert (webhook["url"], webhook["events"], webhook["has_secret"]) == ("https://hooks.example.com/new", ["*"], False)
    # And the audit log reads the change
    open_screen(page, "Audit log")
    entry = page.get_by_role("listitem").filter(has_text="Webhook to https://hooks.example.com/… changed")
    expect(entry).to_contain_text("Signed")


def test_webhooks__create_and_send_test__delivery_in_log_and_received(page, live_server, api, receiver):
    # Given
    sign_in(page, live_server)
    open_screen(page, "Webhooks")
    form = page.get_by_role("form", name="New webhook")

    # When: first with an address and a secret the API refuses
    form.get_by_label("Address").fill("ftp://example.com/hook")
    form.get_by_label("Every change", exact=True).check()
    form.get_by_label("Signing secret (optional)").fill("short")
    form.get_by_role("button", name="Create webhook").click()

    # Then: each refusal next to its field, nothing created
    expect(form.get_by_label("Address")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#webhook-url-error")).to_contain_text("http or https")
    expect(page.locator("#webhook-secret-error")).not_to_be_empty()
    assert api.session.get(f"{live_server}/webhooks").json() == []

    # When: corrected, for flag changes only
    form.get_by_label("Address").fill(receiver.url)
    form.get_by_label("Every change", exact=True).uncheck()
    form.get_by_label("flag.*: every flag action").check()
    form.get_by_label("Signing secret (optional)").fill("whsec-0123456789abcdef")
    form.get_by_role("button", name="Create webhook").click()

    # Then
    item = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name=receiver.url))
    expect(item).to_contain_text("flag.*")
    expect(item).to_contain_text("Signed")
    (webhook,) = api.session.get(f"{live_server}/webhooks").json()
    assert (webhook["url"], webhook["events"], webhook["format"], webhook["has_secret"]) == (
        receiver.url,
        ["flag.*"],
        "json",
        True,
    )

    # When: a test is sent
    item.get_by_role("button", name=f"Send a test to {receiver.url}").click()

    # Then: the delivery log shows it delivered, with the receiver's answer, and the receiver got it
    log = item.get_by_role("region", name=f"Deliveries to {receiver.url}")
    row = log.get_by_role("row").filter(has_text="ping (test)")
    expect(row).to_contain_text("delivered", timeout=15_000)
    expect(row).to_contain_text("204")
    expect(row).to_contain_text(re.compile(r"\d+ ms"))
    headers = wait_for(lambda: [h for h, _ in receiver.received if h.get("X-Webhook-Event") == "ping"])[0]
    assert headers["X-Webhook-Signature-256"].startswith("sha256=")
    (delivery,) = api.session.get(f"{live_server}/webhooks/{webhook['id']}/deliveries").json()
    assert (delivery["action"], delivery["status"], delivery["response_code"]) == ("ping", "delivered", 204)

    # When: deleted through its dialog
    item.get_by_role("button", name=f"Delete {receiver.url}").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()

    # Then
    expect(page.get_by_role("status").filter(has_text="Deleted the webhook")).to_be_visible()
    expect(page.get_by_role("heading", name=receiver.url)).to_have_count(0)
    assert api.session.get(f"{live_server}/webhooks").json() == []


# -- import and export --------------------------------------------------------------------------


def test_transfer__export_then_import_with_dry_run__plan_shown_then_applied(page, live_server, api, tmp_path):
    # Given
    api.create("alpha", "first")
    api.create("beta", "second")
    urls = []
    page.on("request", lambda request: urls.append(request.url))
    sign_in(page, live_server)
    open_screen(page, "Import and export")

    # When: the export is downloaded
    with page.expect_download() as download:
        page.get_by_role("button", name="Download export").click()

    # Then: the same document the API exports, fetched with the token in a header, never in a URL
    exported = json.loads(download.value.path().read_text())
    assert [flag["name"] for flag in exported["flags"]] == ["alpha", "beta"]
    assert download.value.path().read_text() == api.session.get(f"{live_server}/export").text
    assert all(ADMIN_TOKEN not in url for url in urls)

    # When: an edited copy is uploaded and previewed
    exported["flags"][0]["description"] = "first, imported"
    exported["flags"].append({**exported["flags"][1], "name": "gamma", "description": "new"})
    document = tmp_path / "edited.json"
    document.write_text(json.dumps(exported))
    form = page.get_by_role("form", name="Import")
    form.get_by_label("Document").set_input_files(document)
    form.get_by_role("button", name="Preview import").click()

    # Then: the plan, and nothing written yet
    plan = page.get_by_role("region", name="What the import does")
    expect(plan).to_contain_text("A dry run: nothing has been written yet.")
    expect(plan.locator(".fact").filter(has_text="Created flags")).to_contain_text("gamma")
    expect(plan.locator(".fact").filter(has_text="Updated flags")).to_contain_text("alpha")
    expect(plan.locator(".fact").filter(has_text="Unchanged flags")).to_contain_text("beta")
    assert api.flag("gamma").status_code == 404

    # When: applied
    plan.get_by_role("button", name="Apply import").click()

    # Then
    expect(page.get_by_role("region", name="Imported")).to_contain_text("Done: 2 flags changed.")
    assert api.flag("gamma").status_code == 200
    assert api.flag("alpha").json()["description"] == "first, imported"
    imported = api.session.get(f"{live_server}/audit", params={"action": "flags.imported"}).json()["events"]
    assert [(event["after"]["created"], event["after"]["updated"]) for event in imported] == [(1, 1)]

    # When: the audit log is read
    open_screen(page, "Audit log")

    # Then: the import in words, and its flags' changes marked as part of it
    changes = page.get_by_role("list", name="Changes, newest first").get_by_role("listitem")
    expect(changes.first).to_contain_text("Imported a feature-flags/v1 document (upsert): flags 1 created, 1 updated")
    expect(changes.filter(has_text="Changed the description")).to_contain_text("as part of an import")
    expect(changes.filter(has_text="Created").filter(has_text="gamma")).to_contain_text("as part of an import")


def test_transfer__document_refused__errors_under_file_field_name_the_flag(page, live_server, api, tmp_path):
    # Given: a document whose second flag has a bad name, and a file that is not JSON at all
    document = tmp_path / "bad.json"
    document.write_text(json.dumps({"format": "feature-flags/v1", "flags": [{"name": "ok"}, {"name": "has space"}]}))
    not_json = tmp_path / "notes.json"
    not_json.write_text("not json")
    sign_in(page, live_server)
    open_screen(page, "Import and export")
    form = page.get_by_role("form", name="Import")

    # When
    form.get_by_label("Document").set_input_files(not_json)
    form.get_by_role("button", name="Preview import").click()

    # Then
    expect(page.locator("#import-file-error")).to_contain_text("notes.json is not JSON")

    # When
    form.get_by_label("Document").set_input_files(document)
    form.get_by_role("button", name="Preview import").click()

    # Then
    expect(form.get_by_label("Document")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#import-file-error")).to_contain_text("Flag has space (name)")
    expect(page.get_by_role("region", name="What the import does")).to_be_hidden()
    assert api.flag("ok").status_code == 404


# -- every admin screen: keyboard, contrast, names, 360 px -------------------------------------


def test_keyboard__only__token_created_and_revoked(page, live_server, api):
    # Given
    sign_in(page, live_server)
    page.get_by_role("navigation", name="Screens").get_by_role("link", name="Tokens").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="SDK tokens")).to_be_visible()

    # When: the form filled and sent from the keyboard alone
    assert tab_to(page, lambda label: label == "Name")
    page.keyboard.type("keyboard-reader")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "token-environment"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")

    # Then: the secret is focused and selected, and the copy button a Tab away
    secret = page.get_by_label("Secret of keyboard-reader")
    expect(secret).to_be_focused()
    listed = api.session.get(f"{live_server}/tokens").json()
    assert [(token["name"], token["environment"]) for token in listed] == [("keyboard-reader", "staging")]
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "keyboard focus is visible"
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Copy")).to_be_focused()

    # When: revoked through the dialog from the keyboard
    assert tab_to(page, lambda label: label == "Revoke keyboard-reader")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Revoke keyboard-reader?")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")

    # Then
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("heading", name="keyboard-reader")).to_have_count(0)
    assert all(token["name"] != "keyboard-reader" for token in api.session.get(f"{live_server}/tokens").json())


ADMIN_SCREENS = [
    ("tokens", "SDK tokens"),
    ("audit", "Audit log"),
    ("evaluate", "One user, every flag"),
    ("segments", "Segments"),
    ("context-fields", "Context fields"),
    ("webhooks", "Webhooks"),
    ("transfer", "Import and export"),
]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_admin_screens__both_themes__readable_named_and_fit_360px(browser, live_server, api, watch, theme):
    # Given: something on every screen
    api.client_token("production")
    flag = api.create("new-checkout", "The redesigned checkout")
    api.update(flag["_id"], targeting={"production": {"rules": [], "serve": {"on": 25, "off": 75}}})
    segment = {"name": "beta-users", "conditions": [{"attribute": "plan", "op": "in", "values": ["pro"]}]}
    assert api.session.post(f"{live_server}/segments", json=segment).status_code == 201
    webhook = {"url": "http://127.0.0.1:9/hook", "events": ["*"]}
    assert api.session.post(f"{live_server}/webhooks", json=webhook).status_code == 201
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: dict[str, list[str]] = {}

    for width, height in [(1100, 760), (360, 740)]:
        context = browser.new_context(color_scheme=theme, viewport={"width": width, "height": height})
        context.on("page", watch.attach)
        page = context.new_page()
        suffix = theme if width > 400 else f"{theme}-360px"
        try:
            sign_in(page, live_server)
            for name, heading in ADMIN_SCREENS:
                # When
                page.goto(f"{live_server}/?page={name}")
                expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
                expect(page.get_by_role("status").first).not_to_have_text(re.compile("Loading"))
                if name == "webhooks":
                    page.get_by_role("button", name="Delivery log of http://127.0.0.1:9/hook").click()
                    expect(page.get_by_role("region", name="Deliveries to http://127.0.0.1:9/hook")).to_be_visible()
                if name == "evaluate":
                    page.get_by_role("form", name="Whose answers").get_by_label("targetingKey").fill("user-42")
                    page.get_by_role("button", name="Evaluate every flag").click()
                    expect(page.locator("#evaluate-rows tr")).not_to_have_count(0)
                if name == "audit":
                    expect(
                        page.get_by_role("list", name="Changes, newest first").get_by_role("listitem")
                    ).not_to_have_count(0)

                # Then
                problems[f"{name} {suffix}"] = page.evaluate(CONTRAST_FAILURES) + page.evaluate(NAMELESS_CONTROLS)
                fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
                assert fits, f"horizontal scrolling on {name} at {width}px"
                page.screenshot(path=SCREENSHOTS / f"{name}-{suffix}.png", full_page=True)
            if width > 400:
                page.goto(f"{live_server}/?page=segments")
                page.get_by_role("button", name="Edit beta-users").click()
                expect(page.get_by_role("dialog", name="Edit segment beta-users")).to_be_visible()
                problems[f"segment editor {suffix}"] = page.evaluate(CONTRAST_FAILURES) + page.evaluate(
                    NAMELESS_CONTROLS
                )
                page.screenshot(path=SCREENSHOTS / f"segment-editor-{suffix}.png")
        finally:
            context.close()

    assert {screen: found for screen, found in problems.items() if found} == {}
    assert watch.problems == []


# -- live ------------------------------------------------------------------------------------------


def test_live__segment_and_change_made_elsewhere__shown_on_the_open_screens(page, live_server, api, no_polling):
    # Given: the segments screen open
    sign_in(page, live_server)
    open_screen(page, "Segments")
    expect(page.get_by_role("status").first).not_to_have_text(re.compile("Loading"))

    # When: a segment is created elsewhere
    created = api.session.post(
        f"{live_server}/segments",
        json={"name": "made-elsewhere", "conditions": [{"attribute": "plan", "op": "in", "values": ["pro"]}]},
    )
    assert created.status_code == 201

    # Then: it is listed, from the event stream (the page polls once in ten minutes here)
    expect(page.get_by_role("heading", name="made-elsewhere")).to_be_visible(timeout=5_000)

    # Given: the audit log open
    open_screen(page, "Audit log")
    changes = page.get_by_role("list", name="Changes, newest first").get_by_role("listitem")
    expect(changes).not_to_have_count(0)
    before = changes.count()

    # When: a flag is created elsewhere
    api.create("live-audit")

    # Then: its change is added at the top, once, as the API lists it first
    expect(changes).to_have_count(before + 1, timeout=5_000)
    expect(changes.first).to_contain_text("live-audit")
    newest = api.session.get(f"{live_server}/audit", params={"limit": 1}).json()["events"][0]
    assert newest["flag_name"] == "live-audit"


def test_tokens__revoking_the_token_signed_in_with__the_dialog_says_so_first(page, live_server, api):
    # Given: the page signed in with an admin token made for a person, and another token beside it
    made = api.session.post(f"{live_server}/tokens", json={"name": "my-admin", "role": "admin"}).json()
    api.client_token("production")
    me = requests.get(f"{live_server}/auth/me", headers={"Authorization": f"Bearer {made['token']}"}, timeout=10)
    assert me.json()["token_id"] == made["id"]
    sign_in(page, live_server, made["token"])
    page.get_by_role("navigation", name="Screens").get_by_role("link", name="Tokens").click()

    # When: another token's revoke is started, the dialog is the usual one
    page.get_by_role("button", name="Revoke reader-production").click()
    expect(page.get_by_role("dialog", name="Revoke reader-production?")).to_be_visible()
    page.keyboard.press("Escape")

    # When: the token in use is the one to revoke
    page.get_by_role("button", name="Revoke my-admin").click()

    # Then: the dialog says it is the one signed in with, and what revoking it does to this page
    dialog = page.get_by_role("dialog", name="Revoke my-admin, the token you are signed in with?")
    expect(dialog).to_contain_text("you are signed out the moment it is revoked")
    page.keyboard.press("Escape")
    listed = [token["name"] for token in api.session.get(f"{live_server}/tokens").json()]
    assert "my-admin" in listed


# -- one user, every flag ------------------------------------------------------------------------


def test_one_user__every_flag_answered_with_reason_and_matched_rule_linked(page, live_server, api):
    # Given: a flag with a rule for pro plans, one off in production, one on for everyone
    api.create("new-checkout", production=True)
    rule = {"when": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}
    api.update("new-checkout", targeting={"production": {"rules": [rule], "serve": "off"}})
    api.create("dark-mode", production=False)
    api.create("search-v2", production=True)
    sign_in(page, live_server)
    open_screen(page, "One user")

    # When: a pro user's answers in production are asked for
    form = page.get_by_role("form", name="Whose answers")
    form.get_by_label("Environment").select_option("production")
    form.get_by_label("targetingKey").fill("user-42")
    form.get_by_label("Other attributes (JSON object)").fill('{"plan": "pro"}')
    form.get_by_role("button", name="Evaluate every flag").click()

    # Then: every flag is listed with OFREP's answer, in words, and the matched rule links to its flag
    expect(page.get_by_role("status").filter(has_text="3 flags for “user-42” in Production")).to_be_visible()
    rows = page.locator("#evaluate-rows")
    checkout = rows.locator('tr[data-flag="new-checkout"]')
    expect(checkout).to_contain_text("true")
    expect(checkout).to_contain_text("a rule matched (TARGETING_MATCH)")
    expect(rows.locator('tr[data-flag="dark-mode"]')).to_contain_text("off in this environment (DISABLED)")
    expect(rows.locator('tr[data-flag="search-v2"]')).to_contain_text("everyone gets it (no rules) (STATIC)")
    answered = requests.post(
        f"{live_server}/ofrep/v1/evaluate/flags",
        params={"environment": "production"},
        json={"context": {"targetingKey": "user-42", "plan": "pro"}},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    ).json()
    for answer in answered["flags"]:
        expect(rows.locator(f'tr[data-flag="{answer["key"]}"] td').first).to_have_text(json.dumps(answer["value"]))

    # When: the same key is asked for again later, the attributes come back with it
    page.reload()
    form.get_by_label("targetingKey").fill("user-42")
    form.get_by_label("targetingKey").dispatch_event("change")
    expect(form.get_by_label("Other attributes (JSON object)")).to_have_value('{"plan":"pro"}')

    # When: the matched rule is followed (from a fresh answer)
    form.get_by_role("button", name="Evaluate every flag").click()
    rows.locator('tr[data-flag="new-checkout"]').get_by_role("link", name="Rule 1").click()

    # Then: the flag's page opens on that environment
    expect(page.get_by_role("heading", name="new-checkout", level=1)).to_be_visible()
    expect(page.get_by_role("tab", name="Production")).to_have_attribute("aria-selected", "true")


# -- context fields ------------------------------------------------------------------------------


def test_context_fields__described_from_what_applications_send_changed_and_removed(page, live_server, api, app):
    # Given: an application's contexts in production carried "plan", counted and flushed
    api.create("checkout", production=True)
    answered = api.session.post(
        f"{live_server}/ofrep/v1/evaluate/flags/checkout?environment=production",
        json={"context": {"targetingKey": "u-1", "plan": "pro"}},
    )
    assert answered.status_code == 200, answered.text
    usage_recorder(app).flush()
    sign_in(page, live_server)
    open_screen(page, "Context fields")

    # Then: what applications send is listed, and offered as a name to describe
    seen = page.get_by_role("table").filter(has_text="Contexts")
    expect(seen.get_by_role("row", name="plan Production 1")).to_be_visible()
    expect(page.locator("#context-field-seen-names option[value=plan]")).to_have_count(1)

    # When: "plan" is described, with a value repeated (refused in a sentence), then correctly
    form = page.get_by_role("form", name="Describe a field")
    form.get_by_label("Name").fill("plan")
    form.get_by_label("Description").fill("The customer's subscription")
    form.get_by_label("Known values (comma-separated, optional)").fill("free, pro, pro")
    form.get_by_role("button", name="Describe field").click()
    expect(page.locator("#context-field-values-error")).to_have_text("Name each known value once.")
    form.get_by_label("Known values (comma-separated, optional)").fill("free, pro")
    form.get_by_role("button", name="Describe field").click()

    # Then: listed, and the API has it
    item = page.locator('li[data-field="plan"]')
    expect(item).to_contain_text("The customer's subscription")
    expect(item).to_contain_text("free, pro")
    (described,) = api.session.get(f"{live_server}/context-fields").json()["fields"]
    assert (described["name"], described["type"], described["values"]) == ("plan", "string", ["free", "pro"])

    # When: its values change, then its description is removed
    item.get_by_role("button", name="Edit plan").click()
    page.get_by_role("form", name="Change the description of plan").get_by_label(
        "Known values (comma-separated, optional)"
    ).fill("free, pro, team")
    page.get_by_role("button", name="Save changes").click()
    expect(item).to_contain_text("free, pro, team")
    item.get_by_role("button", name="Remove the description of plan").click()

    # Then: gone from the descriptions (what applications send is still listed), and each step audited
    expect(page.locator('li[data-field="plan"]')).to_have_count(0)
    expect(seen.get_by_role("row", name="plan Production 1")).to_be_visible()
    assert api.session.get(f"{live_server}/context-fields").json()["fields"] == []
    actions = [e["action"] for e in api.session.get(f"{live_server}/audit").json()["events"][:3]]
    assert actions == ["context_field.deleted", "context_field.updated", "context_field.created"]

"""Signing in with OpenID Connect over real HTTP: the service, its Authlib client and a provider on loopback.

Each refusal (a forged, expired, other-audience or other-issuer ID token, a replayed state, a change without the
CSRF token, a deactivated person) is checked to leave nothing changed: no session, no user, no flag written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from pymongo import MongoClient

from feature_flags import create_app
from tests import support
from tests.people.provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider
from tests.support import auth, free_port


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        yield running


@contextmanager
def serving(config, provider: Provider, **changes) -> Iterator[str]:
    """The service with single sign-on through the test provider (settings changed), on a real server."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(
        replace(
            config,
            oidc_issuer=provider.issuer,
            oidc_client_id=CLIENT_ID,
            oidc_client_secret=CLIENT_SECRET,
            public_url=base,
            **changes,
        )
    )
    try:
        with support.serving(app, port):
            yield base
    finally:
        app.extensions["feature_flags.store"].client.close()


@pytest.fixture
def sso(config, provider) -> Iterator[str]:
    """The service with single sign-on through the test provider; yields its base URL."""
    with serving(config, provider) as base:
        yield base


def begin(base: str) -> tuple[requests.Session, str]:
    """Start signing in as a browser would; return the browser and the provider's redirect back (not yet taken)."""
    browser = requests.Session()
    to_provider = browser.get(f"{base}/auth/oidc/login", allow_redirects=False)
    assert to_provider.status_code == 302, to_provider.text
    asked = parse_qs(urlsplit(to_provider.headers["Location"]).query)
    # The flow the issue asks for: code flow, PKCE with S256, a state and a nonce.
    assert asked["response_type"] == ["code"] and asked["code_challenge_method"] == ["S256"]
    assert asked["state"][0] and asked["nonce"][0] and asked["code_challenge"][0]
    back = browser.get(to_provider.headers["Location"], allow_redirects=False)
    assert back.status_code == 302
    return browser, back.headers["Location"]


def sign_in(base: str) -> requests.Session:
    """Sign in through the provider; return the browser holding the session cookie."""
    browser, callback = begin(base)
    landed = browser.get(callback, allow_redirects=False)
    assert landed.status_code == 303, landed.text
    assert landed.headers["Location"] == "/"
    return browser


def signed_in(browser: requests.Session, base: str) -> dict:
    answer = browser.get(f"{base}/auth/session")
    assert answer.status_code == 200, answer.text
    return answer.json()


def users(base: str) -> list[dict]:
    answer = requests.get(f"{base}/users", headers=auth(), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_sign_in__through_the_provider__session_cookie_names_the_person(sso, provider):
    # When
    browser = sign_in(sso)

    # Then: an HttpOnly, SameSite=Lax session cookie (not Secure: this address is plain http)
    cookie = next(c for c in browser.cookies if c.name == "ff_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite") == "Lax"
    assert not cookie.secure
    # And the session says who it is, with a CSRF token
    session = signed_in(browser, sso)
    assert session["user"]["email"] == "ada@example.com"
    assert session["user"]["role"] == "viewer"
    assert len(session["csrf_token"]) >= 32
    # And the person is a user now, created on first sign-in, audited
    assert [(u["subject"], u["role"], u["active"]) for u in users(sso)] == [("user-1", "viewer", True)]
    events = requests.get(f"{sso}/audit", params={"action": "user.created"}, headers=auth(), timeout=10).json()
    assert [e["after"]["email"] for e in events["events"]] == ["ada@example.com"]


def test_sign_out__session_ends__cookie_no_longer_admits(sso, provider):
    # Given
    browser = sign_in(sso)
    csrf = signed_in(browser, sso)["csrf_token"]
    stolen = browser.cookies.get("ff_session")

    # When
    out = browser.post(f"{sso}/auth/logout", headers={"X-CSRF-Token": csrf})

    # Then: ended in the database, so even a copy of the cookie is refused
    assert out.status_code == 204
    replay = requests.get(f"{sso}/flags", cookies={"ff_session": stolen}, timeout=10)
    assert replay.status_code == 401


@pytest.mark.parametrize("mode", ["forged", "expired", "audience", "issuer", "nonce"])
def test_sign_in__bad_id_token__refused_and_nothing_made(sso, provider, mode):
    # Given: the provider answers with an ID token that is wrong in one way
    provider.mode = mode

    # When
    browser, callback = begin(sso)
    landed = browser.get(callback, allow_redirects=False)

    # Then: sent back to the page with the reason, no session, no user
    assert landed.status_code == 303
    assert landed.headers["Location"] == "/?sign_in_error=token"
    assert "ff_session" not in browser.cookies
    assert provider.redeemed == 1
    assert users(sso) == []
    assert browser.get(f"{sso}/auth/session").status_code == 401


def test_sign_in__state_replayed__refused(sso, provider):
    # Given: a sign-in completed
    browser, callback = begin(sso)
    assert browser.get(callback, allow_redirects=False).status_code == 303
    replayer = requests.Session()
    replayer.cookies.update({c.name: c.value for c in browser.cookies if c.name == "ff_sign_in"})

    # When: the same callback (state and code) is sent again, with the browser's sign-in cookie
    again = replayer.get(callback, allow_redirects=False)

    # Then: the state was used once and is gone; no second session
    assert again.status_code == 303
    assert again.headers["Location"] == "/?sign_in_error=state"
    assert "ff_session" not in replayer.cookies
    assert provider.redeemed == 1


def test_sign_in__state_from_another_browser__refused(sso, provider):
    # Given: an attacker's own sign-in, whose callback link is handed to a victim's browser (login CSRF)
    _attacker, callback = begin(sso)
    victim = requests.Session()

    # When
    landed = victim.get(callback, allow_redirects=False)

    # Then
    assert landed.headers["Location"] == "/?sign_in_error=state"
    assert "ff_session" not in victim.cookies


def test_change__with_session_but_no_csrf_token__refused_and_nothing_changed(sso, provider):
    # Given: an editor signed in
    browser = sign_in(sso)
    user_id = signed_in(browser, sso)["user"]["_id"]
    assert requests.patch(f"{sso}/users/{user_id}", json={"role": "editor"}, headers=auth(), timeout=10).ok

    # When: a change without the token (what a cross-site form could send), and one with a wrong token
    missing = browser.post(f"{sso}/flags", json={"name": "from-elsewhere"})
    wrong = browser.post(f"{sso}/flags", json={"name": "from-elsewhere"}, headers={"X-CSRF-Token": "guess"})

    # Then
    assert missing.status_code == 403 and missing.json()["error"] == "csrf_token_missing"
    assert wrong.status_code == 403
    assert requests.get(f"{sso}/flags/from-elsewhere", headers=auth(), timeout=10).status_code == 404
    # And with it, the change is made, and the audit trail names the person
    csrf = signed_in(browser, sso)["csrf_token"]
    made = browser.post(f"{sso}/flags", json={"name": "from-ada"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    history = requests.get(f"{sso}/flags/from-ada/history", headers=auth(), timeout=10).json()
    event = history["events"][0] if isinstance(history, dict) else history[0]
    assert event["actor"] == "ada@example.com"
    assert event["person"] == {"subject": "user-1", "name": "Ada", "email": "ada@example.com"}


def test_roles__viewer_reads_editor_changes_flags_admin_manages_people(sso, provider):
    # Given: a viewer signed in
    browser = sign_in(sso)
    me = signed_in(browser, sso)
    headers = {"X-CSRF-Token": me["csrf_token"]}
    assert requests.post(f"{sso}/flags", json={"name": "existing"}, headers=auth(), timeout=10).status_code == 201

    # Then: a viewer reads every environment and the audit trail, and changes nothing
    assert browser.get(f"{sso}/flags", params={"environment": "production"}).status_code == 200
    assert browser.get(f"{sso}/audit").status_code == 200
    assert (
        browser.post(f"{sso}/flags/existing/toggle", json={"environment": "staging"}, headers=headers).status_code
        == 403
    )
    assert browser.get(f"{sso}/tokens").status_code == 403

    # When: an admin makes them an editor
    promoted = requests.patch(f"{sso}/users/{me['user']['_id']}", json={"role": "editor"}, headers=auth(), timeout=10)
    assert promoted.status_code == 200 and promoted.json()["role"] == "editor"

    # Then: flags change; tokens, webhooks and people stay the admins'
    toggled = browser.post(f"{sso}/flags/existing/toggle", json={"environment": "staging"}, headers=headers)
    assert toggled.status_code == 200, toggled.text
    assert browser.get(f"{sso}/tokens").status_code == 403
    assert browser.get(f"{sso}/webhooks").status_code == 403
    assert browser.get(f"{sso}/users").status_code == 403
    assert browser.patch(f"{sso}/users/{me['user']['_id']}", json={"role": "admin"}, headers=headers).status_code == 403
    # And the role change is audited, with who made it
    events = requests.get(f"{sso}/audit", params={"action": "user.updated"}, headers=auth(), timeout=10).json()
    assert [(e["actor"], e["before"]["role"], e["after"]["role"]) for e in events["events"]] == [
        ("bootstrap", "viewer", "editor")
    ]


def test_deactivated__sessions_end_at_once_and_sign_in_refused(sso, provider, make_app):
    # Given: a person signed in, and a second instance of the service over the same database
    browser = sign_in(sso)
    user_id = signed_in(browser, sso)["user"]["_id"]
    other = make_app(
        oidc_issuer=provider.issuer, oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET, public_url=sso
    ).test_client()
    other.set_cookie("ff_session", browser.cookies.get("ff_session"))
    assert other.get("/flags").status_code == 200

    # When: an admin deactivates them
    off = requests.patch(f"{sso}/users/{user_id}", json={"active": False}, headers=auth(), timeout=10)

    # Then: their session is refused here and on the other instance
    assert off.status_code == 200 and off.json()["active"] is False
    assert browser.get(f"{sso}/flags").status_code == 401
    assert other.get("/flags").status_code == 401
    # And signing in again is refused, with no new session
    again, callback = begin(sso)
    landed = again.get(callback, allow_redirects=False)
    assert landed.headers["Location"] == "/?sign_in_error=inactive"
    assert "ff_session" not in again.cookies
    assert again.get(f"{sso}/auth/session").status_code == 401


UNVOUCHED_ADDRESSES = [
    {"email": "eve@example.org"},
    {"email": "eve@example.org", "email_verified": "false"},
    {"email": "eve@example.org", "email_verified": "true"},
    {"email": "eve@example.org", "email_verified": 0},
    {"email": "eve@example.org", "email_verified": 1},
    {"email": "eve@example.org", "email_verified": False},
    {"email": "o@evil.example@example.org", "email_verified": True},
    {"email": "eve @example.org", "email_verified": True},
    {"email": "@example.org", "email_verified": True},
    {"email": "eve@example.org.", "email_verified": True},
    {"email": ["eve@example.org"], "email_verified": True},
]


def test_allowed_domains__other_domain_unverified_or_malformed_refused(config, provider):
    with serving(config, provider, oidc_allowed_domains=("example.org",)) as base:
        # When: ada@example.com signs in
        browser, callback = begin(base)
        landed = browser.get(callback, allow_redirects=False)

        # Then
        assert landed.headers["Location"] == "/?sign_in_error=domain"
        assert users(base) == []

        # When: addresses of the allowed domain that the provider has not vouched for, or that are not one address
        for index, claims in enumerate(UNVOUCHED_ADDRESSES):
            provider.claims = {"sub": f"eve-{index}", **claims}
            browser, callback = begin(base)
            landed = browser.get(callback, allow_redirects=False)
            # Then: each is refused, and nobody is made
            assert landed.headers["Location"] == "/?sign_in_error=domain", claims
        assert users(base) == []

        # When: someone of the allowed domain, verified
        provider.claims = {"sub": "user-2", "email": "bob@example.org", "email_verified": True}
        assert sign_in(base).cookies.get("ff_session")
        assert [u["email"] for u in users(base)] == ["bob@example.org"]


def test_roles_claim__groups_decide_the_role_at_each_sign_in(config, provider):
    # Given: roles from the provider's "groups" claim
    with serving(config, provider, oidc_roles_claim="groups") as base:
        provider.claims = {**provider.claims, "groups": ["staff", "editor"]}
        assert signed_in(sign_in(base), base)["user"]["role"] == "editor"
        # When: the provider's groups change
        provider.claims = {**provider.claims, "groups": ["admin"]}
        browser = sign_in(base)
        # Then: the next sign-in takes them, and the admin reads the users
        assert signed_in(browser, base)["user"]["role"] == "admin"
        assert browser.get(f"{base}/users").status_code == 200


def test_roles_claim__per_environment__editor_in_staging_reads_production(config, provider):
    # Given: groups naming a role per environment (and ones for an environment that does not exist, or none)
    with serving(config, provider, oidc_roles_claim="groups") as base:
        provider.claims = {
            **provider.claims,
            "groups": "viewer editor:staging editor:development admin:moon editor: admin: :admin",
        }
        browser = sign_in(base)
        me = signed_in(browser, base)
        assert requests.post(f"{base}/flags", json={"name": "checkout"}, headers=auth(), timeout=10).ok

        # Then: the person is a viewer, an editor in staging and development
        assert me["user"]["role"] == "viewer"
        assert me["user"]["environment_roles"] == {"development": "editor", "staging": "editor"}
        headers = {"X-CSRF-Token": me["csrf_token"]}
        staging = browser.post(f"{base}/flags/checkout/toggle", json={"environment": "staging"}, headers=headers)
        production = browser.post(f"{base}/flags/checkout/toggle", json={"environment": "production"}, headers=headers)
        assert staging.status_code == 200, staging.text
        assert production.status_code == 403
        flag = requests.get(f"{base}/flags/checkout", headers=auth(), timeout=10).json()
        assert flag["environments"] == {"development": False, "staging": True, "production": False}

        # When: the provider drops the staging group, the next sign-in drops the role there (audited)
        provider.claims = {**provider.claims, "groups": ["viewer"]}
        assert signed_in(sign_in(base), base)["user"]["environment_roles"] == {}
        events = requests.get(f"{base}/audit", params={"action": "user.updated"}, headers=auth(), timeout=10).json()
        assert events["events"][0]["actor"] == "identity provider"
        assert events["events"][0]["after"]["environment_roles"] == {}


def test_users__admin_sets_roles_per_environment(sso, provider):
    # Given: someone signed in
    browser = sign_in(sso)
    me = signed_in(browser, sso)
    user_id = me["user"]["_id"]

    # When: an admin makes them an editor who only reads production
    changed = requests.patch(
        f"{sso}/users/{user_id}",
        json={"role": "editor", "environment_roles": {"production": "viewer"}},
        headers=auth(),
        timeout=10,
    )
    bad = requests.patch(
        f"{sso}/users/{user_id}", json={"environment_roles": {"moon": "editor"}}, headers=auth(), timeout=10
    )
    admin_there = requests.patch(
        f"{sso}/users/{user_id}", json={"environment_roles": {"staging": "admin"}}, headers=auth(), timeout=10
    )

    # Then
    assert changed.status_code == 200, changed.text
    assert changed.json()["environment_roles"] == {"production": "viewer"}
    assert bad.status_code == 400 and bad.json()["details"][0]["field"] == "environment_roles"
    assert admin_there.status_code == 400
    roles = browser.get(f"{sso}/auth/me").json()["environments"]
    assert [(e["name"], e["role"]) for e in roles] == [
        ("development", "editor"),
        ("staging", "editor"),
        ("production", "viewer"),
    ]


def test_without_oidc__sign_in_routes_absent_and_tokens_unchanged(client, anonymous):
    assert anonymous.get("/auth/oidc/login").status_code == 404
    assert anonymous.get("/auth/session").status_code == 401
    assert client.get("/flags").status_code == 200


def test_sign_in_starts__past_the_limit__429_and_no_more_flows_stored(config, provider):
    with serving(config, provider, sign_in_limit="3/minute") as base:
        flows = MongoClient(config.mongo_uri)[config.mongo_db].oidc_flows
        # When: one address starts signing in five times without finishing
        starts = [requests.get(f"{base}/auth/oidc/login", allow_redirects=False, timeout=10) for _ in range(5)]

        # Then: three go to the provider, the rest are refused with Retry-After, and only three flows are kept
        assert [start.status_code for start in starts] == [302, 302, 302, 429, 429]
        assert int(starts[3].headers["Retry-After"]) >= 1
        assert starts[3].json()["error"] == "too_many_requests"
        assert flows.count_documents({}) == 3

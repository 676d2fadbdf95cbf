"""People signed in for API tests that are about what they may do, not how they signed in.

The user and the session are made in the database as a completed sign-in makes them (test_sign_in.py covers the
sign-in itself); the test client then carries the session cookie and its CSRF token, as the page does.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from feature_flags.storage.client import utcnow
from feature_flags.tokens.service import hash_secret

ISSUER = "https://id.example.test"
# Single sign-on configured (people are recognised by their cookie); the provider itself is never contacted here.
SSO_SETTINGS = {
    "oidc_issuer": ISSUER,
    "oidc_client_id": "feature-flags",
    "oidc_client_secret": "not-used-here",
    "public_url": "http://localhost",
}


def session_for(app, email: str, role: str, environment_roles: dict[str, str] | None = None) -> tuple[str, str]:
    """Make a new person with these roles and a session for them; return the cookie's secret and the CSRF token."""
    store = app.extensions["feature_flags.store"]
    user = store.sign_in_user(
        ISSUER,
        {"sub": email, "name": email.partition("@")[0], "email": email},
        (role, environment_roles or {}),
        "",
        None,
    )
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    store.create_session(hash_secret(secret), user["_id"], csrf, utcnow() + timedelta(hours=1))
    return secret, csrf


def person(app, email: str, role: str, environment_roles: dict[str, str] | None = None):
    """A test client signed in as a new person with these roles; its requests carry the CSRF token."""
    secret, csrf = session_for(app, email, role, environment_roles)
    client = app.test_client()
    client.set_cookie("ff_session", secret)
    client.environ_base["HTTP_X_CSRF_TOKEN"] = csrf
    return client

"""Signing in with OpenID Connect: the authorization code flow with PKCE, state and nonce, through Authlib.

Authlib checks the ID token (signature against the provider's published keys, issuer, audience, expiry, nonce);
its sign-in state (state, nonce, PKCE verifier) is kept in the database, bound to the browser by Flask's signed
session cookie, and used once: a replayed callback finds nothing.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app, g, redirect
from flask.sessions import SecureCookieSessionInterface
from joserfc.errors import JoseError

from ..extensions import get_store
from ..storage.client import utcnow
from ..web.throttle import throttle
from . import sessions
from .models import ENVIRONMENT_ROLES, USER_ROLES

logger = logging.getLogger(__name__)
OAUTH_KEY = "feature_flags.oidc"
# Seconds an ID token's times may be off by (clocks drift); Authlib's default is two minutes.
LEEWAY_SECONDS = 30
# Why a sign-in was refused, as the page is told (a closed set: never the provider's own text).
# A roles claim is the provider's, but bounded all the same: only this many of its values are read.
MAX_ROLE_VALUES = 100
REFUSALS = ("provider", "state", "token", "domain", "inactive")
LOGIN_ENDPOINT = "people.oidc_login"
# One local part without "@", spaces or controls, then a domain of dot-separated labels: a@b@example.com is not one.
WELL_FORMED_EMAIL = re.compile(
    r"[^@\s\x00-\x1f\x7f]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


class FlowStore:
    """Authlib's cache for the sign-in state, in the database (shared by every instance, expiring)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def get(self, key: str) -> str | None:
        return get_store(self.app).flow_get(key)

    def set(self, key: str, value: str, expires: int | None = None) -> None:
        get_store(self.app).flow_set(key, value, utcnow() + timedelta(seconds=expires or 600))

    def delete(self, key: str) -> None:
        get_store(self.app).flow_delete(key)


def init_app(app: Flask) -> None:
    """Register the provider with Authlib when FF_OIDC_ISSUER is set."""
    config = app.config["FF"]
    if not config.oidc_enabled:
        return
    # Flask's session carries only which sign-in this browser began (Authlib's marker): SameSite=Lax lets the
    # provider's redirect back bring it, HttpOnly keeps scripts from it.
    app.config.update(
        SESSION_COOKIE_NAME="ff_sign_in",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=(config.public_url or "").startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=10),
    )
    app.session_interface = SignInCookie()
    oauth = OAuth(app, cache=FlowStore(app))
    oauth.register(
        "oidc",
        client_id=config.oidc_client_id,
        client_secret=config.oidc_client_secret,
        server_metadata_url=f"{config.oidc_issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256", "timeout": 10},
    )
    app.extensions[OAUTH_KEY] = oauth.oidc
    # Each start stores a flow document (until it expires, 10 minutes on): bounded per address, across instances.
    login = app.view_functions[LOGIN_ENDPOINT]
    app.view_functions[LOGIN_ENDPOINT] = throttle(app).limiter.limit(config.sign_in_limit)(login)


class SignInCookie(SecureCookieSessionInterface):
    """Flask's signed cookie, its key read from the database when first needed (one for every instance)."""

    def get_signing_serializer(self, app: Flask):
        if not app.secret_key:
            app.secret_key = get_store(app).shared_secret("sign-in-cookie")
        return super().get_signing_serializer(app)


def _client():
    return current_app.extensions[OAUTH_KEY]


def start():
    """Send the browser to the provider, remembering (once) the state, nonce and PKCE verifier."""
    client = _client()
    metadata = client.load_server_metadata()
    issuer = current_app.config["FF"].oidc_issuer
    if metadata.get("issuer", "").rstrip("/") != issuer:
        # The discovery document must speak for the issuer configured, or tokens would be checked against another.
        logger.warning("sign-in refused: the provider's discovery names another issuer")
        return _refused("provider")
    return client.authorize_redirect(f"{current_app.config['FF'].public_url}/auth/oidc/callback")


def _refused(reason: str):
    return redirect(f"/?sign_in_error={reason}", code=303)


def finish():
    """Take the provider's answer: check it, find or create the user, start their session, go to the page."""
    config = current_app.config["FF"]
    client = _client()
    try:
        token = client.authorize_access_token(
            claims_options={
                "iss": {"essential": True, "values": [config.oidc_issuer]},
                "aud": {"essential": True, "values": [config.oidc_client_id]},
            },
            leeway=LEEWAY_SECONDS,
        )
    except OAuthError as error:
        reason = "state" if error.error == "mismatching_state" else "token"
        logger.warning("sign-in refused", extra={"reason": reason, "oauth_error": error.error})
        return _refused(reason)
    except (JoseError, ValueError, KeyError) as error:
        logger.warning("sign-in refused", extra={"reason": "token", "jose_error": type(error).__name__})
        return _refused("token")
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        logger.warning("sign-in refused", extra={"reason": "token", "detail": "no ID token"})
        return _refused("token")
    if not _domain_allowed(claims, config.oidc_allowed_domains):
        logger.warning("sign-in refused", extra={"reason": "domain"})
        return _refused("domain")
    store = get_store()
    user = store.sign_in_user(
        config.oidc_issuer,
        {key: _text(claims.get(key)) for key in ("sub", "name", "email")},
        _role_from_claims(claims, config.oidc_roles_claim),
        "viewer",
        g.get("request_id"),
    )
    if not user["active"]:
        logger.warning("sign-in refused", extra={"reason": "inactive"})
        return _refused("inactive")
    response = redirect("/", code=303)
    sessions.begin(response, user["_id"])
    return response


def _text(value: Any) -> str | None:
    # Claims are the provider's, but bounded here all the same: they are shown and stored.
    return value[:320] if isinstance(value, str) else None


def _domain_allowed(claims: dict[str, Any], domains: tuple[str, ...]) -> bool:
    """Whether the person's address is in an allowed domain: well formed, and verified by the provider.

    Only `email_verified: true` (the JSON boolean) counts: absent, "false", 0 or "true" as a string is a provider
    that has not vouched for the address, and anyone can type one of our domains into a self-service account.
    """
    if not domains:
        return True
    email = claims.get("email")
    if claims.get("email_verified") is not True or not isinstance(email, str) or not WELL_FORMED_EMAIL.fullmatch(email):
        return False
    return email.rpartition("@")[2].lower() in domains


def _role_from_claims(claims: dict[str, Any], claim: str | None) -> tuple[str, dict[str, str]] | None:
    """The roles the roles claim names (a list, or a space-separated string), None when no claim is configured.

    "editor" is a role everywhere, "editor:staging" one environment's; the highest named wins each. A person
    the claim names no role for is a viewer.
    """
    if claim is None:
        return None
    values = claims.get(claim)
    if isinstance(values, str):
        values = values.split()
    if not isinstance(values, list):
        values = []
    environments = current_app.config["FF"].environments
    role = "viewer"
    environment_roles: dict[str, str] = {}
    for value in values[:MAX_ROLE_VALUES]:
        if not isinstance(value, str):
            continue
        named, colon, environment = value.partition(":")
        if named not in USER_ROLES or (colon and not environment):
            # "editor:" names no environment: read as everywhere, a typo in the provider would grant too much.
            continue
        if not environment:
            role = max(role, named, key=USER_ROLES.index)
        elif environment in environments and named in ENVIRONMENT_ROLES:
            environment_roles[environment] = max(
                environment_roles.get(environment, "viewer"), named, key=USER_ROLES.index
            )
    # A role per environment only says something where it differs from the role everywhere.
    return role, {
        environment: named
        for environment, named in environment_roles.items()
        if USER_ROLES.index(named) > USER_ROLES.index(role)
    }


def describe_session(user: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
    """The body of GET /auth/session."""
    return {
        "user": user,
        "csrf_token": session["csrf"],
        "environments": list(current_app.config["FF"].environments),
    }

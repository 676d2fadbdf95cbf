"""/auth (signing in and out with the identity provider, the session) and /users (admins manage people)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify

from ..errors import NotFound, Unauthorized, ValidationFailed
from ..extensions import get_store
from ..tokens.access import actor_name, authenticate, require_admin
from ..validation import parse
from ..web.bodies import read_json_object
from ..web.openapi import documented
from . import oidc, sessions
from .models import Caller, SignedIn, User, UserChange

bp = Blueprint("people", __name__)


def _require_oidc() -> None:
    if not current_app.config["FF"].oidc_enabled:
        raise NotFound("Single sign-on is not configured here (FF_OIDC_ISSUER).")


@bp.get("/auth/oidc/login")
@documented(
    "Begin signing in with the identity provider: a redirect to it (authorization code flow with PKCE)",
    status=302,
    errors=[404],
    public=True,
)
def oidc_login():
    _require_oidc()
    return oidc.start()


@bp.get("/auth/oidc/callback")
@documented(
    "Where the provider sends the browser back: the session cookie is set and the browser goes to the page; a "
    "refused sign-in goes to the page with ?sign_in_error=provider|state|token|domain|inactive",
    status=303,
    errors=[404],
    public=True,
)
def oidc_callback():
    _require_oidc()
    return oidc.finish()


@bp.get("/auth/session")
@documented("Who the session cookie signs in, and the CSRF token its changes carry", response=SignedIn, errors=[401])
def current_session():
    found = sessions.current()
    if found is None:
        raise Unauthorized("No one is signed in with this browser.")
    session, user = found
    response = jsonify(oidc.describe_session(user, session))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/auth/me")
@documented(
    "Who is calling (a token or a signed-in person) and their role in each environment, for a page to offer "
    "the controls that will work",
    response=Caller,
)
def who_am_i():
    principal = authenticate()
    config = current_app.config["FF"]
    response = jsonify(
        {
            "name": str(principal.name),
            "kind": "person" if principal.user_id is not None else "token",
            "role": principal.role,
            "user_id": principal.user_id,
            "token_id": principal.token_id if principal.user_id is None else None,
            "environments": [
                {"name": name, "role": role, "approvals": name in config.approvals}
                for name, role in principal.roles(config.environments).items()
            ],
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/auth/logout")
@documented(
    "Sign out: the session ends (on every instance) and its cookie is cleared; without a session, nothing to do",
    status=204,
    errors=[403],
    public=True,
)
def logout():
    found = sessions.current()
    if found is not None:
        sessions.check_csrf(found[0])
    response = Response(status=204)
    sessions.end(response)
    return response


@bp.get("/users")
@documented("List the people who have signed in, for admins", response=list[User], errors=[403])
def list_users():
    require_admin()
    return jsonify(get_store().list_users())


@bp.patch("/users/<user_id>")
@documented(
    "Change a person's role, their roles per environment, or deactivate them (their sessions end at once "
    "everywhere), for admins; audited",
    body=UserChange,
    response=User,
    errors=[400, 403, 404],
)
def change_user(user_id: str):
    principal = require_admin()
    changes = parse(UserChange, read_json_object(), current_app.config["FF"].environments).model_dump(exclude_none=True)
    if not changes:
        raise ValidationFailed(
            "Give role, environment_roles or active.",
            details=[{"field": "role", "message": "nothing to change", "type": "missing"}],
        )
    if principal.user_id == user_id and (changes.get("active") is False or changes.get("role", "admin") != "admin"):
        # An admin cannot lock themselves out; another admin (or an admin token) can.
        raise ValidationFailed(
            "You cannot demote or deactivate yourself.",
            details=[{"field": "role", "message": "not your own account", "type": "self_change"}],
        )
    return jsonify(get_store().change_user(user_id, changes, actor_name(), g.request_id))

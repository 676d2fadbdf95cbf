"""Who is calling: bearer tokens, their roles, and the checks routes ask for."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Collection
from dataclasses import dataclass

from flask import Flask, current_app, g, request

from ..audit.actors import Person
from ..cache import Snapshot, current_snapshot
from ..errors import Forbidden, Unauthorized, UnknownEnvironment
from ..extensions import TOKEN_USE_KEY, get_metrics, get_store
from ..people import sessions
from ..web.throttle import throttle
from .service import BOOTSTRAP_ACTOR, hash_secret
from .use import TokenUse

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """The caller of a request, as its token describes it."""

    name: str
    role: str
    environment: str | None = None
    token_id: str | None = None
    # A person signed in through the identity provider (a session cookie), not a token.
    user_id: str | None = None
    # A person's role where it differs from `role`, as (environment, role) pairs: editor in staging, say.
    environment_roles: tuple[tuple[str, str], ...] = ()
    # A person's session (its id, the hash of the cookie's secret): what their event streams last as long as.
    session_id: str | None = None

    @property
    def is_admin(self) -> bool:
        """Whether this caller may change everything (tokens, webhooks, users, imports too)."""
        return self.role == "admin"

    def role_in(self, environment: str) -> str | None:
        """The caller's role in one environment; None where a bound token has no access at all."""
        if self.environment is not None and environment != self.environment:
            return None
        if self.role == "admin":
            # An admin manages the people and tokens that hold every other role: limiting one is pointless.
            return "admin"
        return dict(self.environment_roles).get(environment, self.role)

    def may_edit_in(self, environment: str) -> bool:
        """Whether this caller may change flags in this environment."""
        return self.role_in(environment) in EDITING_ROLES

    def roles(self, environments: Collection[str]) -> dict[str, str | None]:
        """The caller's role in each environment."""
        return {environment: self.role_in(environment) for environment in environments}


EDITING_ROLES = frozenset({"admin", "editor"})


def _presented_secret() -> str | None:
    header = request.headers.get("Authorization", "").strip()
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if header and not value:
        # Unleash's SDKs send the token itself, with no scheme.
        return header
    api_key = request.headers.get("X-API-Key", "").strip()
    return api_key or None


def _fail(reason: str) -> Unauthorized:
    # The presented secret is never logged: only why it failed and where.
    get_metrics(current_app).auth_failures.labels(reason=reason).inc()
    logger.warning("authentication failed", extra={"reason": reason, "auth_path": request.path})
    # Past this address's failures, a 429 (raised) takes the 401's place.
    throttle().failed()
    return Unauthorized()


def authenticate() -> Principal:
    """Identify the caller from its token, or raise Unauthorized; the result is kept on g."""
    if "principal" in g:
        return g.principal
    config = current_app.config["FF"]
    if not config.auth_enabled:
        g.principal = Principal(name="anonymous", role="admin")
        return g.principal
    secret = _presented_secret()
    if secret is not None or sessions.COOKIE in request.cookies:
        # An address that ran out of failures is refused before its credential is looked at.
        throttle().refuse_if_blocked()
    if secret is None and config.oidc_enabled and sessions.COOKIE in request.cookies:
        g.principal = _session_principal()
        return g.principal
    if secret is None:
        raise _fail("missing")
    if config.admin_token and hmac.compare_digest(secret.encode(), config.admin_token.encode()):
        g.principal = Principal(name=BOOTSTRAP_ACTOR, role="admin")
        return g.principal
    digest = hash_secret(secret)
    # From memory, as flags are: the snapshot holds every token's hash and follows their changes.
    token = current_snapshot().tokens_by_hash.get(digest)
    if token is None or not hmac.compare_digest(token["hash"], digest):
        raise _fail("unknown")
    token_use(current_app).note(token["_id"])
    g.principal = Principal(token["name"], token["role"], token.get("environment"), token["_id"])
    return g.principal


def _session_principal() -> Principal:
    found = sessions.current()
    if found is None:
        raise _fail("session")
    session, user = found
    sessions.check_csrf(session)
    return Principal(
        Person(user["subject"], user["name"], user["email"]),
        user["role"],
        user_id=user["_id"],
        environment_roles=tuple(sorted((user.get("environment_roles") or {}).items())),
        session_id=session["_id"],
    )


def token_active(token_id: str, snapshot: Snapshot | None = None) -> bool:
    """Whether the token with this id still exists (has not been revoked), as this process (or snapshot) knows it."""
    return token_id in (snapshot or current_snapshot()).tokens


def token_use(app: Flask) -> TokenUse:
    """Return the app's recorder of token use."""
    return app.extensions[TOKEN_USE_KEY]


def require_admin() -> Principal:
    """Return the caller if it may change everything, else raise Forbidden."""
    principal = authenticate()
    if not principal.is_admin:
        if principal.user_id is not None:
            raise Forbidden(f"Your role ({principal.role}) does not allow this; it needs an admin.")
        raise Forbidden("This token can only read flags; changes need an admin token.")
    return principal


def require_editor(touched: Collection[str] = ()) -> Principal:
    """Return the caller if it may make a change touching these environments, else raise Forbidden.

    touched: the environments whose served values the change may alter; a change of none (a description,
    tags) needs an editor in at least one environment.
    """
    principal = authenticate()
    environments = current_app.config["FF"].environments
    refused = [environment for environment in touched if not principal.may_edit_in(environment)]
    if touched and not refused:
        return principal
    if not touched and any(principal.may_edit_in(environment) for environment in environments):
        return principal
    who = f"Your role ({principal.role})" if principal.user_id is not None else "This token"
    if refused and any(principal.may_edit_in(environment) for environment in environments):
        raise Forbidden(
            f"{who} does not allow changes in {', '.join(refused)}; this change touches {', '.join(touched)}.",
            environments=refused,
        )
    if principal.user_id is not None:
        raise Forbidden(f"{who} only reads; changes need an editor or an admin.")
    raise Forbidden("This token can only read flags; changes need an editor or admin token.")


def require_full_reader() -> Principal:
    """Return the caller if it reads every environment (a person, or an admin token), else raise Forbidden."""
    principal = authenticate()
    if principal.environment is not None or principal.role in ("client", "server"):
        raise Forbidden("This token reads one environment only; this needs an admin token or a signed-in person.")
    return principal


def environment_for_read(requested: str | None) -> str:
    """Resolve the environment a read is about, checking it exists and the caller may see it."""
    config = current_app.config["FF"]
    principal = authenticate()
    if requested is None:
        return principal.environment or config.default_environment
    if requested not in config.environments:
        raise UnknownEnvironment(
            f"Unknown environment {requested!r}; known: {', '.join(config.environments)}.",
            environments=list(config.environments),
        )
    if principal.environment is not None and requested != principal.environment:
        raise Forbidden(f"This token is bound to the {principal.environment!r} environment.")
    return requested


def actor_name() -> str:
    """Return the name recorded in the audit trail for the current caller."""
    return authenticate().name


def init_app(app: Flask) -> None:
    """Give the app its token-use recorder; warn on every start while checks are off, so it is never left so."""
    app.extensions[TOKEN_USE_KEY] = TokenUse(get_store(app))
    if not app.config["FF"].auth_enabled:
        logger.warning("FF_AUTH is off: every request is treated as an admin. Never run it like this in production.")

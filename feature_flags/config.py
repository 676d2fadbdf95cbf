"""Settings read from the environment in one place, typed and checked at start-up."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlsplit

# MAX_FLAGS_CEILING is re-exported: the bound on import documents reads it from here.
from .settings import LOG_LEVELS, MIN_TOKEN_DISTINCT_CHARACTERS, setting
from .settings import MAX_FLAGS_CEILING as MAX_FLAGS_CEILING

ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
MAX_BODY_BYTES = 1024 * 1024
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A setting has a value the service cannot start with; the message names the variable."""


def _default(name: str) -> Any:
    return setting(name).default


def _text(env: Mapping[str, str], name: str) -> str:
    """Read a setting as text, its default when unset or empty."""
    return env.get(name) or _default(name)


def _bool(env: Mapping[str, str], name: str) -> bool:
    default = _default(name)
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def int_setting(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """Read a whole number between low and high; raise ConfigError naming the variable otherwise."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def read_int(env: Mapping[str, str], name: str) -> int:
    """Read a whole-number setting with the default and bounds of its definition."""
    definition = setting(name)
    return int_setting(env, name, definition.default, definition.low, definition.high)


def _environments(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = _text(env, "FF_ENVIRONMENTS")
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not names:
        raise ConfigError("FF_ENVIRONMENTS must list at least one environment")
    for name in names:
        if not ENVIRONMENT_NAME.match(name):
            raise ConfigError(
                f"FF_ENVIRONMENTS: {name!r} is not a valid environment name "
                "(lower-case letters, digits, '-' and '_', starting with a letter)"
            )
    if len(set(names)) != len(names):
        raise ConfigError("FF_ENVIRONMENTS lists an environment twice")
    return names


def _approvals(env: Mapping[str, str], environments: tuple[str, ...], auth_enabled: bool) -> tuple[str, ...]:
    names = tuple(part.strip() for part in (env.get("FF_APPROVALS") or "").split(",") if part.strip())
    unknown = [name for name in names if name not in environments]
    if unknown:
        raise ConfigError(f"FF_APPROVALS: {unknown[0]!r} is not one of FF_ENVIRONMENTS ({', '.join(environments)})")
    if names and not auth_enabled:
        # With checks off every caller is the same anonymous admin: nobody else could ever approve.
        raise ConfigError("FF_APPROVALS needs FF_AUTH on: a change request is approved by someone else")
    return tuple(name for name in environments if name in names)


def _check_admin_token(token: str) -> None:
    """Refuse an admin token no client could send or anyone could guess; the message never repeats it."""
    if any(character.isspace() for character in token):
        # Usually a trailing newline from a secret file: the token would never match what clients send.
        raise ConfigError("FF_ADMIN_TOKEN must not contain whitespace (a trailing newline, say)")
    if not all("!" <= character <= "~" for character in token):
        raise ConfigError("FF_ADMIN_TOKEN must be printable ASCII, as an HTTP header carries it")
    if len(token) < 16:
        raise ConfigError("FF_ADMIN_TOKEN must be at least 16 characters long")
    if len(set(token)) < MIN_TOKEN_DISTINCT_CHARACTERS:
        raise ConfigError(
            f"FF_ADMIN_TOKEN is too weak: it needs at least {MIN_TOKEN_DISTINCT_CHARACTERS} different characters "
            "(openssl rand -hex 24 makes a good one)"
        )


def _mongo_uri_from_seed_variables(env: Mapping[str, str]) -> str | None:
    """Build a URI from the variables older deployments set, so they can switch unchanged."""
    replica_set = _bool(env, "MONGO_IS_REPLICA_SET")
    host = (env.get("MONGO_HOST") or "").strip()
    if not host:
        return None
    if not re.match(r"^[A-Za-z0-9._-]+(:\d{1,5})?$", host):
        raise ConfigError(f"MONGO_HOST must be a host name with an optional :port, got {host!r}")
    if ":" not in host:
        host += ":27017"
    user = env.get("MONGO_INITDB_ROOT_USERNAME") or ""
    password = env.get("MONGO_INITDB_ROOT_PASSWORD") or ""
    credentials = f"{quote_plus(user)}:{quote_plus(password)}@" if user else ""
    options = "authSource=admin" if user else ""
    if replica_set:
        name = _text(env, "MONGO_REPLICA_SET_NAME")
        options = "&".join(filter(None, [options, f"replicaSet={quote_plus(name)}"]))
    return f"mongodb://{credentials}{host}/" + (f"?{options}" if options else "")


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Read a comma-separated list of networks in CIDR form (an address alone is a network of one)."""
    networks = []
    for part in (env.get(name) or "").split(","):
        if not part.strip():
            continue
        try:
            networks.append(str(ipaddress.ip_network(part.strip(), strict=False)))
        except ValueError:
            raise ConfigError(f"{name}: {part.strip()!r} is not a network like 10.0.0.0/8 or 127.0.0.1") from None
    return tuple(networks)


def _rate(env: Mapping[str, str], name: str) -> str:
    """Read a rate such as 30/minute (the limits library's notation, one rate)."""
    from limits import parse_many

    raw = _text(env, name).strip()
    try:
        (rate,) = parse_many(raw)
    except ValueError:
        raise ConfigError(f"{name} must be one rate such as 30/minute or 5/second, got {raw!r}") from None
    if rate.amount < 1:
        raise ConfigError(f"{name} must allow at least one, got {raw!r}")
    return raw


def _stream_secret(env: Mapping[str, str]) -> str | None:
    secret = env.get("FF_STREAM_SECRET") or None
    if secret is not None and len(secret) < 32:
        raise ConfigError("FF_STREAM_SECRET must be at least 32 characters long (openssl rand -hex 32 makes one)")
    return secret


def _oidc_settings(env: Mapping[str, str]) -> dict:
    issuer = (env.get("FF_OIDC_ISSUER") or "").strip().rstrip("/") or None
    public_url = (env.get("FF_PUBLIC_URL") or "").strip().rstrip("/") or None
    settings = {
        "oidc_issuer": issuer,
        "oidc_client_id": (env.get("FF_OIDC_CLIENT_ID") or "").strip() or None,
        "oidc_client_secret": env.get("FF_OIDC_CLIENT_SECRET") or None,
        "public_url": public_url,
        "oidc_allowed_domains": tuple(
            d.strip().lower().lstrip("@") for d in (env.get("FF_OIDC_ALLOWED_DOMAINS") or "").split(",") if d.strip()
        ),
        "oidc_roles_claim": (env.get("FF_OIDC_ROLES_CLAIM") or "").strip() or None,
        "session_idle_minutes": read_int(env, "FF_SESSION_IDLE_MINUTES"),
        "session_max_hours": read_int(env, "FF_SESSION_MAX_HOURS"),
    }
    if issuer is None:
        return settings
    if not re.match(r"^https?://[^\s]+$", issuer):
        raise ConfigError(f"FF_OIDC_ISSUER must be the provider's issuer URL, got {issuer!r}")
    for name in ("FF_OIDC_CLIENT_ID", "FF_OIDC_CLIENT_SECRET", "FF_PUBLIC_URL"):
        if not (env.get(name) or "").strip():
            raise ConfigError(f"{name} is needed with FF_OIDC_ISSUER")
    if not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", public_url or ""):
        raise ConfigError(f"FF_PUBLIC_URL must be an http(s) URL like https://flags.example.com, got {public_url!r}")
    return settings


@dataclass(frozen=True)
class Config:
    """Every setting of the service, with the defaults a newcomer gets."""

    mongo_uri: str | None = None
    mongo_db: str = "feature_flags"
    environments: tuple[str, ...] = ("development", "staging", "production")
    data_dir: Path = Path("data")
    seed_demo: bool = True
    host: str = "127.0.0.1"
    port: int = 5000
    log_level: str = "INFO"
    service_name: str = "feature-flags"
    db_timeout_ms: int = 1000
    auth_enabled: bool = True
    admin_token: str | None = field(default=None, repr=False)
    metrics_token: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    trusted_proxies: int = 0
    max_body_bytes: int = MAX_BODY_BYTES
    stale_after_days: int = 30
    usage_tracking: bool = True
    usage_flush_seconds: int = 10
    scheduler: bool = True
    scheduler_poll_seconds: float = 1.0
    schedule_lease_seconds: float = 30.0
    webhooks: bool = True
    webhook_poll_seconds: float = 0.5
    # Not read from the environment: the delivery promises of docs/how-to/webhooks.md are stated with these values.
    webhook_lease_seconds: float = 30.0
    webhook_timeout_seconds: float = 5.0
    webhook_retry_window_seconds: float = 24 * 3600.0
    webhook_backoff_seconds: float = 1.0
    webhook_backoff_cap_seconds: float = 600.0
    # Networks webhooks may be sent to although they are loopback, link-local or a metadata service (CIDR strings).
    webhook_allowed_networks: tuple[str, ...] = ()
    # A feature-flags/v1 document applied at start-up when the database has no flags (a GitOps bootstrap).
    import_file: Path | None = None
    # OFREP event streams: the key signing their tickets (one is kept in the database when unset), how long a
    # ticket admits a connection, how often an idle stream sends a comment, and how many one worker holds.
    stream_secret: str | None = field(default=None, repr=False)
    stream_ticket_seconds: float = 600.0
    stream_heartbeat_seconds: float = 15.0
    stream_max_per_worker: int = 4500
    stream_max_per_client: int = 250
    # Single sign-on with OpenID Connect (feature_flags/people): off while no issuer is set.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = field(default=None, repr=False)
    # The address people reach the service at (https://flags.example.com): the provider sends them back to
    # <it>/auth/oidc/callback, and a session cookie is Secure when it is https.
    public_url: str | None = None
    oidc_allowed_domains: tuple[str, ...] = ()
    # An ID token claim (a list, or a space-separated string) whose values name roles: "admin", "editor",
    # "viewer", optionally per environment ("editor:staging"). When set, it decides a person's roles at each sign-in.
    oidc_roles_claim: str | None = None
    session_idle_minutes: int = 60
    session_max_hours: int = 12
    # Per client address, in the limits library's notation: failed authentications before 429, and sign-ins begun.
    auth_failure_limit: str = "30/minute"
    sign_in_limit: str = "20/minute"
    # Environments where a change to a flag is a change request another caller approves (feature_flags/change_requests).
    approvals: tuple[str, ...] = ()
    # How many flags (archived ones too) and segments a deployment holds: every worker keeps them all in memory, and
    # an export of them all must import again, so creating and importing share these bounds.
    max_flags: int = 20_000
    max_segments: int = 10_000

    @property
    def oidc_enabled(self) -> bool:
        """Whether people sign in through an OpenID provider."""
        return self.oidc_issuer is not None

    @property
    def default_environment(self) -> str:
        """The environment used when a request names none: staging, as the first clients expect."""
        return "staging" if "staging" in self.environments else self.environments[0]

    @property
    def data_location(self) -> str:
        """Where the flags live, for people to read: the embedded database's folder, or MongoDB without credentials."""
        if self.mongo_uri is None:
            return str(self.data_dir.resolve())
        hosts = urlsplit(self.mongo_uri).netloc.rpartition("@")[2]
        return f"MongoDB {hosts}, database {self.mongo_db}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read and check every setting; raise ConfigError naming the first bad variable."""
        env = os.environ if env is None else env
        log_level = _text(env, "LOG_LEVEL").upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
        mongo_uri = (env.get("MONGO_URI") or "").strip() or _mongo_uri_from_seed_variables(env)
        if mongo_uri and not mongo_uri.startswith(("mongodb://", "mongodb+srv://")):
            raise ConfigError("MONGO_URI must start with mongodb:// or mongodb+srv://")
        mongo_db = _text(env, "MONGO_DB").strip()
        if not re.match(r"^[A-Za-z0-9_-]{1,63}$", mongo_db):
            raise ConfigError(f"MONGO_DB must be 1-63 letters, digits, '-' or '_', got {mongo_db!r}")
        auth_word = _text(env, "FF_AUTH").strip().lower()
        if auth_word not in TRUE_WORDS | FALSE_WORDS:
            raise ConfigError(f"FF_AUTH must be on or off, got {auth_word!r}")
        admin_token = env.get("FF_ADMIN_TOKEN") or None
        if admin_token is not None:
            _check_admin_token(admin_token)
        cors = tuple(o.strip() for o in (env.get("FF_CORS_ORIGINS") or "").split(",") if o.strip())
        for origin in cors:
            if not re.match(r"^https?://[^/\s]+$", origin):
                raise ConfigError(f"FF_CORS_ORIGINS: {origin!r} is not an origin like https://example.com")
        environments = _environments(env)
        return cls(
            mongo_uri=mongo_uri,
            mongo_db=mongo_db,
            environments=environments,
            approvals=_approvals(env, environments, auth_word in TRUE_WORDS),
            data_dir=Path(_text(env, "FF_DATA_DIR")),
            seed_demo=_bool(env, "FF_SEED_DEMO"),
            host=_text(env, "HOST").strip(),
            port=read_int(env, "PORT"),
            log_level=log_level,
            service_name=_text(env, "FF_SERVICE_NAME").strip(),
            db_timeout_ms=read_int(env, "FF_DB_TIMEOUT_MS"),
            auth_enabled=auth_word in TRUE_WORDS,
            admin_token=admin_token,
            metrics_token=env.get("FF_METRICS_TOKEN") or None,
            cors_origins=cors,
            trusted_proxies=read_int(env, "FF_TRUSTED_PROXIES"),
            stale_after_days=read_int(env, "FF_STALE_AFTER_DAYS"),
            usage_tracking=_bool(env, "FF_USAGE_TRACKING"),
            # Ten seconds at most: the usage answers promise counts no older than that.
            usage_flush_seconds=read_int(env, "FF_USAGE_FLUSH_SECONDS"),
            scheduler=_bool(env, "FF_SCHEDULER"),
            # At most 4 s between looks, so a due change is applied within the 5 s promised.
            scheduler_poll_seconds=read_int(env, "FF_SCHEDULER_POLL_MS") / 1000,
            # Longer than one application can take (the database timeout bounds it); a killed claimer's
            # schedules wait this long before another takes them.
            schedule_lease_seconds=read_int(env, "FF_SCHEDULE_LEASE_SECONDS"),
            webhooks=_bool(env, "FF_WEBHOOKS"),
            webhook_poll_seconds=read_int(env, "FF_WEBHOOK_POLL_MS") / 1000,
            webhook_allowed_networks=_networks(env, "FF_WEBHOOK_ALLOWED_NETWORKS"),
            import_file=Path(env["FF_IMPORT_FILE"]) if (env.get("FF_IMPORT_FILE") or "").strip() else None,
            stream_secret=_stream_secret(env),
            stream_ticket_seconds=read_int(env, "FF_STREAM_TICKET_SECONDS"),
            # Below the 30 s proxies commonly time idle connections out after (nginx.conf's own timeout is longer).
            stream_heartbeat_seconds=read_int(env, "FF_STREAM_HEARTBEAT_SECONDS"),
            stream_max_per_worker=read_int(env, "FF_STREAM_MAX_PER_WORKER"),
            stream_max_per_client=read_int(env, "FF_STREAM_MAX_PER_CLIENT"),
            max_flags=read_int(env, "FF_MAX_FLAGS"),
            auth_failure_limit=_rate(env, "FF_AUTH_FAILURE_LIMIT"),
            sign_in_limit=_rate(env, "FF_SIGN_IN_LIMIT"),
            **_oidc_settings(env),
        )

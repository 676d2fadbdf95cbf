"""The environment variables the service reads: each one's default, what it may be, and what it means.

config.py and gunicorn.conf.py read them with these defaults and bounds, and the settings reference is generated
from this table, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

# The most flags FF_MAX_FLAGS may allow: what an import document may hold, whatever the setting.
MAX_FLAGS_CEILING = 100_000
# An admin token with fewer different characters than this is a placeholder, not a secret.
MIN_TOKEN_DISTINCT_CHARACTERS = 6
# The most gunicorn's own sizes and timeouts may be.
GUNICORN_CEILING = 1_000_000
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Setting:
    """An environment variable the service reads: its default, what it may be, and what it means."""

    name: str
    default: str | int | bool | None
    description: str
    low: int | None = None
    high: int | None = None
    # What a value may be, in words, when it is neither true/false nor a whole number between low and high.
    allowed: str | None = None
    # The default in words, where the value alone would mislead (generated, or set otherwise under gunicorn).
    shown_default: str | None = None
    # The heading the reference lists it under.
    group: str = "The service"


BOOLEAN_WORDS = "true or false (also 1/0, yes/no, on/off)"
DATABASE, SERVICE, ACCESS, SIGN_IN, BACKGROUND, STREAMS, GUNICORN = (
    "Database",
    "The service",
    "Access",
    "Single sign-on",
    "Background work",
    "Event streams",
    "Under gunicorn (the image)",
)

# In the order the reference lists them; a test checks that every variable the code names is here, and no other.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "MONGO_URI",
        None,
        "MongoDB connection string. When absent, the `MONGO_HOST` variables build one; when those are absent too, "
        "the embedded database is used.",
        allowed="a URI starting with `mongodb://` or `mongodb+srv://`",
        group=DATABASE,
    ),
    Setting(
        "MONGO_DB",
        "feature_flags",
        "Database name",
        allowed="1 to 63 letters, digits, `-` or `_`",
        group=DATABASE,
    ),
    Setting(
        "MONGO_HOST",
        None,
        "Older deployments: host[:port] of MongoDB, used when `MONGO_URI` is absent",
        allowed="a host name with an optional `:port` (27017 otherwise)",
        group=DATABASE,
    ),
    Setting(
        "MONGO_INITDB_ROOT_USERNAME",
        None,
        "Older deployments: the user of the credentials (authSource admin), with `MONGO_HOST`",
        allowed="any text",
        group=DATABASE,
    ),
    Setting(
        "MONGO_INITDB_ROOT_PASSWORD",
        None,
        "Older deployments: the password of the credentials, with `MONGO_INITDB_ROOT_USERNAME`",
        allowed="any text",
        group=DATABASE,
    ),
    Setting(
        "MONGO_IS_REPLICA_SET",
        False,
        "Older deployments: add `replicaSet=` (name from `MONGO_REPLICA_SET_NAME`)",
        group=DATABASE,
    ),
    Setting(
        "MONGO_REPLICA_SET_NAME",
        "rs0",
        "Older deployments: the replica set's name, with `MONGO_IS_REPLICA_SET`",
        allowed="any text",
        group=DATABASE,
    ),
    Setting("FF_DATA_DIR", "data", "Folder of the embedded database", allowed="a folder path", group=DATABASE),
    Setting(
        "FF_DB_TIMEOUT_MS",
        1000,
        "How long a database operation may take before the request fails with 503 (the driver may overshoot it "
        "by a few hundred ms; keep it well under the 2-second promise)",
        low=100,
        high=60000,
        group=DATABASE,
    ),
    Setting(
        "FF_ENVIRONMENTS",
        "development,staging,production",
        "The environments, validated everywhere",
        allowed="names separated by commas: lower-case letters, digits, `-` and `_`, starting with a letter, "
        "at most 32 characters, each once",
    ),
    Setting(
        "FF_SEED_DEMO",
        True,
        "Create the six demo flags on the first start of an empty database (once ever)",
    ),
    Setting(
        "FF_IMPORT_FILE",
        None,
        "A `feature-flags/v1` document imported at start-up when the database has no flags",
        allowed="a file path",
    ),
    Setting(
        "FF_MAX_FLAGS",
        20_000,
        "Flags the deployment holds, archived ones included: every worker keeps them all in memory. Creating one "
        "more answers 400 `too_many_flags`, and so does an import that would leave more; an export of them all "
        "always imports again (up to 32 MiB over HTTP; `flask flags import FILE` takes any size). Segments are "
        "bounded at 10,000",
        low=1,
        high=MAX_FLAGS_CEILING,
    ),
    Setting(
        "FF_STALE_AFTER_DAYS",
        30,
        "A flag older than this that no environment evaluated in as long is potentially stale (`unused`)",
        low=1,
        high=3650,
    ),
    Setting(
        "FF_SERVICE_NAME",
        "feature-flags",
        "The `service` field of every log line",
        allowed="any text",
    ),
    Setting(
        "HOST",
        "127.0.0.1",
        "Where the service listens",
        allowed="an address or host name",
        shown_default="`127.0.0.1` (`0.0.0.0` under gunicorn)",
    ),
    Setting("PORT", 5000, "The port the service listens on", low=1, high=65535),
    Setting(
        "LOG_LEVEL",
        "INFO",
        "The least severe log lines written",
        allowed=f"{', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]} (any case)",
    ),
    Setting(
        "FF_AUTH", "on", "`off` disables token checks: local experiments only", allowed=BOOLEAN_WORDS, group=ACCESS
    ),
    Setting(
        "FF_ADMIN_TOKEN",
        None,
        "An admin token given from the environment (a trailing newline from a secret file is refused, not silently "
        "kept)",
        allowed=f"16 or more printable ASCII characters, at least {MIN_TOKEN_DISTINCT_CHARACTERS} of them different, "
        "no whitespace anywhere",
        group=ACCESS,
    ),
    Setting(
        "FF_APPROVALS",
        None,
        "Environments where a change to a flag is a change request someone else approves, e.g. `production`; "
        "needs `FF_AUTH` on",
        allowed="environments of `FF_ENVIRONMENTS`, separated by commas",
        group=ACCESS,
    ),
    Setting(
        "FF_METRICS_TOKEN",
        None,
        "When set, `/metrics` needs `Authorization: Bearer <it>`",
        allowed="any text",
        group=ACCESS,
    ),
    Setting(
        "FF_CORS_ORIGINS",
        None,
        "Origins allowed to call the API from a browser",
        allowed="origins like `https://app.example.com`, separated by commas",
        shown_default="(none: CORS off)",
        group=ACCESS,
    ),
    Setting(
        "FF_TRUSTED_PROXIES",
        0,
        "How many proxies (nginx, an ingress) stand in front; their `X-Forwarded-For`/`-Proto`/`-Host` are trusted "
        "for that many hops, so logs show the real client",
        low=0,
        high=5,
        group=ACCESS,
    ),
    Setting(
        "FF_AUTH_FAILURE_LIMIT",
        "30/minute",
        "Failed authentications (wrong or revoked token, ended session) one client address may make; past it, "
        "every request with a credential from that address answers 429 with `Retry-After` until the window ends, "
        "on every instance",
        allowed="one rate such as `30/minute` or `5/second`, at least 1",
        group=ACCESS,
    ),
    Setting(
        "FF_SIGN_IN_LIMIT",
        "20/minute",
        "Sign-ins one client address may begin (`GET /auth/oidc/login`; each stores a flow document for 10 "
        "minutes); 429 past it",
        allowed="one rate such as `20/minute` or `5/second`, at least 1",
        group=ACCESS,
    ),
    Setting(
        "FF_OIDC_ISSUER",
        None,
        "The OpenID provider's issuer URL (e.g. `https://accounts.google.com` or a Keycloak realm): single sign-on "
        "is on when it is set, and needs `FF_OIDC_CLIENT_ID`, `FF_OIDC_CLIENT_SECRET` and `FF_PUBLIC_URL` too",
        allowed="an http(s) URL",
        shown_default="(none: single sign-on off)",
        group=SIGN_IN,
    ),
    Setting(
        "FF_OIDC_CLIENT_ID",
        None,
        "The client id the provider knows the service by",
        allowed="any text",
        group=SIGN_IN,
    ),
    Setting(
        "FF_OIDC_CLIENT_SECRET",
        None,
        "The client secret the provider gave the service",
        allowed="any text",
        group=SIGN_IN,
    ),
    Setting(
        "FF_PUBLIC_URL",
        None,
        "Where people reach the service: the provider must allow `<FF_PUBLIC_URL>/auth/oidc/callback` as a "
        "redirect URI, and the session cookie is `Secure` when it is https",
        allowed="an http(s) URL like `https://flags.example.com`",
        group=SIGN_IN,
    ),
    Setting(
        "FF_OIDC_ALLOWED_DOMAINS",
        None,
        "Admit only addresses of these domains that are well formed (one `@`) and that the provider vouches for "
        'with `"email_verified": true`',
        allowed="domains separated by commas",
        shown_default="(none: every address)",
        group=SIGN_IN,
    ),
    Setting(
        "FF_OIDC_ROLES_CLAIM",
        None,
        "An ID token claim (a list, or a space-separated string) whose values name roles, taken at every sign-in: "
        "`admin`, `editor` or `viewer` for every environment (the highest named; viewer if none), and "
        "`editor:staging` for one environment",
        allowed="a claim name, e.g. `groups`",
        shown_default="(none: roles are given in the service)",
        group=SIGN_IN,
    ),
    Setting(
        "FF_SESSION_IDLE_MINUTES",
        60,
        "Minutes a signed-in session lasts without a request",
        low=1,
        high=7 * 24 * 60,
        group=SIGN_IN,
    ),
    Setting("FF_SESSION_MAX_HOURS", 12, "Hours a signed-in session lasts at most", low=1, high=30 * 24, group=SIGN_IN),
    Setting(
        "FF_USAGE_TRACKING",
        True,
        "Count evaluations per flag, environment and variant; `false` counts, writes and measures nothing",
        group=BACKGROUND,
    ),
    Setting(
        "FF_USAGE_FLUSH_SECONDS",
        10,
        "How often each worker writes its counts",
        low=1,
        high=10,
        group=BACKGROUND,
    ),
    Setting(
        "FF_SCHEDULER",
        True,
        "Run the scheduler thread in each process; `false` leaves due schedules to other instances",
        group=BACKGROUND,
    ),
    Setting(
        "FF_SCHEDULER_POLL_MS",
        1000,
        "How often the scheduler looks for due schedules (jittered by 20%)",
        low=100,
        high=4000,
        group=BACKGROUND,
    ),
    Setting(
        "FF_SCHEDULE_LEASE_SECONDS",
        30,
        "How long a claimed schedule is held: a process that dies holding it delays it this long",
        low=5,
        high=3600,
        group=BACKGROUND,
    ),
    Setting(
        "FF_WEBHOOKS",
        True,
        "Run the webhook deliverer thread in each process; one at a time, the lease holder, sends; `false` leaves "
        "delivery to other instances",
        group=BACKGROUND,
    ),
    Setting(
        "FF_WEBHOOK_POLL_MS",
        500,
        "How often the deliverer looks for new changes and due retries (jittered by 20%)",
        low=50,
        high=10000,
        group=BACKGROUND,
    ),
    Setting(
        "FF_WEBHOOK_ALLOWED_NETWORKS",
        None,
        "Networks webhooks may be sent to although they are loopback, link-local or a metadata service",
        allowed="networks in CIDR form (an address alone is a network of one), separated by commas",
        group=BACKGROUND,
    ),
    Setting(
        "FF_STREAM_SECRET",
        None,
        "Key signing event stream tickets; the same on every instance",
        allowed="32 or more characters",
        shown_default="(generated, kept in the database)",
        group=STREAMS,
    ),
    Setting(
        "FF_STREAM_TICKET_SECONDS",
        600,
        "How long an event stream URL admits a (re)connection (up to 1.5 times this)",
        low=10,
        high=86400,
        group=STREAMS,
    ),
    Setting(
        "FF_STREAM_HEARTBEAT_SECONDS",
        15,
        "How often an idle event stream sends a `: ping` comment",
        low=1,
        high=25,
        group=STREAMS,
    ),
    Setting(
        "FF_STREAM_MAX_PER_WORKER",
        4500,
        "Event streams one worker holds at most (503 beyond); 0 refuses them all",
        low=0,
        high=100000,
        shown_default="`4500` (under gunicorn: what `GUNICORN_WORKER_CONNECTIONS` leaves after ordinary requests' "
        "share)",
        group=STREAMS,
    ),
    Setting(
        "FF_STREAM_MAX_PER_CLIENT",
        250,
        "Event streams one client holds per worker (429 `too_many_streams` beyond): an address (behind "
        "`FF_TRUSTED_PROXIES`, the address they forward), or for admin and editor tokens the token, since many "
        "servers may share an address; a browser's client token is shared by every visitor, so it is counted by "
        "address. Raise it for an office of more browser tabs behind one NAT address",
        low=1,
        high=100000,
        group=STREAMS,
    ),
    Setting(
        "GUNICORN_WORKERS",
        2,
        "Processes (gevent workers; use both cores)",
        low=1,
        high=GUNICORN_CEILING,
        group=GUNICORN,
    ),
    Setting(
        "GUNICORN_WORKER_CONNECTIONS",
        5000,
        "Connections each worker holds at once (the planned 10,000 event streams per instance over two workers). "
        "A tenth (at least 100, at most half) is kept for ordinary requests: `FF_STREAM_MAX_PER_WORKER` defaults "
        "to the rest, and a larger one stops the start",
        low=1,
        high=GUNICORN_CEILING,
        group=GUNICORN,
    ),
    Setting(
        "GUNICORN_TIMEOUT",
        30,
        "Seconds before a stuck worker is replaced",
        low=1,
        high=GUNICORN_CEILING,
        group=GUNICORN,
    ),
    Setting(
        "GUNICORN_GRACEFUL_TIMEOUT",
        20,
        "Seconds in-flight requests get after SIGTERM (the Kubernetes manifests give the pod 35 s: a 5 s `preStop` "
        "pause, then this)",
        low=1,
        high=GUNICORN_CEILING,
        group=GUNICORN,
    ),
    Setting(
        "GUNICORN_KEEPALIVE",
        75,
        "Idle keep-alive seconds, and the time a client gets to send its next request's headers; longer than "
        "nginx's upstream idle time, so nginx closes first",
        low=1,
        high=GUNICORN_CEILING,
        group=GUNICORN,
    ),
    Setting(
        "GUNICORN_FIRST_REQUEST_TIMEOUT",
        10,
        "Seconds a new connection gets to send its first request's headers: sockets that send nothing are closed, "
        "rather than holding a worker's connections",
        low=1,
        high=3600,
        group=GUNICORN,
    ),
    Setting(
        "GUNICORN_MAX_REQUESTS",
        10000,
        "Recycle a worker after this many requests; the workers of a host take turns (one waits while another "
        "restarts), and a recycling worker ends its event streams and idle connections at once, so clients "
        "reconnect to another within seconds",
        low=1,
        high=GUNICORN_CEILING,
        group=GUNICORN,
    ),
    Setting(
        "GUNICORN_MAX_REQUESTS_JITTER",
        1000,
        "Up to this many more requests before a worker is recycled, chosen at random, so workers do not restart "
        "together",
        low=1,
        high=GUNICORN_CEILING,
        group=GUNICORN,
    ),
    Setting(
        "FORWARDED_ALLOW_IPS",
        "127.0.0.1,::1",
        "Proxies whose `X-Forwarded-Proto` gunicorn believes (compose sets `*`: only nginx reaches the app)",
        allowed="addresses separated by commas, or `*`",
        group=GUNICORN,
    ),
    Setting(
        "PROMETHEUS_MULTIPROC_DIR",
        None,
        "Set under gunicorn with several workers, so `/metrics` adds them up; emptied when gunicorn starts",
        allowed="a folder path the service may write",
        shown_default="(none; `/tmp/prometheus` in the image)",
        group=GUNICORN,
    ),
)
_BY_NAME = {definition.name: definition for definition in SETTINGS}


def setting(name: str) -> Setting:
    """Return the definition of one environment variable."""
    return _BY_NAME[name]

"""Gunicorn settings for the container (`gunicorn -c gunicorn.conf.py app:app`); sizes come from the environment.

Access log: gunicorn's own is off. The app writes one JSON line per request (logger `feature_flags.access`,
with request_id, method, path, status, duration_ms, client), so a second, differently shaped line would only
double the log volume. Gunicorn's error log goes to stdout as JSON with the same field names.
"""

from __future__ import annotations

import gc
import os
import resource
import shutil
from pathlib import Path

from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

from feature_flags.config import Config, ConfigError, read_int
from feature_flags.logging_setup import JSON_LOG_FORMAT
from feature_flags.settings import setting

try:
    # Checked here, in the master, before any worker starts: a bad setting stops gunicorn with one line, rather
    # than every worker failing to boot in a loop while the port stays open. Under gunicorn (the image) the
    # service listens on every interface unless HOST says otherwise; `python app.py` stays on loopback.
    service = Config.from_env({"HOST": "0.0.0.0", **os.environ})
except ConfigError as error:
    raise SystemExit(f"configuration error: {error}") from None


def _int(name: str) -> int:
    """Read a whole number for gunicorn with the service's own parser and bounds, stopping with its one-line message."""
    try:
        return read_int(os.environ, name)
    except ConfigError as error:
        raise SystemExit(f"configuration error: {error}") from None


bind = f"{service.host}:{service.port}"
# gevent: a waiting connection (a slow or idle client, a request waiting for the database, later an event stream)
# costs a greenlet, not a thread, so a handful of slow clients cannot take every slot as they could with gthread.
# The subclass makes gunicorn's own error pages JSON and stops without waiting on idle keep-alive connections
# (feature_flags/server.py).
worker_class = "feature_flags.server.JsonErrorGeventWorker"
workers = _int("GUNICORN_WORKERS")
# Connections each worker holds at once: room for the 10,000 event streams per instance planned over the two
# workers, while each idle one costs only a greenlet and a file descriptor.
worker_connections = _int("GUNICORN_WORKER_CONNECTIONS")
# Ordinary requests (probes, evaluations, the UI) always have this many connections of a worker to themselves:
# event streams may take the rest, and no more. Unless set, FF_STREAM_MAX_PER_WORKER follows from it.
_headroom = max(worker_connections // 10, min(100, worker_connections // 2))
if not (os.environ.get("FF_STREAM_MAX_PER_WORKER") or "").strip():
    os.environ["FF_STREAM_MAX_PER_WORKER"] = str(worker_connections - _headroom)
elif service.stream_max_per_worker > worker_connections - _headroom:
    raise SystemExit(
        f"configuration error: FF_STREAM_MAX_PER_WORKER is {service.stream_max_per_worker}, which leaves fewer than "
        f"{_headroom} of GUNICORN_WORKER_CONNECTIONS ({worker_connections}) for ordinary requests; at most "
        f"{worker_connections - _headroom}"
    )
# A request longer than this is stuck (the database timeout is 1 s); the worker is replaced.
timeout = _int("GUNICORN_TIMEOUT")
# On SIGTERM (a Kubernetes rollout) in-flight requests get this long to finish; below the pod's 30 s grace period.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT")
# Longer than nginx's upstream keepalive idle time would be pointless; shorter breaks its pooled connections.
# The gevent worker also gives a client this long to send its next request's headers before it hangs up.
keepalive = _int("GUNICORN_KEEPALIVE")
# A new connection's first request must arrive sooner (the worker reads it from the environment): sockets that
# send nothing cannot hold a worker's connections for long.
_first_request_timeout = _int("GUNICORN_FIRST_REQUEST_TIMEOUT")
# Recycle workers now and then so a slow leak cannot grow without bound; jitter spreads them, and the workers of
# a host take turns (feature_flags/server.py), so one always accepts while another restarts.
max_requests = _int("GUNICORN_MAX_REQUESTS")
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER")
# /dev/shm is memory; a container's overlay file system can stall the worker heartbeat.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None
# No control socket: it would be created under ~/.gunicorn, which the non-root user cannot write to.
control_socket_disable = True
# The app's JSON access line replaces gunicorn's (see the module docstring).
accesslog = None
errorlog = "-"
loglevel = service.log_level.lower()
# X-Forwarded-* are honoured only from these addresses (nginx, or the ingress in front of the pod).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", setting("FORWARDED_ALLOW_IPS").default)

# Every connection is a file descriptor; container runtimes often start processes with a soft limit of 1,024.
# Raising the soft limit to what the connections need, within the hard limit, needs no privilege; workers inherit it.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
_wanted = worker_connections + 256
if _soft != resource.RLIM_INFINITY and _soft < _wanted:
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (_wanted if _hard == resource.RLIM_INFINITY else min(_wanted, _hard), _hard)
    )

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            **JSON_LOG_FORMAT,
            "static_fields": {"service": service.service_name},
        }
    },
    # gunicorn's messages quote what clients sent (a malformed header line can be a token): redacted before writing.
    "filters": {
        "secrets": {
            "()": "feature_flags.logging_setup.RedactSecrets",
            "secrets": (service.admin_token, service.metrics_token),
        }
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
            "filters": ["secrets"],
        }
    },
    # The app installs its own JSON handler on the root logger in each worker.
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"handlers": ["stdout"], "level": service.log_level, "propagate": False},
        "gunicorn.access": {"handlers": [], "propagate": False},
    },
}


def on_starting(server) -> None:
    """Empty the Prometheus multiprocess directory, so counters of a previous run are not added to this one."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def on_exit(server) -> None:
    """Remove the file the workers take turns to recycle by (feature_flags/server.py)."""
    from feature_flags.server import recycling_lock_path

    recycling_lock_path(os.getpid()).unlink(missing_ok=True)


def child_exit(server, worker) -> None:
    """Drop a dead worker's live gauges from the multiprocess files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        GunicornInternalPrometheusMetrics.mark_process_dead_on_child_exit(worker.pid)


def post_worker_init(worker) -> None:
    """Load the flags and start the scheduler and webhook deliverer as each worker starts, so nothing waits."""
    from feature_flags import webhooks
    from feature_flags.cache import warm_up
    from feature_flags.schedules import start

    warm_up(worker.wsgi)
    # Due schedules are applied from the worker's start, whether or not a request ever comes.
    start(worker.wsgi)
    webhooks.start(worker.wsgi)
    # Everything loaded so far (modules, the app, its schemas, the flags) lives as long as the worker: out of the
    # collector's sight, a full collection walks only what requests made since, a few milliseconds rather than
    # the 50 or more in which a greenlet holds every other request of the worker.
    gc.collect()
    gc.freeze()


def worker_exit(server, worker) -> None:
    """Write the evaluation counts a stopping worker still holds (SIGTERM, a recycle), so none are lost."""
    from feature_flags import schedules, webhooks
    from feature_flags.usage import shutdown

    # gunicorn also calls this in the master for a worker already gone; only the worker itself holds counts.
    app = getattr(worker, "wsgi", None)
    if app is not None and worker.pid == os.getpid():
        # The scheduler first: a schedule it is applying finishes rather than being cut off by the exit.
        schedules.shutdown(app)
        webhooks.shutdown(app)
        shutdown(app)

"""The gunicorn worker the image runs: gevent's, with gunicorn's own refusals in the app's JSON error shape.

Whenever it stops (SIGTERM, or recycled after max_requests), it ends its event streams and closes its idle
keep-alive connections at once: gevent's worker otherwise counts them as work in progress and waits out the whole
graceful timeout (streams never finish, and nginx keeps connections open), serving nothing new meanwhile. The
workers of one host also take turns to recycle, so the instance always has one accepting connections; and a
connection that sends no request within FIRST_REQUEST_SECONDS is closed, so idle sockets cannot hold every slot.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import gevent
from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker

from .errors import error_code
from .logging_setup import redact
from .settings import setting

# Once stopping, how long a connection accepted meanwhile may take to send its request.
STOPPING_WAIT_SECONDS = 1.0
# How long a new connection may take to send its first request's head, unless GUNICORN_FIRST_REQUEST_TIMEOUT says
# (gunicorn.conf.py checks it): a client of ours sends at once. Later requests on a kept-alive connection wait the
# keepalive setting.
FIRST_REQUEST_SECONDS = int(setting("GUNICORN_FIRST_REQUEST_TIMEOUT").default)
# A worker whose turn to recycle is taken by another of the host's serves between 5 and 10 % of max_requests more
# (at least this many) before it asks again.
MIN_POSTPONED_REQUESTS = 50


def recycling_lock_path(master_pid: int) -> Path:
    """The file whose lock one worker of a master holds while it recycles (released when its process exits)."""
    return Path(tempfile.gettempdir()) / f"feature-flags-recycling-{master_pid}.lock"


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """Answer a request gunicorn refused (bad request line, headers too large, ...) with a JSON error, then close."""
    # gunicorn's message may quote the client's bytes (a header line without its colon can be a token): redacted.
    message = redact(mesg) if mesg else "Something went wrong on our side."
    body = json.dumps({"error": error_code(reason), "message": message}) + "\n"
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-Content-Type-Options: nosniff\r\n\r\n"
    )
    util.write_nonblock(sock, (head + body).encode("latin-1"))


class JsonErrorGeventWorker(GeventWorker):
    """gunicorn's gevent worker, whose error pages are JSON and which stops without waiting on idle connections."""

    def __init__(self, *args, **kwargs) -> None:
        # Before the base class sets alive: the property below reads these.
        self._stopping_handled = False
        self._told_to_stop = False
        self._recycling_lock = None
        super().__init__(*args, **kwargs)
        # Each connection waiting for its next request: the greenlet serving it, and the timeout it waits under.
        self._waiting: dict[gevent.Greenlet, gevent.Timeout] = {}
        # Connections that have not sent a request yet (their greenlets), and how long they may stay so.
        self._fresh: set[gevent.Greenlet] = set()
        self._first_request_seconds = int(os.environ.get("GUNICORN_FIRST_REQUEST_TIMEOUT") or FIRST_REQUEST_SECONDS)

    @property
    def alive(self) -> bool:
        """Whether the worker goes on serving; set False (by a signal, max_requests, a gone master) it stops."""
        return self._alive

    @alive.setter
    def alive(self, value: bool) -> None:
        was = getattr(self, "_alive", False)
        recycling = was and not value and not self._told_to_stop and self.nr >= self.max_requests
        if recycling and not self._take_recycling_turn():
            # max_requests reached while another worker of this host is recycling: serve on, try again later.
            postponed = max(MIN_POSTPONED_REQUESTS, self.cfg.max_requests // 20)
            self.max_requests = self.nr + random.randint(postponed, 2 * postponed)
            self.log.info("Recycling postponed: another worker of this host is recycling.")
            return
        self._alive = value
        if was and not value and not self._stopping_handled:
            self._stopping_handled = True
            # Outside whatever called (a signal handler, a request), as gunicorn's gevent worker does for SIGQUIT.
            gevent.spawn(self._close_waiting)

    def _take_recycling_turn(self) -> bool:
        """Take the host's turn to recycle (one worker at a time, so another keeps accepting); False if taken."""
        try:
            handle = recycling_lock_path(self.ppid).open("a")
        except OSError:
            return True  # no place for the lock: recycle as gunicorn would
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        # Held until this process exits, which releases it for the next worker.
        self._recycling_lock = handle
        return True

    def handle(self, listener, client, addr):
        """Serve one connection; until its first request arrives it is fresh (a shorter wait applies)."""
        current = gevent.getcurrent()
        self._fresh.add(current)
        try:
            return super().handle(listener, client, addr)
        finally:
            self._fresh.discard(current)

    @contextmanager
    def timeout_ctx(self) -> Iterator[None]:
        """Wait for the next request's head for the keep-alive time (a new connection's first: shorter; once
        stopping: briefly), closably."""
        current = gevent.getcurrent()
        if not self.alive:
            seconds = STOPPING_WAIT_SECONDS
        elif current in self._fresh:
            seconds = min(self._first_request_seconds, self.cfg.keepalive)
        else:
            seconds = self.cfg.keepalive
        timeout = gevent.Timeout(seconds, False)
        self._waiting[current] = timeout
        try:
            with timeout:
                yield
        finally:
            self._waiting.pop(current, None)

    def handle_request(self, listener_name, req, sock, addr):
        """Serve one request, then let the worker's other connections have their turn before this one's next."""
        self._fresh.discard(gevent.getcurrent())
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            # A keep-alive client that sends its next request at once (wrk, a busy application) would otherwise
            # find it already read on the next loop, so one connection kept the worker and the others' requests
            # waited: a p99 of hundreds of milliseconds at a p50 of one.
            gevent.sleep(0)

    def handle_exit(self, sig, frame) -> None:
        """Stop accepting (SIGTERM), close the connections that are only waiting, let requests in flight finish."""
        # Told to stop: no turn to wait for (the alive setter then ends streams and idle connections).
        self._told_to_stop = True
        super().handle_exit(sig, frame)

    def _close_waiting(self) -> None:
        # Raising a waiter's own timeout ends its wait the way an expired keep-alive does: the connection closes
        # quietly, with no error page. Requests in flight are not waiting here and finish (then close).
        for served, timeout in list(self._waiting.items()):
            served.kill(timeout, block=False)
        # Event streams never finish by themselves: ended now, they reconnect to another worker or pod rather than
        # holding this one for the whole graceful timeout. Imported here: the master loads this module, and the app's
        # modules must be first imported in the worker, after gevent's patching.
        from .evaluation.event_stream import end_streams

        end_streams(self.wsgi)

    def init_process(self) -> None:
        # Worker.handle_error picks the status and logs the refusal, then writes its HTML page through this one
        # function; replacing it in the worker process keeps gunicorn's choices and changes only the body.
        util.write_error = write_json_error
        super().init_process()

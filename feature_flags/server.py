"""The gunicorn worker the image runs: gevent's, with gunicorn's own refusals in the app's JSON error shape.

It also closes idle keep-alive connections when told to stop: gevent's worker otherwise counts them as work in
progress and waits out the whole graceful timeout (nginx keeps such connections open), then kills the worker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import gevent
from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker

from .errors import error_code
from .logging_setup import redact

# Once stopping, how long a connection accepted meanwhile may take to send its request.
STOPPING_WAIT_SECONDS = 1.0


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
        super().__init__(*args, **kwargs)
        # Each connection waiting for its next request: the greenlet serving it, and the timeout it waits under.
        self._waiting: dict[gevent.Greenlet, gevent.Timeout] = {}

    @contextmanager
    def timeout_ctx(self) -> Iterator[None]:
        """Wait for the next request's head for the keep-alive time (briefly once stopping), closably."""
        timeout = gevent.Timeout(self.cfg.keepalive if self.alive else STOPPING_WAIT_SECONDS, False)
        current = gevent.getcurrent()
        self._waiting[current] = timeout
        try:
            with timeout:
                yield
        finally:
            self._waiting.pop(current, None)

    def handle_request(self, listener_name, req, sock, addr):
        """Serve one request, then let the worker's other connections have their turn before this one's next."""
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            # A keep-alive client that sends its next request at once (wrk, a busy application) would otherwise
            # find it already read on the next loop, so one connection kept the worker and the others' requests
            # waited: a p99 of hundreds of milliseconds at a p50 of one.
            gevent.sleep(0)

    def handle_exit(self, sig, frame) -> None:
        """Stop accepting (SIGTERM), close the connections that are only waiting, let requests in flight finish."""
        super().handle_exit(sig, frame)
        # Outside the signal handler, as gunicorn's gevent worker does for SIGQUIT.
        gevent.spawn(self._close_waiting)

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

"""The loop a process runs beside its requests (the scheduler's, the webhook deliverer's): one thread per process.

Started in the process that serves, never before a fork (gunicorn's post_worker_init, the first request, or
`python app.py`), and stopped at its exit. Each look is the subclass's; this owns the thread, the jittered wait
between looks, and what a failing look does: a database that does not answer is said once until it answers
again, anything else is logged and the next look goes on.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import uuid

from flask import Flask

from .errors import DatabaseUnavailable
from .process import current_pid
from .storage import StoreClosed

logger = logging.getLogger(__name__)

STOP_WAIT_SECONDS = 5.0
# Created at import, before any fork; held only while a loop's thread starts.
_START_LOCK = threading.Lock()


class BackgroundLoop:
    """One process's thread repeating look() every poll_seconds (give or take a fifth), from its start."""

    # The thread's name, and the sentence logged when the database does not answer.
    thread_name = "background"
    unavailable_message = "the database is not answering; trying again"

    def __init__(self, app: Flask, enabled: bool, poll_seconds: float) -> None:
        self._app = app
        self.enabled = enabled
        self.poll_seconds = poll_seconds
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._failing = False
        # Names this process where it holds something in the database (a claim, a lease); a forked child is another.
        self.holder = ""

    @property
    def stopping(self) -> bool:
        """Whether stop() was asked for."""
        return self._stopping.is_set()

    def look(self) -> int:
        """Do one round of the work; return how much was done."""
        raise NotImplementedError

    def starting(self) -> None:
        """Prepare what this process's thread needs, just before it starts (after any fork)."""

    def stopped(self) -> None:
        """Give up what this process held, once its thread has ended (or STOP_WAIT_SECONDS passed)."""

    def start(self) -> None:
        """Start the thread in this process if it is not running (after a fork the parent's stays behind)."""
        pid = current_pid()
        if not self.enabled or self._pid == pid:
            return
        with _START_LOCK:
            if self._pid == pid:
                return
            self._stopping = threading.Event()
            self.holder = f"{os.uname().nodename}:{pid}:{uuid.uuid4().hex[:8]}"
            self.starting()
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()
            self._pid = pid

    def stop(self) -> None:
        """Stop the thread, letting a look under way finish (bounded by STOP_WAIT_SECONDS), then stopped()."""
        if self._pid != current_pid():
            return
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_WAIT_SECONDS)
        self.stopped()

    def _run(self) -> None:
        # The first look at once: what came due while every instance was down is done at start.
        wait = 0.0
        while not self._stopping.wait(wait):
            try:
                self.look()
                self._failing = False
            except StoreClosed:
                return
            except DatabaseUnavailable:
                if not self._failing:
                    logger.warning(self.unavailable_message)
                self._failing = True
            except Exception:
                logger.exception("%s failed; trying again", self.thread_name)
            # Jitter keeps the processes of a fleet from looking in step.
            wait = self.poll_seconds * random.uniform(0.8, 1.2)


def install(app: Flask, key: str, loop: BackgroundLoop) -> None:
    """Keep the loop on the app under key, started with the process's first request if nothing started it."""
    app.extensions[key] = loop

    @app.before_request
    def background_running():
        # A check of the process id: the thread is started in the process that serves, never before a fork.
        loop.start()


def start(app: Flask, key: str) -> None:
    """Start the app's loop under key in this process, if the app has one."""
    loop = getattr(app, "extensions", {}).get(key)
    if loop is not None:
        loop.start()


def shutdown(app: Flask, key: str) -> None:
    """Stop the app's loop under key, if the app has one."""
    loop = getattr(app, "extensions", {}).get(key)
    if loop is not None:
        loop.stop()

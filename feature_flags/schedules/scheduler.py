"""The background thread that applies due schedules: one per process, started after any fork, stopped at exit.

Every instance and worker runs one; they coordinate only through the database. Each look claims due schedules
one at a time with a lease (storage/schedules.py), so each is applied by exactly one of them, and one whose
claimer died is taken again once its lease has run out.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import uuid
from datetime import timedelta

from flask import Flask

from ..audit import actions
from ..change_requests import service as change_requests
from ..errors import DatabaseUnavailable
from ..extensions import get_store
from ..process import current_pid
from ..storage import StoreClosed
from .service import apply

logger = logging.getLogger(__name__)

# Schedules applied per look, so a backlog (after an outage) cannot hold one thread for ever; the next look goes on.
MAX_PER_LOOK = 200
STOP_WAIT_SECONDS = 5.0
# Created at import, before any fork; held only while a scheduler thread starts.
_START_LOCK = threading.Lock()


class Scheduler:
    """One process's scheduler thread."""

    def __init__(self, app: Flask) -> None:
        config = app.config["FF"]
        self._app = app
        self.enabled = config.scheduler
        self.poll_seconds = config.scheduler_poll_seconds
        self.lease = timedelta(seconds=config.schedule_lease_seconds)
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._failing = False
        self.claimer = ""

    def start(self) -> None:
        """Start the thread in this process if it is not running (after a fork the parent's stays behind)."""
        pid = current_pid()
        if not self.enabled or self._pid == pid:
            return
        with _START_LOCK:
            if self._pid == pid:
                return
            self._stopping = threading.Event()
            # Names this process's claims; a forked child is another claimer.
            self.claimer = f"{os.uname().nodename}:{pid}:{uuid.uuid4().hex[:8]}"
            self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
            self._thread.start()
            self._pid = pid

    def stop(self) -> None:
        """Stop the thread, letting a schedule it is applying finish (bounded by STOP_WAIT_SECONDS)."""
        if self._pid != current_pid():
            return
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_WAIT_SECONDS)

    def run_due(self) -> int:
        """Apply the schedules and approved change requests due now, up to MAX_PER_LOOK each; return how many."""
        store = get_store(self._app)
        claimed = 0
        while claimed < MAX_PER_LOOK and not self._stopping.is_set():
            schedule = store.claim_due_schedule(self.claimer, self.lease)
            if schedule is None:
                break
            claimed += 1
            outcome = apply(self._app, schedule)
            logger.info("schedule %s", outcome, extra={"schedule_id": schedule["_id"], "flag_id": schedule["flag_id"]})
        requests = 0
        while requests < MAX_PER_LOOK and not self._stopping.is_set():
            # Approved for a later moment, or approved at once by a request that died before applying it.
            change_request = store.claim_due_change_request(self.claimer, self.lease)
            if change_request is None:
                break
            requests += 1
            outcome = change_requests.apply(self._app, change_request, actions.SCHEDULE_ACTOR)
            logger.info(
                "change request %s",
                outcome,
                extra={"change_request_id": change_request["_id"], "flag_id": change_request["flag_id"]},
            )
        return claimed + requests

    def _run(self) -> None:
        # The first look at once: a schedule missed while every instance was down is applied at start.
        wait = 0.0
        while not self._stopping.wait(wait):
            try:
                self.run_due()
                self._failing = False
            except StoreClosed:
                return
            except DatabaseUnavailable:
                if not self._failing:
                    logger.warning("schedules not applied: the database is not answering; trying again")
                self._failing = True
            except Exception:
                logger.exception("applying schedules failed; trying again")
            # Jitter keeps the processes of a fleet from looking in step.
            wait = self.poll_seconds * random.uniform(0.8, 1.2)

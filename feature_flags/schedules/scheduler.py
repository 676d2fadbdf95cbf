"""The background thread that applies due schedules: one per process (feature_flags.background).

Every instance and worker runs one; they coordinate only through the database. Each look claims due schedules
one at a time with a lease (storage/schedules.py), so each is applied by exactly one of them, and one whose
claimer died is taken again once its lease has run out.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask

from ..audit import actions
from ..background import BackgroundLoop
from ..change_requests import service as change_requests
from ..extensions import get_store
from .service import apply

logger = logging.getLogger(__name__)

# Schedules applied per look, so a backlog (after an outage) cannot hold one thread for ever; the next look goes on.
MAX_PER_LOOK = 200


class Scheduler(BackgroundLoop):
    """One process's scheduler thread; its holder names its claims."""

    thread_name = "scheduler"
    unavailable_message = "schedules not applied: the database is not answering; trying again"

    def __init__(self, app: Flask) -> None:
        config = app.config["FF"]
        super().__init__(app, config.scheduler, config.scheduler_poll_seconds)
        self.lease = timedelta(seconds=config.schedule_lease_seconds)

    def look(self) -> int:
        """Apply the schedules and approved change requests due now, up to MAX_PER_LOOK each; return how many."""
        store = get_store(self._app)
        claimed = 0
        while claimed < MAX_PER_LOOK and not self.stopping:
            schedule = store.claim_due_schedule(self.holder, self.lease)
            if schedule is None:
                break
            claimed += 1
            outcome = apply(self._app, schedule)
            logger.info("schedule %s", outcome, extra={"schedule_id": schedule["_id"], "flag_id": schedule["flag_id"]})
        requests = 0
        while requests < MAX_PER_LOOK and not self.stopping:
            # Approved for a later moment, or approved at once by a request that died before applying it.
            change_request = store.claim_due_change_request(self.holder, self.lease)
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

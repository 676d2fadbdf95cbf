"""The background thread that delivers webhooks: one per process, but only the lease holder sends.

Every process runs one (started after any fork, stopped at exit, like the scheduler); they coordinate through a
lease in the database, renewed at every look, so one process at a time numbers the audit trail and delivers
(storage/webhooks.py). If it dies, another takes over once the lease runs out and goes on from each webhook's
stored cursor: an event delivered but not yet marked may be sent again, never lost. Each webhook is sent to by
a thread of its own, one event at a time in order, so a slow receiver holds up only itself; a failing one
waits for its retry time (next_attempt_at) and is not looked at until then.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

import urllib3
from flask import Flask
from urllib3.exceptions import (
    LocationValueError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as HttpTimeout

from ..background import STOP_WAIT_SECONDS, BackgroundLoop
from ..errors import DatabaseUnavailable
from ..extensions import get_metrics, get_store
from ..storage import StoreClosed, utcnow
from .addresses import AddressRefused, guarded_pools
from .models import shown_url, wanted_actions
from .payloads import delivery_id, headers, request_body
from .service import allowed_networks

logger = logging.getLogger(__name__)

LEASE_NAME = "webhook-deliverer"
# Events read per query; a webhook's thread reads on until it has caught up with the look that started it.
EVENTS_PER_READ = 100
# Events numbered per look, so a backlog cannot hold the look for ever; the next look goes on.
NUMBERED_PER_LOOK = 500
PING = "ping"
# The metric's label for each recorded status.
OUTCOMES = {"delivered": "delivered", "retrying": "retried", "failed": "failed"}


@dataclass(frozen=True)
class Attempt:
    """What one POST to a receiver came to."""

    response_code: int | None
    duration_ms: int
    error: str | None


class Deliverer(BackgroundLoop):
    """One process's webhook deliverer; its holder names it as the lease holder."""

    thread_name = "webhook-deliverer"
    unavailable_message = "webhooks not delivered: the database is not answering; trying again"

    def __init__(self, app: Flask) -> None:
        config = app.config["FF"]
        super().__init__(app, config.webhooks, config.webhook_poll_seconds)
        self.lease_seconds = config.webhook_lease_seconds
        self.timeout = config.webhook_timeout_seconds
        self.retry_window = timedelta(seconds=config.webhook_retry_window_seconds)
        self.backoff_seconds = config.webhook_backoff_seconds
        self.backoff_cap_seconds = config.webhook_backoff_cap_seconds
        self.service_name = config.service_name
        self._workers: dict[str, threading.Thread] = {}
        self._workers_lock = threading.Lock()
        self._held_until = 0.0
        self._http: urllib3.PoolManager | None = None

    @property
    def holding(self) -> bool:
        """Whether this process holds the lease (by its own clock) and is not stopping."""
        return time.monotonic() < self._held_until and not self.stopping

    def starting(self) -> None:
        """Make this process's HTTP client: one attempt is one request, redirects are not followed."""
        self._http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=self.timeout))
        # Connects only where addresses.refusal allows, judged on each address the name resolves to.
        self._http.pool_classes_by_scheme = guarded_pools(allowed_networks(self._app))

    def stopped(self) -> None:
        """Let attempts under way finish (bounded), and give the lease up for another process."""
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        with self._workers_lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._held_until = 0.0
        # If the database does not answer, the lease runs out by itself.
        with contextlib.suppress(DatabaseUnavailable, StoreClosed):
            get_store(self._app).release_lease(LEASE_NAME, self.holder)

    def look(self) -> int:
        """Renew the lease, number new events, and start a thread for each webhook with something due.

        Return how many threads were started (0 without the lease).
        """
        store = get_store(self._app)
        asked = time.monotonic()
        if not store.claim_lease(LEASE_NAME, self.holder, self.lease_seconds):
            self._held_until = 0.0
            return 0
        # Counted from before the claim was sent: the lease in the database lasts at least this long.
        self._held_until = asked + self.lease_seconds
        checked = utcnow()
        webhooks = store.webhooks_for_delivery()
        if not webhooks:
            # Nobody wants the events recorded so far: numbering them would only cost a write each.
            store.skip_unsequenced(checked)
            return 0
        store.sequence_events(NUMBERED_PER_LOOK)
        upto = store.last_sequence()
        now = utcnow()
        started = 0
        for webhook in webhooks:
            due = webhook["cursor"] < upto and webhook["next_attempt_at"] <= now
            if (due or webhook.get("ping_pending")) and self._hand_out(webhook, upto):
                started += 1
        return started

    def _hand_out(self, webhook: dict[str, Any], upto: int) -> bool:
        with self._workers_lock:
            if webhook["_id"] in self._workers:
                return False  # its thread is still at work (a slow receiver): it goes on from where it is
            worker = threading.Thread(target=self._work, args=(webhook, upto), name="webhook-delivery", daemon=True)
            self._workers[webhook["_id"]] = worker
        worker.start()
        return True

    def _work(self, webhook: dict[str, Any], upto: int) -> None:
        try:
            # Read again now the thread is its only sender: the look's copy may predate the previous thread's last
            # sends (it read the webhooks, then that thread moved the cursor on and ended), which it would repeat.
            current = get_store(self._app).webhook_for_delivery(webhook["_id"])
            if current is None:
                return  # deleted meanwhile
            webhook = current
            if webhook.get("ping_pending"):
                self._send_pings(webhook)
            if webhook["cursor"] < upto and webhook["next_attempt_at"] <= utcnow():
                self._send_events(webhook, upto)
        except StoreClosed:
            pass
        except DatabaseUnavailable:
            logger.warning("webhook deliveries paused: the database is not answering", extra=self._about(webhook))
        except Exception:
            logger.exception("delivering a webhook failed; trying again", extra=self._about(webhook))
        finally:
            with self._workers_lock:
                self._workers.pop(webhook["_id"], None)

    def _send_events(self, webhook: dict[str, Any], upto: int) -> None:
        store = get_store(self._app)
        wanted = wanted_actions(webhook["events"])
        while self.holding:
            events, read_up_to = store.events_for(webhook, upto, wanted, EVENTS_PER_READ)
            for event in events:
                if not self.holding or not self._deliver(webhook, event):
                    return
                webhook["cursor"] = event["seq"]
            # Nothing more it wants up to there: the events in between are not its business.
            if read_up_to > webhook["cursor"]:
                store.advance_cursor(webhook["_id"], read_up_to)
                webhook["cursor"] = read_up_to
            if read_up_to >= upto:
                return

    def _deliver(self, webhook: dict[str, Any], event: dict[str, Any]) -> bool:
        """Attempt one event; return True once the webhook is done with it (delivered, or failed for good)."""
        store = get_store(self._app)
        delivery = delivery_id(webhook["_id"], event["_id"])
        attempt = self._post(webhook, event, delivery)
        if attempt.error is None:
            self._record(webhook, event, delivery, attempt, "delivered")
            store.advance_cursor(webhook["_id"], event["seq"])
            return True
        now = utcnow()
        give_up_at = event["at"] + self.retry_window
        if now >= give_up_at:
            self._record(webhook, event, delivery, attempt, "failed")
            store.advance_cursor(webhook["_id"], event["seq"])
            logger.warning(
                "webhook delivery failed for good: its retry window has passed",
                extra={**self._about(webhook), "delivery_id": delivery, "action": event["action"]},
            )
            return True
        # The last attempt is made when the window closes, however long the backoff has grown. Worked out before
        # the attempt is recorded, so a delivery is never shown retrying without its next attempt's time.
        retry_at = min(now + self._backoff(store.attempts_made(delivery) + 1), give_up_at)
        self._record(webhook, event, delivery, attempt, "retrying", retry_at)
        store.schedule_retry(delivery, webhook["_id"], retry_at)
        logger.info(
            "webhook delivery will be retried",
            extra={**self._about(webhook), "delivery_id": delivery, "reason": attempt.error, "retry_at": retry_at},
        )
        return False

    def _send_pings(self, webhook: dict[str, Any]) -> None:
        for ping in get_store(self._app).take_pings(webhook["_id"]):
            event = {"action": PING, "at": utcnow(), "webhook_id": webhook["_id"]}
            attempt = self._post(webhook, event, ping["id"])
            # One attempt: a test says how the receiver answers now.
            self._record(webhook, event, ping["id"], attempt, "failed" if attempt.error else "delivered")

    def _record(
        self,
        webhook: dict[str, Any],
        event: dict[str, Any],
        delivery: str,
        attempt: Attempt,
        status: str,
        next_attempt_at: datetime | None = None,
    ) -> dict[str, Any]:
        outcome = {
            "status": status,
            "response_code": attempt.response_code,
            "duration_ms": attempt.duration_ms,
            "error": attempt.error,
            "next_attempt_at": next_attempt_at,
        }
        recorded = get_store(self._app).record_attempt(delivery, webhook["_id"], event, outcome)
        get_metrics(self._app).webhook_deliveries[OUTCOMES[status]].inc()
        return recorded

    def _backoff(self, attempts: int) -> timedelta:
        """Return the wait after the attempts so far: doubling from the base, capped, each 50-100% of that."""
        ceiling = min(self.backoff_cap_seconds, self.backoff_seconds * 2 ** min(attempts - 1, 30))
        return timedelta(seconds=ceiling * random.uniform(0.5, 1.0))

    def _post(self, webhook: dict[str, Any], event: dict[str, Any], delivery: str) -> Attempt:
        """POST one body to the webhook's receiver within the timeout; never raises for what the receiver does."""
        started = time.monotonic()
        try:
            # Inside: an event that cannot be sent is retried and then failed like any other, never stuck.
            sent = request_body(webhook, event, delivery, self.service_name, self._app.json.dumps)
            sent_headers = headers(webhook, event["action"], delivery, sent)
            address = urllib3.util.parse_url(webhook["url"])
            url = webhook["url"]
            if address.auth:
                sent_headers.update(urllib3.util.make_headers(basic_auth=unquote(address.auth)))
                url = address._replace(auth=None).url
            response = self._http.request(
                "POST", url, body=sent, headers=sent_headers, redirect=False, preload_content=False
            )
            # The answer's body is not needed and may be large: the connection is closed rather than drained.
            response.close()
        except Exception as error:
            return Attempt(None, _milliseconds(started), self._reason(error))
        code = response.status
        if 200 <= code < 300:
            return Attempt(code, _milliseconds(started), None)
        redirect = " (redirects are not followed)" if 300 <= code < 400 else ""
        return Attempt(code, _milliseconds(started), f"answered {code}{redirect}")

    def _reason(self, error: Exception) -> str:
        # Fixed words, never the exception's text: urllib3's messages quote the URL, credentials included.
        if isinstance(error, AddressRefused):
            return f"address not allowed ({error.reason})"
        if isinstance(error, NameResolutionError):
            return "host name not found"
        if isinstance(error, NewConnectionError):
            return "could not connect"
        if isinstance(error, HttpTimeout):
            return f"no answer within {self.timeout:g} s"
        if isinstance(error, SSLError):
            return "TLS failed"
        if isinstance(error, ProtocolError):
            return "connection broken"
        if isinstance(error, (LocationValueError, ValueError)):
            return "invalid address"
        return f"failed ({type(error).__name__})"

    @staticmethod
    def _about(webhook: dict[str, Any]) -> dict[str, str]:
        return {"webhook_id": webhook["_id"], "target": shown_url(webhook["url"])}


def _milliseconds(started: float) -> int:
    return round((time.monotonic() - started) * 1000)

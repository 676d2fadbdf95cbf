"""Webhooks in MongoDB: subscriptions, the audit trail's delivery order, the deliverer's lease, deliveries.

The audit trail is the outbox. Event ids are made by each process's clock and an event becomes visible only
when its transaction commits or its pending mark is lifted, so ids do not tell the order in which events
became readable: paging by them could step over one that appeared late. The deliverer (one process at a time,
under a lease) therefore numbers events as it finds them visible (`seq`, 1, 2, 3, ... with no gap), and each
webhook keeps the number of the last event it is done with (`cursor`). An event that appears late gets a
later number; none is ever skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError

from ..audit import actions
from ..errors import TooManyWebhooks, WebhookNotFound
from .audit_log import RECENT_EVENT_IDS_KEPT
from .client import as_object_id, public_document, translated_errors, utcnow

# A webhook that is not waiting for a retry.
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
# The meta document noting the highest number given to an event (see last_sequence).
SEQUENCE_NOTE = "audit-sequence"
# Delivery records are history for people looking into a receiver's trouble, not the delivery state.
DELIVERIES_KEPT = timedelta(days=14)
# Never in an answer: the secret (only for signing), the delivery position and the retry bookkeeping.
INTERNAL_FIELDS = frozenset({"secret", "cursor", "next_attempt_at", "ping_pending", "recent_events"})
PING = "ping"
# A delivery record as the API shows it, in this order (its id first).
DELIVERY_FIELDS = (
    "webhook_id",
    "event_id",
    "action",
    "status",
    "attempts",
    "response_code",
    "duration_ms",
    "error",
    "created_at",
    "last_attempt_at",
    "next_attempt_at",
)


class WebhookStorage:
    """Webhooks and their deliveries, the numbering of the audit trail, and the deliverer's lease."""

    def _webhook_indexes(self) -> None:
        # Unique: two deliverers overlapping at a lease takeover can never give one number twice.
        self._audit.create_index([("seq", ASCENDING)], unique=True, sparse=True, name="by_seq")
        self._audit.create_index([("unsequenced", ASCENDING)], sparse=True, name="unsequenced")
        self._deliveries.create_index([("webhook_id", ASCENDING), ("created_at", DESCENDING)], name="by_webhook")
        self._deliveries.create_index([("expire_at", ASCENDING)], expireAfterSeconds=0, name="expiry")

    @staticmethod
    def _webhook_out(document: dict[str, Any]) -> dict[str, Any]:
        shown = public_document({k: v for k, v in document.items() if k not in INTERNAL_FIELDS})
        return {"id": shown.pop("_id"), **shown, "has_secret": bool(document.get("secret"))}

    @staticmethod
    def _delivery_out(document: dict[str, Any]) -> dict[str, Any]:
        return {"id": document["_id"], **{field: document.get(field) for field in DELIVERY_FIELDS}}

    # -- the API's side ----------------------------------------------------------------------

    def create_webhook(
        self,
        fields: dict[str, Any],
        described: dict[str, Any],
        actor: str,
        request_id: str | None = None,
        max_webhooks: int = 50,
    ) -> dict[str, Any]:
        """Store a webhook that starts at the end of the audit trail, with its event (described, no secret)."""
        with translated_errors():
            # Counted before the insert: two racing creates may pass one over the bound, which stays bounded.
            count = self._webhooks.count_documents({})
        if count >= max_webhooks:
            raise TooManyWebhooks(
                f"There are already {count} webhooks; at most {max_webhooks}. Delete some first.",
                details=[{"field": "(body)", "message": "too many webhooks", "type": "too_many_webhooks"}],
            )
        document = {
            "_id": ObjectId(),
            "url": fields["url"],
            "events": list(fields["events"]),
            "format": fields["format"],
            "secret": fields.get("secret"),
            "created_at": utcnow(),
            "created_by": actor,
            "cursor": self.last_sequence(),
            "next_attempt_at": NEVER,
            "ping_pending": False,
        }
        event = self._event(
            actions.WEBHOOK_CREATED, actor, request_id, webhook_id=str(document["_id"]), before=None, after=described
        )
        document["recent_events"] = [event["_id"]]
        with translated_errors():
            self._insert_recorded(self._webhooks, document, event)
        return self._webhook_out(document)

    def find_webhooks(self) -> list[dict[str, Any]]:
        """Return every webhook, oldest first, without secrets."""
        with translated_errors():
            return [self._webhook_out(d) for d in self._webhooks.find({}).sort("_id", ASCENDING)]

    def find_webhook(self, webhook_id: str) -> dict[str, Any]:
        """Return one webhook without its secret, or raise WebhookNotFound."""
        object_id = as_object_id(webhook_id)
        if object_id is None:
            raise WebhookNotFound()
        with translated_errors():
            document = self._webhooks.find_one({"_id": object_id})
        if document is None:
            raise WebhookNotFound()
        return self._webhook_out(document)

    def update_webhook(
        self,
        webhook_id: str,
        changes: dict[str, Any],
        before: dict[str, Any],
        after: dict[str, Any],
        actor: str,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Set a webhook's changed fields with their event (before and after described, no secret); raise
        WebhookNotFound if it is gone. Its cursor stays: deliveries go on from where they were."""
        object_id = as_object_id(webhook_id)
        if object_id is None:
            raise WebhookNotFound()
        event = self._event(
            actions.WEBHOOK_UPDATED, actor, request_id, webhook_id=webhook_id, before=before, after=after
        )
        update = {
            "$set": dict(changes),
            "$push": {"recent_events": {"$each": [event["_id"]], "$slice": -RECENT_EVENT_IDS_KEPT}},
        }

        def write(session: ClientSession | None) -> bool:
            return self._webhooks.update_one({"_id": object_id}, update, session=session).matched_count == 1

        with translated_errors():
            if not self._record(write, event):
                raise WebhookNotFound()
        return self.find_webhook(webhook_id)

    def delete_webhook(
        self, webhook_id: str, described: dict[str, Any], actor: str, request_id: str | None = None
    ) -> None:
        """Delete a webhook and its delivery records with its event; raise WebhookNotFound if it is gone."""
        object_id = as_object_id(webhook_id)
        if object_id is None:
            raise WebhookNotFound()
        event = self._event(
            actions.WEBHOOK_DELETED, actor, request_id, webhook_id=webhook_id, before=described, after=None
        )

        def write(session: ClientSession | None) -> bool:
            return self._webhooks.delete_one({"_id": object_id}, session=session).deleted_count == 1

        with translated_errors():
            if not self._record(write, event):
                raise WebhookNotFound()
            self._deliveries.delete_many({"webhook_id": webhook_id})

    def queue_ping(self, webhook_id: str) -> dict[str, Any]:
        """Record a test delivery for the deliverer to send; raise WebhookNotFound."""
        object_id = as_object_id(webhook_id)
        if object_id is None:
            raise WebhookNotFound()
        now = utcnow()
        delivery = {
            "_id": str(uuid.uuid4()),
            "webhook_id": webhook_id,
            "event_id": None,
            "action": PING,
            "status": "pending",
            "attempts": 0,
            "response_code": None,
            "duration_ms": None,
            "error": None,
            "created_at": now,
            "last_attempt_at": None,
            "next_attempt_at": now,
            "expire_at": now + DELIVERIES_KEPT,
        }
        with translated_errors():
            # The record first: the deliverer looks for records once the mark says there are some.
            self._deliveries.insert_one(delivery)
            if self._webhooks.update_one({"_id": object_id}, {"$set": {"ping_pending": True}}).matched_count == 0:
                self._deliveries.delete_one({"_id": delivery["_id"]})
                raise WebhookNotFound()
        return self._delivery_out(delivery)

    def find_deliveries(self, webhook_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """Return a webhook's latest delivery records, newest first; raise WebhookNotFound."""
        self.find_webhook(webhook_id)
        with translated_errors():
            found = self._deliveries.find({"webhook_id": webhook_id}).sort([("created_at", DESCENDING)]).limit(limit)
            return [self._delivery_out(d) for d in found]

    # -- the deliverer's side ----------------------------------------------------------------

    def claim_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Take or renew the named lease for seconds; False while another holder's lease runs."""
        now = utcnow()
        held = {"_id": name, "$or": [{"holder": holder}, {"lease_until": {"$lt": now}}]}
        try:
            with translated_errors():
                # Upserted when nobody ever held it; a live holder's document makes the upsert a duplicate.
                self._meta.update_one(
                    held, {"$set": {"holder": holder, "lease_until": now + timedelta(seconds=seconds)}}, upsert=True
                )
        except DuplicateKeyError:
            return False
        return True

    def release_lease(self, name: str, holder: str) -> None:
        """Give the named lease up, so another process takes over at its next look."""
        with translated_errors():
            self._meta.update_one({"_id": name, "holder": holder}, {"$set": {"lease_until": NEVER}})

    def last_sequence(self) -> int:
        """Return the highest number given to an event so far (0 before any).

        From a note kept beside the numbers, then a look past it (numbers given by a deliverer that stopped
        before noting them: few): two look-ups of a few entries each, never a walk of every numbered event,
        which the embedded database would fetch in full to sort (half a second at 10,000).
        """
        with translated_errors():
            noted = self._meta.find_one({"_id": SEQUENCE_NOTE}) or {}
            last = noted.get("last", 0)
            beyond = self._audit.find_one({"seq": {"$gt": last}}, {"seq": 1}, sort=[("seq", DESCENDING)])
            if beyond is None:
                return last
            self._note_sequence(beyond["seq"])
        return beyond["seq"]

    def _note_sequence(self, last: int) -> None:
        self._meta.update_one({"_id": SEQUENCE_NOTE}, {"$max": {"last": last}}, upsert=True)

    def sequence_events(self, limit: int = 500) -> int:
        """Number the confirmed events not numbered yet, oldest first, after the latest; return how many."""
        with translated_errors():
            waiting = list(
                self._audit.find({"unsequenced": True, "state": {"$exists": False}}, {"_id": 1})
                # By time before id: ids of events made in one second by two processes need not follow their order.
                .sort([("at", ASCENDING), ("_id", ASCENDING)])
                .limit(limit)
            )
            if not waiting:
                return 0
            last = self.last_sequence()
            for offset, event in enumerate(waiting, start=1):
                try:
                    numbered = self._audit.update_one(
                        {"_id": event["_id"], "unsequenced": True},
                        {"$set": {"seq": last + offset}, "$unset": {"unsequenced": ""}},
                    )
                except DuplicateKeyError:
                    # Another deliverer numbers too (a lease takeover): stop, the next look starts at its end.
                    self._note_sequence(last + offset - 1)
                    return offset - 1
                if numbered.modified_count == 0:
                    # Numbered meanwhile by the other: going on would leave a gap at this number.
                    self._note_sequence(last + offset - 1)
                    return offset - 1
            self._note_sequence(last + len(waiting))
        return len(waiting)

    def skip_unsequenced(self, before: datetime) -> int:
        """Take events recorded before `before` off the numbering (no webhook exists to want them)."""
        with translated_errors():
            return self._audit.update_many(
                {"unsequenced": True, "state": {"$exists": False}, "at": {"$lt": before}},
                {"$unset": {"unsequenced": ""}},
            ).modified_count

    def webhook_for_delivery(self, webhook_id: str) -> dict[str, Any] | None:
        """Return one webhook as stored, secret and cursor included (None once deleted)."""
        with translated_errors():
            document = self._webhooks.find_one({"_id": ObjectId(webhook_id)})
        return None if document is None else {**document, "_id": str(document["_id"])}

    def webhooks_for_delivery(self) -> list[dict[str, Any]]:
        """Return every webhook as stored, secret and cursor included (the deliverer's view only)."""
        with translated_errors():
            return [{**d, "_id": str(d["_id"])} for d in self._webhooks.find({}).sort("_id", ASCENDING)]

    def events_for(
        self, webhook: dict[str, Any], upto: int, wanted: Iterable[str], limit: int = 100
    ) -> tuple[list[dict[str, Any]], int]:
        """Return, in order, the events it wants among the next `limit` numbers after the webhook's cursor (up to
        upto), and the number read up to.

        One range of numbers, filtered here: a query that also named the actions and times would have the embedded
        database fetch every numbered event to answer it.
        """
        end = min(upto, webhook["cursor"] + limit)
        chosen = set(wanted)
        with translated_errors():
            found = self._audit.find({"seq": {"$gt": webhook["cursor"], "$lte": end}}).sort("seq", ASCENDING)
            events = [
                {**public_document(d), "seq": d["seq"]}
                for d in found
                # Events recorded before the webhook existed but numbered after (a backlog) are not its business.
                if d["action"] in chosen and d["at"] >= webhook["created_at"]
            ]
        return events, end

    def advance_cursor(self, webhook_id: str, seq: int) -> None:
        """Mark a webhook done with every event up to seq, and not waiting for a retry."""
        with translated_errors():
            self._webhooks.update_one(
                {"_id": ObjectId(webhook_id), "cursor": {"$lt": seq}},
                {"$set": {"cursor": seq, "next_attempt_at": NEVER}},
            )

    def schedule_retry(self, delivery_id: str, webhook_id: str, at: datetime) -> None:
        """Leave a webhook alone until its next event's retry at `at`, which its delivery record shows."""
        with translated_errors():
            self._deliveries.update_one({"_id": delivery_id}, {"$set": {"next_attempt_at": at}})
            self._webhooks.update_one({"_id": ObjectId(webhook_id)}, {"$set": {"next_attempt_at": at}})

    def take_pings(self, webhook_id: str, limit: int = 10) -> list[dict[str, Any]]:
        """Return the webhook's test deliveries waiting to be sent, clearing its mark first."""
        with translated_errors():
            # Cleared before reading: a test asked for meanwhile sets it again and is found at the next look.
            self._webhooks.update_one({"_id": ObjectId(webhook_id)}, {"$set": {"ping_pending": False}})
            found = self._deliveries.find({"webhook_id": webhook_id, "action": PING, "status": "pending"})
            return [self._delivery_out(d) for d in found.sort("created_at", ASCENDING).limit(limit)]

    def attempts_made(self, delivery_id: str) -> int:
        """Return how many attempts of this delivery were recorded so far (0 for none)."""
        with translated_errors():
            document = self._deliveries.find_one({"_id": delivery_id}, {"attempts": 1})
        return int(document.get("attempts", 0)) if document else 0

    def record_attempt(
        self, delivery_id: str, webhook_id: str, event: dict[str, Any], outcome: dict[str, Any]
    ) -> dict[str, Any]:
        """Record one attempt of a delivery (status, response code, duration, error, next attempt); return it."""
        now = utcnow()
        with translated_errors():
            document = self._deliveries.find_one_and_update(
                {"_id": delivery_id},
                {
                    "$set": {**outcome, "last_attempt_at": now, "expire_at": now + DELIVERIES_KEPT},
                    "$inc": {"attempts": 1},
                    "$setOnInsert": {
                        "webhook_id": webhook_id,
                        "event_id": event.get("_id"),
                        "action": event["action"],
                        "created_at": now,
                    },
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        return self._delivery_out(document)

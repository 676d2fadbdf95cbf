"""What a webhook receives: the body (the audit event, or a one-line Slack text), its headers and signature."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable
from typing import Any

from .. import __version__

SIGNATURE_HEADER = "X-Webhook-Signature-256"
DELIVERY_HEADER = "X-Webhook-Delivery"
EVENT_HEADER = "X-Webhook-Event"
USER_AGENT = f"feature-flags-webhooks/{__version__}"
# Fixed, so an event's delivery id is the same whichever process sends it, before and after a takeover.
_DELIVERY_NAMESPACE = uuid.UUID("5b0c8f2e-7d1a-4c3b-9e6f-2a8d4b1c0e97")
_SUBJECT_NAMES = ("flag_name", "segment_name", "token_name")


def delivery_id(webhook_id: str, event_id: str) -> str:
    """Return the delivery id of one event to one webhook: stable across retries and processes."""
    return str(uuid.uuid5(_DELIVERY_NAMESPACE, f"{webhook_id}/{event_id}"))


def signature(secret: str, body: bytes) -> str:
    """Return the signature header's value: sha256=<hex HMAC-SHA256 of the exact body bytes>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _slack_escaped(text: str) -> str:
    # The three characters Slack's message format gives meaning to.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# What each step of a change request reads as: "alice requested a change to flag checkout in production".
_CHANGE_REQUEST_VERBS = {
    "created": "requested a change to",
    "approved": "approved a change to",
    "applied": "applied a change to",
    "rejected": "rejected a change to",
    "cancelled": "withdrew a change to",
    "rebased": "rebased a change to",
    "failed": "could not apply a change to",
}


def summary(event: dict[str, Any], service_name: str) -> str:
    """Return one readable line about an event: who did what to which, where."""
    area, _, verb = event["action"].partition(".")
    if event["action"] == "ping":
        return f"[{service_name}] test delivery of webhook {event.get('webhook_id')}"
    if area == "change_request":
        area, verb = "flag", _CHANGE_REQUEST_VERBS.get(verb, verb)
    name = next((event[field] for field in _SUBJECT_NAMES if event.get(field)), None)
    shown = (event.get("after") or event.get("before") or {}).get("url") if area == "webhook" else None
    subject = f"{area} {name or shown or ''}".rstrip()
    where = f" in {event['environment']}" if event.get("environment") else ""
    line = f"[{service_name}] {event.get('actor')} {verb} {subject}{where}"
    switched = ((event.get("after") or {}).get("environments") or {}).get(event.get("environment"))
    if isinstance(switched, bool):
        line += f": {'on' if switched else 'off'}"
    return _slack_escaped(line)


def request_body(
    webhook: dict[str, Any], event: dict[str, Any], delivery: str, service_name: str, dumps: Callable[..., str]
) -> bytes:
    """Return the exact bytes sent (and signed): the event with the delivery id, or a Slack message."""
    if webhook["format"] == "slack":
        payload: dict[str, Any] = {"text": summary(event, service_name)}
    else:
        shown = {key: value for key, value in event.items() if key != "seq"}
        payload = {"delivery_id": delivery, "webhook_id": webhook["_id"], "event": shown}
    return dumps(payload, separators=(",", ":")).encode()


def headers(webhook: dict[str, Any], action: str, delivery: str, sent: bytes) -> dict[str, str]:
    """Return a delivery's headers; signed only when the webhook has a secret."""
    out = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        DELIVERY_HEADER: delivery,
        EVENT_HEADER: action,
    }
    if webhook.get("secret"):
        out[SIGNATURE_HEADER] = signature(webhook["secret"], sent)
    return out

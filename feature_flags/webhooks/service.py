"""The write path of webhooks: the bound on their number, the store with an event that never holds the secret."""

from __future__ import annotations

import ipaddress
from typing import Any

import urllib3
from flask import Flask, current_app

from ..errors import ValidationFailed
from ..extensions import get_store
from .addresses import IpNetwork, host_refusal
from .models import MAX_WEBHOOKS, shown_url


def described(webhook: dict[str, Any]) -> dict[str, Any]:
    """Return what the audit trail records of a webhook: where it goes (without credentials), never the secret."""
    # A stored webhook says has_secret; fields on their way in still hold the secret itself.
    has_secret = webhook["has_secret"] if "has_secret" in webhook else bool(webhook.get("secret"))
    return {
        "url": shown_url(webhook["url"]),
        "events": list(webhook["events"]),
        "format": webhook["format"],
        "has_secret": has_secret,
    }


def allowed_networks(app: Flask | None = None) -> tuple[IpNetwork, ...]:
    """The networks FF_WEBHOOK_ALLOWED_NETWORKS opens to webhooks despite their kind."""
    return tuple(ipaddress.ip_network(text) for text in (app or current_app).config["FF"].webhook_allowed_networks)


def create_webhook(fields: dict[str, Any], actor: str, request_id: str | None = None) -> dict[str, Any]:
    """Create a webhook from validated fields, delivering from the next event on; raise TooManyWebhooks.

    A host that plainly is this host or a metadata service is refused now (400); every delivery checks again
    where the name then resolves.
    """
    _refuse_plain_hosts(fields["url"])
    return get_store().create_webhook(fields, described(fields), actor, request_id, max_webhooks=MAX_WEBHOOKS)


def _refuse_plain_hosts(url: str) -> None:
    host = urllib3.util.parse_url(url).host or ""
    reason = host_refusal(host, allowed_networks())
    if reason is not None:
        message = f"webhooks are not sent to {reason} addresses"
        raise ValidationFailed(f"url: {message}.", details=[{"field": "url", "message": message, "type": "address"}])


def update_webhook(
    webhook_id: str, changes: dict[str, Any], actor: str, request_id: str | None = None
) -> dict[str, Any]:
    """Change a webhook's address, events, format or secret; deliveries from then on use them. Raise WebhookNotFound.

    Its place in the audit trail stays: no event is sent twice or skipped for the change.
    """
    if "url" in changes:
        _refuse_plain_hosts(changes["url"])
    store = get_store()
    stored = store.find_webhook(webhook_id)
    changed = {**stored, **changes}
    if "secret" in changes:
        # Described from the new secret itself, not the stored has_secret.
        del changed["has_secret"]
    return store.update_webhook(webhook_id, changes, described(stored), described(changed), actor, request_id)


def delete_webhook(webhook_id: str, actor: str, request_id: str | None = None) -> None:
    """Delete a webhook and its delivery records; raise WebhookNotFound."""
    store = get_store()
    store.delete_webhook(webhook_id, described(store.find_webhook(webhook_id)), actor, request_id)


def queue_test(webhook_id: str) -> dict[str, Any]:
    """Queue a test delivery (action ping) for the deliverer; return its record."""
    return get_store().queue_ping(webhook_id)

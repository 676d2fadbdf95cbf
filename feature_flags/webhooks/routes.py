"""The /webhooks API: subscriptions to audited changes, their test deliveries and delivery records; admins only."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify

from ..extensions import get_store
from ..tokens.access import actor_name, require_admin
from ..validation import parse
from ..web.bodies import read_json_object
from ..web.openapi import documented
from .models import MAX_WEBHOOKS, Delivery, Webhook, WebhookCreate, WebhookUpdate
from .service import create_webhook, delete_webhook, queue_test, update_webhook

bp = Blueprint("webhooks", __name__)

DELIVERY = (
    "Each audited change a webhook's events name is POSTed to its url at least once, in the order the changes "
    "were recorded, from the change after the webhook was made: X-Webhook-Delivery (the same on every retry), "
    "X-Webhook-Event (the action) and, with a secret, X-Webhook-Signature-256 (sha256=<HMAC of the body>). "
    "Any 2xx within 5 s is delivered; otherwise it is retried with backoff for 24 hours, then marked failed."
)


ADDRESSES = (
    "Deliveries are not sent to loopback, link-local, unspecified, multicast or reserved addresses, nor to cloud "
    "metadata services, unless FF_WEBHOOK_ALLOWED_NETWORKS names their network: a url whose host plainly is one "
    "(localhost, 127.1, 169.254.169.254, metadata.google.internal) answers 400 naming url, and each delivery checks "
    'every address the host resolves to before connecting (a refused one is recorded as "address not allowed"). '
    "Private ranges are allowed."
)


@bp.before_request
def admins_only():
    require_admin()


@bp.post("/webhooks")
@documented(
    "Create a webhook: audited changes POSTed to a URL",
    description=f"{DELIVERY} At most {MAX_WEBHOOKS} webhooks (400 too_many_webhooks). {ADDRESSES}",
    body=WebhookCreate,
    response=Webhook,
    status=201,
    errors=[400],
)
def create():
    fields = parse(WebhookCreate, read_json_object(), ()).model_dump()
    response = jsonify(create_webhook(fields, actor_name(), g.request_id))
    response.status_code = 201
    return response


@bp.get("/webhooks")
@documented("List webhooks (never their secrets)", response=list[Webhook])
def list_webhooks():
    return jsonify(get_store().find_webhooks())


@bp.get("/webhooks/<webhook_id>")
@documented("Get one webhook", response=Webhook, errors=[404])
def get_webhook(webhook_id: str):
    return jsonify(get_store().find_webhook(webhook_id))


@bp.patch("/webhooks/<webhook_id>")
@documented(
    "Change a webhook: its url, events, format or secret (null stops signing); the fields left out stay",
    description=(
        "Deliveries go on from where they were, to the webhook as it now is (those still being retried included). "
        f"Audited as webhook.updated, without the secret. {ADDRESSES}"
    ),
    body=WebhookUpdate,
    response=Webhook,
    errors=[400, 404],
)
def update(webhook_id: str):
    changes = parse(WebhookUpdate, read_json_object(), ()).changes()
    return jsonify(update_webhook(webhook_id, changes, actor_name(), g.request_id))


@bp.delete("/webhooks/<webhook_id>")
@documented("Delete a webhook and its delivery records; nothing more is sent to it", status=204, errors=[404])
def delete(webhook_id: str):
    delete_webhook(webhook_id, actor_name(), g.request_id)
    return Response(status=204)


@bp.post("/webhooks/<webhook_id>/test")
@documented(
    "Send a test delivery (X-Webhook-Event: ping) in the background; its record says how it went",
    response=Delivery,
    status=202,
    errors=[404],
)
def test(webhook_id: str):
    response = jsonify(queue_test(webhook_id))
    response.status_code = 202
    return response


@bp.get("/webhooks/<webhook_id>/deliveries")
@documented("A webhook's latest 100 deliveries, newest first (never a secret)", response=list[Delivery], errors=[404])
def deliveries(webhook_id: str):
    return jsonify(get_store().find_deliveries(webhook_id))

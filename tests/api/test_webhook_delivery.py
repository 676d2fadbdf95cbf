"""Webhook delivery to real receivers on loopback: signed, in order, at least once through outages and restarts."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import replace

import pytest
from pymongo import MongoClient

from feature_flags.extensions import get_store
from feature_flags.webhooks import deliverer, shutdown
from tests.support import ADMIN_TOKEN, Receiver, free_port, wait_for

SECRET = "whsec-0123456789abcdef"


def _admin(application):
    test_client = application.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {ADMIN_TOKEN}"
    return test_client


@pytest.fixture
def config(config):
    """Quick looks, backoffs and leases, so outages and takeovers play out in a second or two."""
    return replace(
        config,
        webhook_poll_seconds=0.05,
        webhook_backoff_seconds=0.05,
        webhook_backoff_cap_seconds=0.2,
        webhook_lease_seconds=1.0,
    )


@pytest.fixture
def receivers():
    started: list[Receiver] = []

    def start(**options) -> Receiver:
        receiver = Receiver(**options).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


def _webhook(api, url: str, **fields) -> dict:
    response = api.post("/webhooks", json={"url": url, "events": ["flag.*"], **fields})
    assert response.status_code == 201, response.json
    return response.json


def _changes(api, name: str, toggles: int) -> list[tuple[str, str]]:
    assert api.post("/flags", json={"name": name}).status_code == 201
    for _ in range(toggles):
        assert api.post(f"/flags/{name}/toggle", json={}).status_code == 200
    return [(name, "flag.created")] + [(name, "flag.toggled")] * toggles


def test_delivery__signed_event__arrives_once_in_order_with_headers(client, receivers):
    # Given a webhook with a secret for flag events, and a segment change it does not want
    receiver = receivers()
    webhook = _webhook(client, receiver.url, secret=SECRET)
    client.post("/segments", json={"name": "beta", "conditions": [{"attribute": "a", "op": "in", "values": ["b"]}]})

    # When a flag is created and toggled three times
    expected = _changes(client, "checkout", 3)

    # Then the four flag events arrive, in order, each signed over its exact bytes, with its ids in the headers
    wait_for(lambda: len(receiver.received) >= 4)
    time.sleep(0.2)  # nothing more is coming: the segment event is not this webhook's
    # At least once, de-duplicable by delivery id: a slow machine can see a send repeated (its answer outwaited).
    assert receiver.unique_actions() == expected and len(receiver.received) >= 4
    for headers, body in receiver.received:
        expected_signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Webhook-Signature-256"], expected_signature)
        payload = json.loads(body)
        assert headers["X-Webhook-Delivery"] == payload["delivery_id"]
        assert headers["X-Webhook-Event"] == payload["event"]["action"]
        assert headers["User-Agent"].startswith("feature-flags-webhooks/")
        assert headers["Content-Type"] == "application/json"
        assert payload["webhook_id"] == webhook["id"]
        assert payload["event"]["actor"] and payload["event"]["at"].endswith("Z")
    assert receiver.unique_events()[1]["after"]["environments"] == {"staging": True}
    # And the records say so, newest first, without the secret
    records = client.get(f"/webhooks/{webhook['id']}/deliveries")
    assert [(d["action"], d["status"], d["response_code"]) for d in records.json] == [
        ("flag.toggled", "delivered", 204),
        ("flag.toggled", "delivered", 204),
        ("flag.toggled", "delivered", 204),
        ("flag.created", "delivered", 204),
    ]
    assert all(d["attempts"] >= 1 for d in records.json)
    received_ids = list(dict.fromkeys(h["X-Webhook-Delivery"] for h, _ in receiver.received))
    assert [d["id"] for d in reversed(records.json)] == received_ids
    assert SECRET not in records.get_data(as_text=True)


def test_delivery__changes_before_the_webhook__not_sent(client, receivers):
    # Given a flag changed before the webhook existed
    receiver = receivers()
    client.post("/flags", json={"name": "old"})
    client.post("/flags/old/toggle", json={})

    # When a webhook is created and then one more change is made
    _webhook(client, receiver.url)
    client.post("/flags/old/toggle", json={})

    # Then only that change arrives
    wait_for(lambda: receiver.received)
    time.sleep(0.2)
    assert receiver.unique_actions() == [("old", "flag.toggled")]


def test_delivery__slack_format_without_secret__one_line_text_unsigned(client, receivers):
    receiver = receivers()
    _webhook(client, receiver.url, format="slack")

    client.post("/flags", json={"name": "dark-mode"})
    client.post("/flags/dark-mode/toggle", json={"environment": "production"})

    wait_for(lambda: len(receiver.received) >= 2)
    texts = [json.loads(body) for _, body in receiver.received]
    assert all(set(text) == {"text"} and "\n" not in text["text"] for text in texts)
    assert "created flag dark-mode" in texts[0]["text"]
    assert "toggled flag dark-mode in production: on" in texts[1]["text"]
    assert all("X-Webhook-Signature-256" not in headers for headers, _ in receiver.received)
    assert [headers["X-Webhook-Event"] for headers, _ in receiver.received] == ["flag.created", "flag.toggled"]


def test_delivery__receiver_down_then_back__every_event_arrives_in_order(client, receivers):
    # Given a webhook whose receiver took the first change
    receiver = receivers()
    webhook = _webhook(client, receiver.url)
    expected = _changes(client, "first", 0)
    wait_for(lambda: receiver.received)

    # When the receiver goes away (connections refused) while more changes are made
    receiver.stop()
    expected += _changes(client, "second", 2)
    failing = wait_for(
        lambda: [d for d in client.get(f"/webhooks/{webhook['id']}/deliveries").json if d["status"] == "retrying"]
    )
    assert failing[0]["error"] == "could not connect" and failing[0]["next_attempt_at"] is not None

    # And comes back on the same port
    receiver.start()

    # Then every event arrives, de-duplicated by delivery id, in the order they were made
    wait_for(lambda: len(receiver.unique_actions()) >= len(expected))
    assert receiver.unique_actions() == expected
    statuses = {d["status"] for d in client.get(f"/webhooks/{webhook['id']}/deliveries").json}
    assert statuses == {"delivered"}


def test_delivery__slow_receiver__delays_neither_another_webhook_nor_requests(client, receivers):
    # Given one receiver that takes 2 s to answer, and another that answers at once
    slow = receivers(delay=2.0)
    fast = receivers()
    _webhook(client, slow.url)
    _webhook(client, fast.url)

    # When changes are made
    started = time.monotonic()
    _changes(client, "busy", 2)

    # Then the quick receiver has all three while the slow one is still on its first
    wait_for(lambda: len(fast.received) >= 3, seconds=1.5)
    assert time.monotonic() - started < 1.5
    assert slow.received == []
    # And requests answer quickly meanwhile
    before = time.monotonic()
    assert client.get("/flags/busy").status_code == 200
    assert client.post("/flags/busy/toggle", json={}).status_code == 200
    assert time.monotonic() - before < 0.5
    wait_for(lambda: len(fast.received) >= 4, seconds=1.0)


def test_delivery__new_instance_over_the_same_database__continues_from_the_cursor(make_app, receivers):
    # Given an instance that delivered one change, then could not deliver two more before it stopped
    receiver = receivers()
    first = make_app()
    api = _admin(first)
    _webhook(api, receiver.url)
    expected = _changes(api, "kept", 0)
    wait_for(lambda: receiver.received)
    receiver.stop()
    expected += _changes(api, "kept-later", 1)
    wait_for(lambda: get_store(first).webhooks_for_delivery()[0]["next_attempt_at"].year > 1970)
    shutdown(first)

    # When the receiver is back and a new instance starts over the same database
    receiver.start()
    second = make_app()
    deliverer(second).start()

    # Then the two missed changes arrive after the first, nothing lost
    wait_for(lambda: len(receiver.unique_actions()) >= len(expected))
    assert receiver.unique_actions() == expected


def test_delivery__two_instances__one_delivers_and_the_other_takes_over(make_app, receivers, config):
    # Given two instances over one database, both running their deliverers (a lease long enough that a busy
    # machine's pause cannot pass for a death)
    receiver = receivers()
    one, two = make_app(webhook_lease_seconds=3.0), make_app(webhook_lease_seconds=3.0)
    deliverer(one).start()
    deliverer(two).start()
    api = _admin(one)
    _webhook(api, receiver.url)

    # When changes are made through both
    expected = _changes(api, "shared", 3) + _changes(_admin(two), "shared-too", 3)

    # Then each event arrives exactly once (no takeover happened), in order, from the one holding the lease
    wait_for(lambda: len(receiver.received) >= len(expected))
    time.sleep(0.3)
    assert receiver.unique_actions() == expected and len(receiver.received) >= len(expected)
    lease = MongoClient(config.mongo_uri)[config.mongo_db].meta.find_one({"_id": "webhook-deliverer"})
    holder = one if lease["holder"] == deliverer(one).holder else two
    other = two if holder is one else one
    assert deliverer(holder).holding and not deliverer(other).holding

    # When the holder dies without giving its lease up (its database connection gone)
    get_store(holder).client.close()
    later = _changes(_admin(other), "after-takeover", 1)

    # Then the other takes over once the lease has run out, and nothing is lost
    wait_for(lambda: len(receiver.unique_actions()) >= len(expected + later), seconds=10)
    assert receiver.unique_actions() == expected + later


def test_delivery__past_the_retry_window__failed_and_the_next_event_goes_on(make_app, receivers):
    # Given a receiver that is not there, and a retry window of half a second
    port = free_port()
    application = make_app(webhook_retry_window_seconds=0.5)
    api = _admin(application)
    webhook = _webhook(api, f"http://127.0.0.1:{port}/hook")
    deliverer(application).start()

    # When a change is made and its window passes
    api.post("/flags", json={"name": "lost"})
    records = wait_for(
        lambda: [d for d in api.get(f"/webhooks/{webhook['id']}/deliveries").json if d["status"] == "failed"], 5
    )

    # Then its delivery is marked failed after more than one attempt
    assert records[0]["action"] == "flag.created" and records[0]["attempts"] >= 2
    assert records[0]["error"] == "could not connect" and records[0]["response_code"] is None
    # And once the receiver is there the next change arrives; the failed one is not sent again
    receiver = receivers(port=port)
    api.post("/flags/lost/toggle", json={})
    wait_for(lambda: receiver.received)
    time.sleep(0.2)
    assert receiver.unique_actions() == [("lost", "flag.toggled")]
    metrics = api.get("/metrics").get_data(as_text=True)
    assert 'feature_flags_webhook_deliveries_total{outcome="failed"} 1.0' in metrics
    assert 'feature_flags_webhook_deliveries_total{outcome="delivered"} 1.0' in metrics


def test_delivery__receiver_answers_500__retried_until_it_accepts(client, receivers):
    receiver = receivers(status=500)
    webhook = _webhook(client, receiver.url)

    client.post("/flags", json={"name": "flaky"})
    wait_for(lambda: len(receiver.received) >= 2)
    receiver.status = 200
    wait_for(lambda: client.get(f"/webhooks/{webhook['id']}/deliveries").json[0]["status"] == "delivered")

    record = client.get(f"/webhooks/{webhook['id']}/deliveries").json[0]
    assert record["attempts"] >= 3 and record["response_code"] == 200 and record["error"] is None
    assert len({headers["X-Webhook-Delivery"] for headers, _ in receiver.received}) == 1


def test_test_delivery__sent_as_ping_and_recorded(client, receivers):
    receiver = receivers()
    webhook = _webhook(client, receiver.url, secret=SECRET)

    queued = client.post(f"/webhooks/{webhook['id']}/test")

    wait_for(lambda: receiver.received)
    headers, body = receiver.received[0]
    assert headers["X-Webhook-Event"] == "ping" and headers["X-Webhook-Delivery"] == queued.json["id"]
    assert headers["X-Webhook-Signature-256"] == "sha256=" + hmac.new(SECRET.encode(), body, "sha256").hexdigest()
    record = wait_for(
        lambda: [d for d in client.get(f"/webhooks/{webhook['id']}/deliveries").json if d["status"] == "delivered"]
    )
    assert (record[0]["id"], record[0]["action"], record[0]["attempts"]) == (queued.json["id"], "ping", 1)


def test_deleted_webhook__nothing_more_sent(client, receivers):
    receiver = receivers()
    webhook = _webhook(client, receiver.url)
    client.post("/flags", json={"name": "before"})
    wait_for(lambda: receiver.received)

    client.delete(f"/webhooks/{webhook['id']}")
    client.post("/flags", json={"name": "after"})
    time.sleep(0.3)

    assert receiver.unique_actions() == [("before", "flag.created")]


THIS_HOST_OR_METADATA = ["127.0.0.1", "localhost", "app.localhost", "169.254.169.254", "metadata.google.internal",
                         "2130706433", "0x7f000001", "127.1", "0", "0.0.0.0", "224.0.0.1"]  # fmt: skip


@pytest.mark.parametrize("host", THIS_HOST_OR_METADATA)
def test_create__host_is_this_host_or_a_metadata_service__400_naming_url_and_nothing_made(make_app, host):
    # Given: the default, where no network is opened to webhooks
    api = _admin(make_app(webhook_allowed_networks=()))

    # When: a webhook is made to an address of this host or a metadata service, in any of its spellings
    answer = api.post("/webhooks", json={"url": f"http://{host}:8080/hook", "events": ["*"]})

    # Then: refused, naming the url, and nothing is made
    assert answer.status_code == 400, answer.json
    assert [(d["field"], d["type"]) for d in answer.json["details"]] == [("url", "address")]
    assert "not sent to" in answer.json["message"]
    assert api.get("/webhooks").json == []


def test_create__private_network_or_public_name__accepted(make_app):
    api = _admin(make_app(webhook_allowed_networks=()))
    for url in ("http://10.1.2.3:8080/hook", "https://hooks.example.com/flags", "http://192.168.0.10/"):
        assert api.post("/webhooks", json={"url": url, "events": ["*"]}).status_code == 201, url


def test_delivery__refused_address_where_it_connects__recorded_and_nothing_reaches_it(make_app, receivers):
    # Given: a webhook to a receiver on loopback, made by an instance that opens loopback to webhooks
    receiver = receivers()
    opening = make_app()
    webhook = _webhook(_admin(opening), receiver.url)
    shutdown(opening)

    # When: an instance that does not (as if the name now resolved to this host) delivers a change and a test
    strict = make_app(webhook_allowed_networks=())
    api = _admin(strict)
    deliverer(strict).start()
    api.post("/flags", json={"name": "probe"})
    api.post(f"/webhooks/{webhook['id']}/test")

    # Then: both are recorded as refused in fixed words, with no status, and the receiver was never reached
    def refused():
        records = api.get(f"/webhooks/{webhook['id']}/deliveries").json
        return len(records) == 2 and all(record["status"] in {"retrying", "failed"} for record in records) and records

    for record in wait_for(refused):
        assert record["error"] == "address not allowed (loopback)" and record["response_code"] is None
    assert receiver.received == []


def _delivery_threads_done() -> bool:
    return not any(thread.name == "webhook-delivery" for thread in threading.enumerate())


def test_delivery__look_read_before_the_last_send_moved_the_cursor__nothing_sent_twice(make_app, receivers):
    # Given: a deliverer that looks once at its start and then not for an hour (the test makes the looks), and
    # a change delivered by one look
    receiver = receivers()
    app = make_app(webhook_poll_seconds=3600)
    api = _admin(app)
    _webhook(api, receiver.url)
    loop = deliverer(app)
    store = get_store(app)
    assert api.post("/flags", json={"name": "once"}).status_code == 201
    read_before = store.webhooks_for_delivery()
    loop.look()
    wait_for(lambda: receiver.received and _delivery_threads_done())

    # When: the next look works from webhooks read before that send moved the cursor on (its read raced the send)
    store.webhooks_for_delivery = lambda: read_before
    loop.look()
    time.sleep(0.3)
    wait_for(_delivery_threads_done)

    # Then: the change was sent once
    assert receiver.unique_actions() == [("once", "flag.created")]
    assert len(receiver.received) == 1


def test_update__new_address__the_next_change_goes_there_unsigned(client, receivers):
    # Given a signed webhook that has delivered to one receiver
    first, second = receivers(), receivers()
    webhook = _webhook(client, first.url, secret=SECRET)
    _changes(client, "before-move", 0)
    wait_for(lambda: len(first.received) >= 1)

    # When it is pointed at another receiver and stops signing
    moved = client.patch(f"/webhooks/{webhook['id']}", json={"url": second.url, "secret": None})
    assert moved.status_code == 200, moved.json
    _changes(client, "after-move", 0)

    # Then the next change reaches the new address, unsigned, and the old one hears nothing more
    wait_for(lambda: len(second.received) >= 1)
    assert second.unique_actions() == [("after-move", "flag.created")]
    assert all("X-Webhook-Signature-256" not in headers for headers, _ in second.received)
    assert first.unique_actions() == [("before-move", "flag.created")]

"""The audit trail's delivery order: numbered as events become visible, without gaps or repeats, and leased."""

from __future__ import annotations

import threading

from feature_flags.extensions import get_store


def _numbers(app) -> dict[str, int]:
    """Map each numbered event's action and flag name to its number."""
    found = get_store(app).db.audit.find({"seq": {"$exists": True}})
    return {f"{event['action']} {event.get('flag_name')}": event["seq"] for event in found}


def test_sequence__event_visible_late__numbered_after_those_seen_before(make_app):
    # Given an instance whose deliverer is off, so only this test numbers the trail
    app = make_app(webhooks=False)
    store = get_store(app)
    api = app.test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {app.config['FF'].admin_token}"
    api.post("/flags", json={"name": "early"})
    # And an event still pending (its change not yet confirmed), older than the next one
    late = store._event("flag.created", "alice", None, flag_name="late")
    store.db.audit.insert_one({**late, "state": "pending"})
    api.post("/flags", json={"name": "next"})

    # When the trail is numbered, then the pending event is confirmed and it is numbered again
    first = store.sequence_events()
    store.db.audit.update_one({"_id": late["_id"]}, {"$unset": {"state": ""}})
    second = store.sequence_events()

    # Then the late event comes after those visible before it, with no gap and no number twice
    assert (first, second) == (2, 1)
    assert _numbers(app) == {"flag.created early": 1, "flag.created next": 2, "flag.created late": 3}
    assert store.last_sequence() == 3


def test_sequence__two_numbering_at_once__each_number_once_with_no_gap(make_app):
    # Given 60 confirmed events waiting for numbers, and two instances over the same database
    one, two = make_app(webhooks=False), make_app(webhooks=False)
    store = get_store(one)
    store.db.audit.insert_many([store._event("flag.created", "alice", None, flag_name=f"f{i}") for i in range(60)])

    # When both number the trail at the same time, until nothing is left
    def number(app) -> None:
        while get_store(app).db.audit.count_documents({"unsequenced": True}):
            get_store(app).sequence_events(limit=7)

    threads = [threading.Thread(target=number, args=(app,)) for app in (one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # Then every event has a number of its own, 1 to 60
    assert sorted(_numbers(one).values()) == list(range(1, 61))


def test_lease__held__refused_to_another_until_it_runs_out_or_is_given_up(app):
    store = get_store(app)

    assert store.claim_lease("test-lease", "a", 30) is True
    assert store.claim_lease("test-lease", "b", 30) is False
    assert store.claim_lease("test-lease", "a", 30) is True  # renewed by its holder
    store.release_lease("test-lease", "a")
    assert store.claim_lease("test-lease", "b", 30) is True
    assert store.claim_lease("test-lease", "a", -1) is False

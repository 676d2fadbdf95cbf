"""Store logic that needs no server: the standalone write path, on an in-memory fake of MongoDB."""

from __future__ import annotations

import mongomock
import pytest

from feature_flags.errors import FlagNameTaken, FlagNotFound, VersionConflict
from feature_flags.storage import Store

ENVIRONMENTS = ("development", "staging", "production")


@pytest.fixture
def store() -> Store:
    store = Store(mongomock.MongoClient(), "unit", ENVIRONMENTS)
    store._supports_transactions = False  # the fake has no transactions: the standalone path
    store.ensure_indexes()
    return store


def test_create__event_confirmed_and_id_kept_on_flag(store):
    flag = store.create_flag({"name": "a"}, actor="me").flag
    events = store.find_events(flag="a")
    assert [e["action"] for e in events] == ["flag.created"]
    raw = store.db.flags.find_one({"name": "a"})
    assert raw["recent_events"] == [store.db.audit.find_one()["_id"]]
    assert flag["environments"] == dict.fromkeys(ENVIRONMENTS, False)


def test_update__stale_version__pending_event_removed(store):
    store.create_flag({"name": "a"}, actor="me")
    store.db.flags.update_one({"name": "a"}, {"$inc": {"version": 1}})  # someone else wrote meanwhile
    with pytest.raises(VersionConflict):
        store.update_flag("a", {"description": "x"}, actor="me", expected_version=1)
    assert store.db.audit.count_documents({}) == 1


def test_update__write_raises__pending_event_removed(store):
    store.create_flag({"name": "a"}, actor="me")
    store.create_flag({"name": "b"}, actor="me")
    with pytest.raises(FlagNameTaken):
        store.update_flag("b", {"name": "a"}, actor="me")
    assert store.db.audit.count_documents({"state": "pending"}) == 0
    assert store.find_flag("b")["version"] == 1


def test_recent_event_ids__capped(store):
    store.create_flag({"name": "a"}, actor="me")
    for _ in range(30):
        store.toggle_flag("a", "staging", actor="me")
    assert len(store.db.flags.find_one({"name": "a"})["recent_events"]) == 20
    assert store.find_flag("a")["version"] == 31


def test_find__name_shaped_like_an_id__found_by_name(store):
    name = "0123456789abcdef01234567"
    store.create_flag({"name": name}, actor="me")
    assert store.find_flag(name)["name"] == name
    with pytest.raises(FlagNotFound):
        store.find_flag("fedcba9876543210fedcba98")

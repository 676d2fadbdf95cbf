"""The list's order and index carried from snapshot to snapshot: after any change, the same answers as built afresh."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from feature_flags.cache.flag_cache import FlagCache
from feature_flags.cache.snapshot import Snapshot
from feature_flags.flags import listing
from feature_flags.flags.models import ListQuery

ENVIRONMENTS = ("development", "staging", "production")
START = datetime(2026, 1, 1, tzinfo=UTC)
QUERIES = [
    ListQuery(),
    ListQuery(sort="-updated_at"),
    ListQuery(sort="created_at", limit=7),
    ListQuery(state="on", environment="staging"),
    ListQuery(state="off", environment="production", sort="-name"),
    ListQuery(tag=["team-a"]),
    ListQuery(tag=["team-a", "beta"], state="on", environment="development"),
    ListQuery(type="experiment"),
    ListQuery(q="billing"),
    ListQuery(q="flag-1"),
    ListQuery(archived=True),
]


class NoEvaluations:
    generation = 0

    def of(self, flag_id: str) -> dict:
        return {}


VIEW = listing.View(START + timedelta(days=1), NoEvaluations(), None)


def _flag(number: int, rng: random.Random) -> dict:
    return {
        "_id": f"id{number:05d}",
        "name": f"flag-{number}",
        "description": rng.choice(["", "billing page", "search box", "new checkout"]),
        "tags": sorted(rng.sample(["team-a", "team-b", "beta"], rng.randint(0, 2))),
        "type": rng.choice(["release", "experiment", "ops"]),
        "environments": {environment: rng.random() < 0.4 for environment in ENVIRONMENTS},
        "archived_at": None,
        "created_at": START + timedelta(minutes=number),
        "updated_at": START + timedelta(minutes=number),
        "version": 1,
        "targeting": {},
    }


def _changed(flag: dict, rng: random.Random, moment: datetime) -> dict | None:
    """A later version of the flag, as a person might make it (None: deleted)."""
    edit = rng.choice(["toggle", "tag", "describe", "rename", "archive", "revive", "retype", "delete"])
    if edit == "delete":
        return None
    flag = {**flag, "version": flag["version"] + 1, "updated_at": moment}
    if edit == "toggle":
        environment = rng.choice(ENVIRONMENTS)
        flag["environments"] = {**flag["environments"], environment: not flag["environments"][environment]}
    elif edit == "tag":
        flag["tags"] = sorted(set(flag["tags"]) ^ {rng.choice(["team-a", "team-b", "beta", "new-tag"])})
    elif edit == "describe":
        flag["description"] = rng.choice(["billing v2", "", "reports"])
    elif edit == "rename":
        flag["name"] = f"renamed-{flag['_id']}"
    elif edit == "archive":
        flag["archived_at"] = moment
    elif edit == "revive":
        flag["archived_at"] = None
    else:
        flag["type"] = rng.choice(["release", "experiment", "ops", "permission"])
    return flag


def _answers(snapshot: Snapshot) -> list:
    pages = [listing.select(snapshot, query, query.environment or "production", VIEW) for query in QUERIES]
    return [([flag["_id"] for flag in page.flags], page.total, page.next_cursor) for page in pages] + [
        [flag["_id"] for flag in snapshot.served]
    ]


@pytest.mark.parametrize("seed", range(4))
def test_changes__one_at_a_time_and_in_batches__same_answers_as_built_afresh(seed):
    # Given a snapshot of 300 flags whose order and index were built
    rng = random.Random(seed)
    snapshot = Snapshot({flag["_id"]: flag for flag in (_flag(n, rng) for n in range(300))})
    _answers(snapshot)
    moment = START + timedelta(days=2)

    for step in range(60):
        # When a few flags change, are created or deleted (some steps left unread, so changes accumulate)
        changes = []
        for _ in range(rng.randint(1, 4)):
            moment += timedelta(seconds=1)
            if rng.random() < 0.15:
                number = 1000 + step * 10 + len(changes)
                changes.append(("upsert", {**_flag(number, rng), "updated_at": moment}))
                continue
            flag = snapshot.by_id[rng.choice(list(snapshot.by_id))]
            changed = _changed(flag, rng, moment)
            changes.append(("delete", flag["_id"]) if changed is None else ("upsert", changed))
        snapshot = FlagCache._applied(snapshot, changes)

        # Then every list answer is the one a snapshot built from scratch gives
        if step % 3:
            fresh = Snapshot(dict(snapshot.by_id))
            assert _answers(snapshot) == _answers(fresh)


def test_toggle__index_and_order_updated__not_rebuilt(monkeypatch):
    # Given 2,000 flags listed once
    rng = random.Random(7)
    snapshot = Snapshot({flag["_id"]: flag for flag in (_flag(n, rng) for n in range(2000))})
    _answers(snapshot)
    builds = []
    monkeypatch.setattr(
        listing, "_indexed", lambda facts, original=listing._indexed: builds.append(1) or original(facts)
    )

    # When one flag is toggled, renamed, and one created
    flag = snapshot.by_id["id00005"]
    later = START + timedelta(days=3)
    toggled = {**flag, "version": 2, "updated_at": later, "environments": {**flag["environments"], "staging": True}}
    snapshot = FlagCache._applied(snapshot, [("upsert", toggled)])
    staging_on = listing.select(snapshot, ListQuery(state="on", environment="staging"), "staging", VIEW)

    # Then the toggle moved it between sets without building the index again, and it sorts last by update time
    assert builds == []
    assert "id00005" in {f["_id"] for f in staging_on.flags}
    newest = listing.select(snapshot, ListQuery(sort="-updated_at", limit=1), "production", VIEW)
    assert [f["_id"] for f in newest.flags] == ["id00005"]

"""Copying between environments, export and import over a real database: all-or-nothing, audited, validated."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pymongo import MongoClient

from feature_flags.config import ConfigError
from feature_flags.errors import DatabaseUnavailable
from feature_flags.transfer.document import FORMAT, MAX_IMPORT_FLAGS
from tests.support import ADMIN_TOKEN, seed_flags

SPLIT = {"staging": {"rules": [{"when": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}],
                     "serve": {"on": 30, "off": 70}}}  # fmt: skip


SEGMENT = {"name": "pro", "description": "", "conditions": [{"attribute": "plan", "op": "in", "values": ["pro"]}]}
USING_PRO = {"production": {"rules": [{"when": [{"segment": "pro"}], "serve": "on"}], "serve": "off"}}
NO_SEGMENTS = {"created": [], "updated": [], "unchanged": [], "removed": []}
PLAN_FIELD = {"name": "plan", "description": "The customer's plan", "type": "string", "values": ["free", "pro"]}


def create(client, name, **fields):
    response = client.post("/flags", json={"name": name, **fields})
    assert response.status_code == 201, response.json
    return response.json


def requiring(*names, variants=("on",), environment="production") -> dict:
    return {environment: {"prerequisites": [{"flag": name, "variants": list(variants)} for name in names]}}


def document(*flags) -> dict:
    return {"format": FORMAT, "flags": list(flags), "segments": []}


def with_segments(body: dict, *segments) -> dict:
    return {**body, "segments": list(segments)}


def state(client) -> tuple[bytes, list[str]]:
    """The flags and segments as exported and the audit trail's actions: what 'nothing changed' compares."""
    events = client.get("/audit?limit=500").json["events"]
    return client.get("/export").data, [event["_id"] for event in events]


# -- copying one flag --------------------------------------------------------------------------


def test_copy__staging_to_production__state_and_targeting_copied_and_audited(client):
    # Given a flag on in staging with rules and a split there, off in production
    flag = create(client, "checkout", environments={"staging": True}, targeting=SPLIT)

    # When staging is copied to production, naming the version read
    response = client.post(
        "/flags/checkout/copy", json={"from": "staging", "to": "production"}, headers={"If-Match": f'"{flag["_id"]}.1"'}
    )

    # Then production has staging's state and targeting, and the change is an update audited with production
    assert response.status_code == 200, response.json
    assert response.json["environments"]["production"] is True
    assert response.json["targeting"]["production"] == response.json["targeting"]["staging"]
    event = client.get("/flags/checkout/history").json["events"][0]
    assert (event["action"], event["environment"]) == ("flag.updated", "production")
    evaluated = client.post(
        "/ofrep/v1/evaluate/flags/checkout?environment=production", json={"context": {"plan": "pro"}}
    )
    assert evaluated.json["reason"] == "TARGETING_MATCH"


def test_copy__stale_if_match__412_and_nothing_written(client):
    flag = create(client, "checkout", environments={"staging": True})
    client.post("/flags/checkout/toggle", json={"environment": "development"})
    before = state(client)

    response = client.post(
        "/flags/checkout/copy", json={"from": "staging", "to": "production"}, headers={"If-Match": f'"{flag["_id"]}.1"'}
    )

    assert response.status_code == 412
    assert state(client) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": "staging", "to": "staging"}, "to"),
        ({"from": "nowhere", "to": "production"}, "from"),
        ({"from": "staging", "to": "nowhere"}, "to"),
        ({"to": "production"}, "from"),
        ({"from": "staging", "to": "production", "extra": 1}, "extra"),
    ],
)
def test_copy__bad_environments__400_naming_the_field(client, body, field):
    create(client, "checkout")
    before = state(client)

    response = client.post("/flags/checkout/copy", json=body)

    assert response.status_code == 400
    assert response.json["details"][0]["field"] == field
    assert state(client) == before


def test_copy__archived_flag__409_flag_archived(client):
    create(client, "checkout")
    client.post("/flags/checkout/archive")

    response = client.post("/flags/checkout/copy", json={"from": "staging", "to": "production"})

    assert response.status_code == 409 and response.json["error"] == "flag_archived"


# -- copying an environment ----------------------------------------------------------------------


def test_environment_copy__all_live_flags__each_changed_one_audited(client):
    create(client, "a", environments={"staging": True}, targeting=SPLIT)
    create(client, "b", environments={"staging": True, "production": True})
    create(client, "gone", environments={"staging": True})
    client.post("/flags/gone/archive")

    response = client.post("/environments/staging/copy", json={"to": "production"})

    assert response.status_code == 200, response.json
    assert response.json == {"updated": ["a"], "unchanged": ["b"]}
    assert client.get("/flags/a").json["targeting"]["production"] == client.get("/flags/a").json["targeting"]["staging"]
    assert client.get("/flags/gone").json["environments"]["production"] is False
    events = client.get("/audit?action=flag.updated").json["events"]
    assert [(e["flag_name"], e["environment"]) for e in events] == [("a", "production")]


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/environments/nowhere/copy", {"to": "production"}, 400, "from"),
        ("/environments/staging/copy", {"to": "staging"}, 400, "to"),
        ("/environments/staging/copy", {"to": "production", "flags": ["a", "missing"]}, 404, None),
        ("/environments/staging/copy", {"to": "production", "flags": ["a", "old"]}, 409, None),
        ("/environments/staging/copy", {"to": "production", "flags": ["not a name"]}, 400, "flags.0"),
    ],
)
def test_environment_copy__bad_input__refused_and_nothing_written(client, path, body, status, field):
    create(client, "a", environments={"staging": True})
    create(client, "old", environments={"staging": True})
    client.post("/flags/old/archive")
    before = state(client)

    response = client.post(path, json=body)

    assert response.status_code == status, response.json
    if field is not None:
        assert response.json["details"][0]["field"] == field
    assert state(client) == before


class FailingStep:
    """Fails the batch's nth write, as a database going away half-way would."""

    def __init__(self, nth: int) -> None:
        self.nth = nth
        self.seen = 0

    def __call__(self, step) -> None:
        self.seen += 1
        if self.seen == self.nth:
            raise DatabaseUnavailable()


@pytest.mark.parametrize("transactions", [False, True], ids=["journalled", "transaction"])
def test_environment_copy__failure_half_way__nothing_changed(app, client, monkeypatch, transactions):
    # Given three flags to copy, and a database that fails on the second write
    for name in ("a", "b", "c"):
        create(client, name, environments={"staging": True})
    store = app.extensions["feature_flags.store"]
    store._supports_transactions = transactions
    if transactions:
        original = store._apply
        calls = {"n": 0}

        def failing(step, session):
            calls["n"] += 1
            if calls["n"] == 2:
                raise DatabaseUnavailable()
            return original(step, session)

        monkeypatch.setattr(store, "_apply", failing)
    else:
        monkeypatch.setattr(store, "_step_hook", FailingStep(2))
    before = state(client)

    # When
    response = client.post("/environments/staging/copy", json={"to": "production"})

    # Then the request fails as an outage and not one flag changed, nor any event was kept
    assert response.status_code == 503
    assert state(client) == before
    assert store.db.flag_batches.count_documents({}) == 0


# -- export and import -------------------------------------------------------------------------------


def test_export__flags__sorted_deterministic_without_ids_or_times(client):
    create(client, "zeta", tags=["b", "a"])
    create(client, "alpha", environments={"production": True}, targeting=SPLIT)
    client.post("/flags/zeta/archive")

    response = client.get("/export")

    assert response.status_code == 200
    data = response.json
    assert data["format"] == FORMAT and data["segments"] == []
    assert [flag["name"] for flag in data["flags"]] == ["alpha", "zeta"]
    assert data["flags"][1]["archived"] is True
    assert set(data["flags"][0]) == {
        "name", "description", "tags", "type", "environments", "variants", "off_variant", "targeting",
        "stickiness", "archived",
    }  # fmt: skip
    assert response.data.decode() == json.dumps(data, sort_keys=True, indent=2) + "\n"
    assert client.get("/export").data == response.data


def test_export_import__into_an_empty_instance__identical_bytes(client, make_app, config):
    # Given flags of every kind, one archived
    create(client, "alpha", environments={"production": True}, targeting=SPLIT, tags=["x"], type="experiment")
    create(client, "beta", variants={"blue": "b", "green": "g"}, off_variant="blue",
           targeting={env: {"serve": "green"} for env in ("development", "staging", "production")})  # fmt: skip
    create(client, "gamma")
    client.post("/flags/gamma/archive")
    # and segments, one named by a rule, with a flag requiring another
    assert client.post("/segments", json=SEGMENT).status_code == 201
    assert client.post("/segments", json={**SEGMENT, "name": "aaa-unused", "description": "d"}).status_code == 201
    create(client, "delta", targeting=USING_PRO)
    create(client, "epsilon", targeting=requiring("delta"))
    # and described context fields, one changed since
    assert client.post("/context-fields", json=PLAN_FIELD).status_code == 201
    assert client.post("/context-fields", json={"name": "country", "type": "string"}).status_code == 201
    assert client.patch("/context-fields/country", json={"values": ["DE", "FR"]}).status_code == 200
    exported = client.get("/export").data
    assert [segment["name"] for segment in json.loads(exported)["segments"]] == ["aaa-unused", "pro"]
    assert [field["name"] for field in json.loads(exported)["context_fields"]] == ["country", "plan"]

    # When it is imported into an empty instance and exported from there
    other = make_app(mongo_db=f"{config.mongo_db}_copy")
    try:
        other_client = other.test_client()
        other_client.environ_base["HTTP_AUTHORIZATION"] = client.environ_base["HTTP_AUTHORIZATION"]
        imported = other_client.post("/import", data=exported, content_type="application/json")
        again = other_client.get("/export").data
    finally:
        MongoClient(config.mongo_uri).drop_database(f"{config.mongo_db}_copy")

    # Then
    assert imported.status_code == 200, imported.json
    assert imported.json["created"] == ["alpha", "beta", "delta", "epsilon", "gamma"]
    assert imported.json["segments"]["created"] == ["aaa-unused", "pro"]
    assert imported.json["context_fields"]["created"] == ["country", "plan"]
    assert again == exported


def test_import__upsert__creates_updates_audits_and_serves_at_once(client):
    create(client, "kept")
    create(client, "changed")
    body = document(
        {"name": "kept"},
        {"name": "changed", "environments": {"production": True}, "description": "now on"},
        {"name": "new", "environments": {"production": True}},
    )

    response = client.post("/import", json=body)

    assert response.status_code == 200, response.json
    assert response.json == {
        "created": ["new"], "updated": ["changed"], "unchanged": ["kept"], "removed": [], "dry_run": False,
        "segments": NO_SEGMENTS,
    }  # fmt: skip
    actions = [event["action"] for event in client.get("/audit").json["events"]][:3]
    assert sorted(actions) == ["flag.created", "flag.updated", "flags.imported"]
    # This process serves the imported flags at once (the flag cache was told)
    evaluated = client.post("/ofrep/v1/evaluate/flags/new?environment=production", json={"context": {}})
    assert evaluated.status_code == 200 and evaluated.json["value"] is True


def test_import__dry_run__answers_the_plan_and_writes_nothing(client):
    create(client, "old")
    before = state(client)

    response = client.post("/import?dry_run=true&mode=replace", json=document({"name": "new"}))

    assert response.status_code == 200
    assert response.json == {
        "created": ["new"], "updated": [], "unchanged": [], "removed": ["old"], "dry_run": True,
        "segments": NO_SEGMENTS,
    }  # fmt: skip
    assert state(client) == before


def test_import__replace__removes_flags_the_document_lacks(client):
    create(client, "old")
    create(client, "kept")

    response = client.post("/import?mode=replace", json=document({"name": "kept"}))

    assert response.status_code == 200
    assert response.json["removed"] == ["old"]
    assert client.get("/flags/old").status_code == 404
    assert client.get("/audit?action=flag.deleted").json["events"][0]["flag_name"] == "old"


@pytest.mark.parametrize(
    ("body", "query", "field"),
    [
        (document({"name": "a"}, {"name": "b", "targeting": {"production": {"serve": "nope"}}}), "",
         "flags.1.targeting.production.serve"),
        (document({"name": "a"}, {"name": "a"}), "", "flags.1.name"),
        (document({"name": "a", "environments": {"moon": True}}), "", "flags.0.environments"),
        (document({"name": "a", "archived": "yes"}), "", "flags.0.archived"),
        (document({"name": "a", "id": "x"}), "", "flags.0.id"),
        (document({"name": "a", "variants": {"on": "x" * 70000, "off": "y"}}), "", "flags.0"),
        (document("not a flag"), "", "flags.0"),
        ({"format": "other", "flags": []}, "", "format"),
        ({"format": FORMAT, "flags": [], "segments": [{"name": "s"}]}, "", "segments.0.conditions"),
        ({"format": FORMAT, "flags": [], "segments": [SEGMENT, SEGMENT]}, "", "segments.1.name"),
        ({"format": FORMAT, "flags": [], "segments": {}}, "", "segments"),
        ({"format": FORMAT, "flags": {}}, "", "flags"),
        # More than any deployment may hold (FF_MAX_FLAGS' ceiling): refused before a flag is looked at.
        ({"format": FORMAT, "flags": [{}] * (MAX_IMPORT_FLAGS + 1)}, "", "flags"),
        (document({"name": "a"}), "?mode=merge", "mode"),
        (document({"name": "a"}), "?format=unleash", "environment"),
    ],
    ids=["unknown-serve", "repeated-name", "unknown-environment", "archived-type", "unknown-field", "too-large",
         "not-an-object", "format", "segment-without-conditions", "repeated-segment", "segments-type",
         "flags-type", "too-many", "mode", "unleash-without-environment"],
)  # fmt: skip
def test_import__bad_document__400_naming_the_path_and_nothing_written(client, body, query, field):
    create(client, "a", description="as it was")
    before = state(client)

    response = client.post(f"/import{query}", json=body)

    assert response.status_code == 400, response.json
    assert response.json["details"][0]["field"] == field
    assert state(client) == before


def test_export__segments__sorted_by_name_without_ids_versions_or_times(client):
    # Given two segments, the second changed since it was made
    client.post("/segments", json={**SEGMENT, "name": "zeta"})
    client.post("/segments", json=SEGMENT)
    client.put("/segments/zeta", json={"description": "changed"})

    # When
    response = client.get("/export")

    # Then each is its name, description and conditions, by name, the same bytes every time
    assert response.json["segments"] == [SEGMENT, {**SEGMENT, "name": "zeta", "description": "changed"}]
    assert client.get("/export").data == response.data


def test_import__segments__created_updated_unchanged_and_served_at_once(client):
    # Given one segment as the document has it and one it changes
    client.post("/segments", json=SEGMENT)
    client.post("/segments", json={**SEGMENT, "name": "old-conditions"})
    conditions = [{"attribute": "country", "op": "in", "values": ["NL"]}]
    changed = {**SEGMENT, "name": "old-conditions", "conditions": conditions}
    new = {**SEGMENT, "name": "new", "description": "fresh"}
    targeting = {"production": {"rules": [{"when": [{"segment": "new"}], "serve": "on"}], "serve": "off"}}
    flag = {"name": "flag", "environments": {"production": True}, "targeting": targeting}
    body = with_segments(document(flag), SEGMENT, changed, new)

    # When
    response = client.post("/import", json=body)

    # Then the plan names them, each change is audited, and this process serves them at once
    assert response.status_code == 200, response.json
    assert response.json["segments"] == {
        "created": ["new"], "updated": ["old-conditions"], "unchanged": ["pro"], "removed": []
    }  # fmt: skip
    assert client.get("/segments/old-conditions").json["conditions"] == conditions
    actions = [event["action"] for event in client.get("/audit").json["events"]][:4]
    assert sorted(actions) == ["flag.created", "flags.imported", "segment.created", "segment.updated"]
    evaluated = client.post("/ofrep/v1/evaluate/flags/flag?environment=production", json={"context": {"plan": "pro"}})
    assert evaluated.json["reason"] == "TARGETING_MATCH" and evaluated.json["value"] is True


def test_import__replace__removes_segments_the_document_lacks(client):
    client.post("/segments", json=SEGMENT)
    client.post("/segments", json={**SEGMENT, "name": "gone"})

    dry = client.post("/import?mode=replace&dry_run=true", json=with_segments(document(), SEGMENT))
    response = client.post("/import?mode=replace", json=with_segments(document(), SEGMENT))

    assert dry.json["segments"]["removed"] == ["gone"]
    assert response.status_code == 200, response.json
    assert response.json["segments"] == {"created": [], "updated": [], "unchanged": ["pro"], "removed": ["gone"]}
    assert client.get("/segments/gone").status_code == 404
    assert client.get("/audit?action=segment.deleted").json["events"][0]["segment_name"] == "gone"


def test_export__context_fields__by_name_without_ids_versions_or_times(client):
    client.post("/context-fields", json={"name": "zone", "type": "number"})
    client.post("/context-fields", json=PLAN_FIELD)

    response = client.get("/export")

    assert response.json["context_fields"] == [
        PLAN_FIELD, {"name": "zone", "description": "", "type": "number", "values": []}
    ]  # fmt: skip


def test_import__context_fields__created_updated_unchanged_audited_and_listed(client):
    # Given a described field as the document has it and one the document changes
    client.post("/context-fields", json=PLAN_FIELD)
    client.post("/context-fields", json={"name": "country", "description": "ISO code"})
    changed = {"name": "country", "description": "ISO 3166 code", "type": "string", "values": ["DE"]}
    new = {"name": "app-version", "type": "semver"}
    body = {**document(), "context_fields": [PLAN_FIELD, changed, new]}

    # When
    dry = client.post("/import?dry_run=true", json=body)
    response = client.post("/import", json=body)

    # Then the plan names them, each change is audited, and the API lists them as the document has them
    plan = {"created": ["app-version"], "updated": ["country"], "unchanged": ["plan"], "removed": []}
    assert dry.json["context_fields"] == plan
    assert response.status_code == 200, response.json
    assert response.json["context_fields"] == plan
    fields = {field["name"]: field for field in client.get("/context-fields").json["fields"]}
    assert fields["country"]["description"] == "ISO 3166 code" and fields["country"]["values"] == ["DE"]
    assert fields["country"]["version"] == 2
    assert fields["app-version"]["type"] == "semver" and fields["app-version"]["version"] == 1
    events = client.get("/audit?limit=10").json["events"]
    by_action = {event["action"]: event for event in reversed(events)}  # the newest of each
    assert by_action["context_field.updated"]["context_field_name"] == "country"
    assert by_action["context_field.updated"]["before"] == {"description": "ISO code", "values": []}
    assert by_action["context_field.created"]["context_field_name"] == "app-version"
    assert by_action["flags.imported"]["after"]["context_fields"] == {
        "created": 1, "updated": 1, "unchanged": 1, "removed": 0
    }  # fmt: skip


def test_import__replace__removes_context_fields_only_when_the_document_lists_them(client):
    client.post("/context-fields", json=PLAN_FIELD)
    client.post("/context-fields", json={"name": "gone"})

    # A document from before context fields were exported says nothing of them: they stay
    untouched = client.post("/import?mode=replace", json=document())
    kept = [field["name"] for field in client.get("/context-fields").json["fields"]]
    replaced = client.post("/import?mode=replace", json={**document(), "context_fields": [PLAN_FIELD]})

    assert untouched.status_code == 200 and "context_fields" not in untouched.json
    assert kept == ["gone", "plan"]
    assert replaced.status_code == 200, replaced.json
    assert replaced.json["context_fields"]["removed"] == ["gone"]
    assert [field["name"] for field in client.get("/context-fields").json["fields"]] == ["plan"]
    assert client.get("/audit?action=context_field.deleted").json["events"][0]["context_field_name"] == "gone"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ([{"name": "plan", "type": "colour"}], "context_fields.0.type"),
        ([{"name": "plan"}, {"name": "plan"}], "context_fields.1.name"),
        ([{"name": "has space"}], "context_fields.0.name"),
        ([{"name": "plan", "values": ["a", "a"]}], "context_fields.0.values"),
        ([{"name": "plan", "surprise": 1}], "context_fields.0.surprise"),
        ("plan", "context_fields"),
        ([{"name": f"f{index}"} for index in range(501)], "context_fields"),
    ],
)
def test_import__bad_context_field__400_naming_the_path_and_nothing_written(client, fields, field):
    before = state(client)
    body = {**document({"name": "would-be-created"}), "context_fields": fields}

    response = client.post("/import", json=body)

    assert response.status_code == 400, response.json
    assert response.json["details"][0]["field"] == field
    assert state(client) == before
    assert client.get("/context-fields").json["fields"] == []


@pytest.mark.parametrize("transactions", [False, True], ids=["journalled", "transaction"])
def test_import__failing_at_its_last_context_field__flags_segments_and_fields_unchanged(
    app, client, monkeypatch, transactions
):
    # Given a flag, a segment and a described field the document changes, and a database that fails on the last
    # write of the batch (context fields are written last)
    create(client, "a")
    client.post("/segments", json=SEGMENT)
    client.post("/context-fields", json=PLAN_FIELD)
    store = app.extensions["feature_flags.store"]
    store._supports_transactions = transactions
    failing = FailingStep(5)
    if transactions:
        original = store._apply

        def apply(step, session):
            failing(step)
            return original(step, session)

        monkeypatch.setattr(store, "_apply", apply)
    else:
        monkeypatch.setattr(store, "_step_hook", failing)
    before = state(client)
    described = store.context_fields()
    body = {
        **with_segments(document({"name": "a", "description": "x"}, {"name": "b"}), {**SEGMENT, "description": "y"}),
        "context_fields": [{**PLAN_FIELD, "values": ["free"]}, {"name": "country"}],
    }

    # When
    response = client.post("/import", json=body)

    # Then
    assert response.status_code == 503
    assert failing.seen == 5
    assert state(client) == before
    assert store.context_fields() == described
    assert store.db.flag_batches.count_documents({}) == 0


def test_import__replace_removing_a_segment_a_kept_flag_names__409_and_nothing_written(client):
    # Given a flag naming a segment, and a document keeping the flag but lacking the segment
    client.post("/segments", json=SEGMENT)
    create(client, "uses", targeting=USING_PRO)
    before = state(client)

    # When
    response = client.post("/import?mode=replace", json=document({"name": "uses", "targeting": USING_PRO}))

    # Then
    assert response.status_code == 409, response.json
    assert response.json["error"] == "segment_in_use"
    assert response.json["details"][0]["flag"] == "uses"
    assert state(client) == before


UNKNOWN_SEGMENT_RULE = {"when": [{"attribute": "plan", "op": "in", "values": ["x"]}, {"segment": "nowhere"}],
                        "serve": "on"}  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "mode", "field", "kind"),
    [
        ([{"name": "a"}, {"name": "b"}, {"name": "c", "targeting": {"production": {"rules": [UNKNOWN_SEGMENT_RULE]}}}],
         "upsert", "flags.2.targeting.production.rules.0.when.1.segment", "unknown_segment"),
        ([{"name": "a", "targeting": requiring("missing")}], "upsert",
         "flags.0.targeting.production.prerequisites.0.flag", "unknown_flag"),
        ([{"name": "a", "targeting": requiring("existing", variants=("blue",))}], "upsert",
         "flags.0.targeting.production.prerequisites.0.variants.0", "unknown_prerequisite_variant"),
        ([{"name": "a", "targeting": requiring("b")}, {"name": "b", "targeting": requiring("a")}], "upsert",
         "flags.0.targeting.production.prerequisites.0.flag", "prerequisite_cycle"),
        ([{"name": "a", "targeting": requiring("existing")}, {"name": "existing", "targeting": requiring("a")}],
         "upsert", "flags.0.targeting.production.prerequisites.0.flag", "prerequisite_cycle"),
        # replace removes the flags the document lacks: requiring one of them names nothing
        ([{"name": "a", "targeting": requiring("existing")}], "replace",
         "flags.0.targeting.production.prerequisites.0.flag", "unknown_flag"),
    ],
    ids=["unknown-segment", "unknown-prerequisite", "unknown-variant", "cycle-in-document", "cycle-with-existing",
         "prerequisite-replaced-away"],
)  # fmt: skip
def test_import__bad_reference__400_naming_the_path_and_nothing_written(client, flags, mode, field, kind):
    # Given a flag that exists, and a document naming what the result would not have
    create(client, "existing")
    before = state(client)

    # When
    response = client.post(f"/import?mode={mode}", json=with_segments(document(*flags), SEGMENT))

    # Then
    assert response.status_code == 400, response.json
    assert (response.json["details"][0]["field"], response.json["details"][0]["type"]) == (field, kind)
    assert state(client) == before


def test_import__names_existing_or_document_segments_and_flags__accepted(client):
    # Given an existing segment and flag the document does not mention (upsert keeps them)
    client.post("/segments", json=SEGMENT)
    create(client, "existing")
    staging = requiring("existing", "b", environment="staging")
    using_new = {"production": {"rules": [{"when": [{"segment": "new"}], "serve": "on"}]}}
    body = with_segments(
        document({"name": "a", "targeting": {**USING_PRO, **staging}}, {"name": "b", "targeting": using_new}),
        {**SEGMENT, "name": "new"},
    )

    # When
    response = client.post("/import", json=body)

    # Then
    assert response.status_code == 200, response.json
    assert response.json["created"] == ["a", "b"]


def test_import__over_the_standalone_bound__refused_with_a_clear_message(app, client):
    app.extensions["feature_flags.store"]._supports_transactions = False
    flags = [{"name": f"flag-{i}"} for i in range(1001)]

    response = client.post("/import", json=document(*flags))

    assert response.status_code == 400
    assert response.json["error"] == "too_many_changes"
    assert "1,000" in response.json["message"]
    assert client.get("/flags").json == []


@pytest.mark.parametrize("transactions", [False, True], ids=["journalled", "transaction"])
def test_import__failure_half_way__nothing_changed(app, client, monkeypatch, transactions):
    # Given segments and flags to update, delete and create, and a database that fails on the sixth write
    for name in ("a", "b", "c"):
        create(client, name)
    store = app.extensions["feature_flags.store"]
    store._supports_transactions = transactions
    monkeypatch.setattr(store, "_step_hook", FailingStep(6))
    if transactions:
        original = store._apply
        failing = FailingStep(6)

        def apply(step, session):
            failing(step)
            return original(step, session)

        monkeypatch.setattr(store, "_apply", apply)
    client.post("/segments", json=SEGMENT)
    client.post("/segments", json={**SEGMENT, "name": "gone"})
    before = state(client)
    flags = document({"name": "a", "description": "x"}, {"name": "b", "description": "y"}, {"name": "d"}, {"name": "e"})
    # The segments are written first: a created, an updated and a removed one before the flags that fail
    body = with_segments(flags, {**SEGMENT, "description": "changed"}, {**SEGMENT, "name": "new"})

    # When
    response = client.post("/import?mode=replace", json=body)

    # Then
    assert response.status_code == 503
    assert state(client) == before
    # Read from the database: this test forces the journal onto a server whose change stream saw the writes
    segments = store.find_all_segments()
    assert sorted((segment["name"], segment["description"]) for segment in segments) == [("gone", ""), ("pro", "")]
    assert store.db.flag_batches.count_documents({}) == 0


def test_import__crash_half_way__recovery_rolls_it_back(app, client, monkeypatch):
    # Given an import that stops half-way and cannot roll back (the process died)
    for name in ("a", "b"):
        create(client, name)
    store = app.extensions["feature_flags.store"]
    store._supports_transactions = False
    before = state(client)
    monkeypatch.setattr(store, "_step_hook", FailingStep(3))

    def unreachable(batch):
        raise DatabaseUnavailable()

    monkeypatch.setattr(store, "_roll_back", unreachable)
    body = document({"name": "a", "description": "x"}, {"name": "b", "description": "y"}, {"name": "c"})
    response = client.post("/import", json=body)
    assert response.status_code == 503
    assert store.db.flags.count_documents({"description": "x"}) == 1
    monkeypatch.undo()

    # When the next start recovers
    settled = store.recover_flag_batches(grace=timedelta(0))

    # Then the flags are as they were and no event of the import stays
    assert settled == 1
    assert store.db.flags.count_documents({"description": {"$in": ["x", "y"]}}) == 0
    assert store.db.flags.count_documents({"name": "c"}) == 0
    assert store.db.audit.count_documents({"batch": {"$exists": True}}) == 0
    assert [e["_id"] for e in client.get("/audit?limit=500").json["events"]] == before[1]


def test_import__client_token__403(client):
    token = client.post("/tokens", json={"name": "app", "role": "client", "environment": "production"}).json["token"]

    response = client.post("/import", json=document(), headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403
    assert client.get("/export", headers={"Authorization": f"Bearer {token}"}).status_code == 403


# -- the command line and FF_IMPORT_FILE --------------------------------------------------------------


def test_cli__export_then_import_elsewhere__same_flags(client, runner, make_app, config, tmp_path):
    create(client, "alpha", environments={"production": True})
    path = tmp_path / "flags.json"

    exported = runner.invoke(args=["flags", "export", str(path)])
    assert exported.exit_code == 0, exported.output
    assert path.read_bytes() == client.get("/export").data

    other = make_app(mongo_db=f"{config.mongo_db}_cli")
    try:
        dry = other.test_cli_runner().invoke(args=["flags", "import", str(path), "--dry-run"])
        real = other.test_cli_runner().invoke(args=["flags", "import", str(path), "--replace"])
        flags = other.extensions["feature_flags.store"].find_all_flags()
    finally:
        MongoClient(config.mongo_uri).drop_database(f"{config.mongo_db}_cli")
    assert dry.exit_code == 0 and json.loads(dry.output)["dry_run"] is True
    assert real.exit_code == 0, real.output
    assert json.loads(real.output)["created"] == ["alpha"]
    assert [flag["name"] for flag in flags] == ["alpha"]


def test_cli__import_bad_file__one_line_error(runner, tmp_path):
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(document({"name": "a", "off_variant": "nope"})))

    result = runner.invoke(args=["flags", "import", str(path)])

    assert result.exit_code == 1
    assert "flags.0.off_variant" in result.output


def test_import_file__empty_database__applied_at_start_and_only_then(make_app, tmp_path):
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(document({"name": "from-git", "environments": {"production": True}})))

    first = make_app(import_file=path)
    store = first.extensions["feature_flags.store"]
    assert [flag["name"] for flag in store.find_all_flags()] == ["from-git"]

    # A later start over a database with flags leaves them alone, even when the file says otherwise
    path.write_text(json.dumps(document({"name": "other"})))
    make_app(import_file=path)
    assert [flag["name"] for flag in store.find_all_flags()] == ["from-git"]


@pytest.mark.parametrize(
    ("text", "said"),
    [("{not json", "not valid JSON"), (json.dumps(document({"name": "a b"})), "flags.0.name")],
)
def test_import_file__bad_file__start_stops_with_one_line(make_app, tmp_path, text, said):
    path = tmp_path / "bootstrap.json"
    path.write_text(text)

    with pytest.raises(ConfigError) as error:
        make_app(import_file=path)

    assert str(error.value).startswith("FF_IMPORT_FILE: ") and said in str(error.value)
    assert "\n" not in str(error.value)


def test_import__thousands_of_flags_in_a_transaction__all_created(app, client):
    # Given a database with transactions (the test server has them), more flags than a journal may take
    assert app.extensions["feature_flags.store"].supports_transactions
    flags = [{"name": f"flag-{i}"} for i in range(1500)]

    response = client.post("/import", json=document(*flags))

    assert response.status_code == 200, response.json
    assert len(response.json["created"]) == 1500
    assert client.get("/flags?limit=1").headers["X-Total-Count"] == "1500"


def test_export_import__more_than_ten_thousand_flags__the_export_imports_back(app, client):
    # Given: 10,001 flags, one archived (an export past the old bound of 10,000 flags a document could hold)
    seed_flags(app, 10_001, audited=False)
    assert client.post("/flags/flag-00007/archive").status_code == 200
    exported = client.get("/export").data
    events = client.get("/audit?limit=5").json["events"]

    # When: the export is imported back (writing an empty instance's 10,001 is the 1,500-flag test's, at scale)
    imported = client.post("/import", data=exported, content_type="application/json")

    # Then: taken whole, every flag unchanged, nothing written
    assert imported.status_code == 200, imported.json
    assert len(imported.json["unchanged"]) == 10_001 and imported.json["created"] == imported.json["updated"] == []
    assert client.get("/audit?limit=5").json["events"] == events
    assert client.get("/export").data == exported


def test_flag_and_segment_bounds__creating_or_importing_past_them__refused_and_nothing_made(make_app):
    # Given: a deployment bounded at 3 flags and 1 segment, holding 2 flags (one archived) and a segment
    small = make_app(max_flags=3, max_segments=1)
    client = small.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {ADMIN_TOKEN}"
    create(client, "a")
    create(client, "b")
    assert client.post("/flags/b/archive").status_code == 200
    assert client.post("/segments", json=SEGMENT).status_code == 201
    create(client, "c")
    before = state(client)

    # When: a fourth flag is created, a second segment, and imports that would leave 4 flags or 2 segments
    fourth = client.post("/flags", json={"name": "d"})
    segment = client.post("/segments", json={**SEGMENT, "name": "other"})
    flags_import = client.post("/import", json=document({"name": "d"}))
    segments_import = client.post("/import", json=with_segments(document(), {**SEGMENT, "name": "other"}))

    # Then: each is refused with its bound, and nothing was made
    assert fourth.status_code == 400 and fourth.json["error"] == "too_many_flags", fourth.json
    assert "3" in fourth.json["message"] and "archived" in fourth.json["message"]
    assert segment.status_code == 400 and segment.json["error"] == "too_many_segments", segment.json
    assert flags_import.status_code == 400 and flags_import.json["error"] == "too_many_flags", flags_import.json
    assert segments_import.status_code == 400 and segments_import.json["error"] == "too_many_segments"
    assert state(client) == before
    # And an import that replaces within the bound is taken
    assert client.post("/import?mode=replace", json=document({"name": "x"}, {"name": "y"})).status_code == 200

"""Change requests: with FF_APPROVALS=production a production change waits for someone else's approval.

Over a real database, people signed in as the page signs them in (persons.py) and tokens: each step is read
back through the API, the flag as evaluation serves it, and the audit trail.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from bson import ObjectId

from feature_flags.config import Config, ConfigError
from feature_flags.errors import DatabaseUnavailable
from feature_flags.extensions import get_store
from feature_flags.flags import service as flags_service
from feature_flags.schedules import scheduler
from feature_flags.storage.client import utcnow
from tests.people.persons import SSO_SETTINGS, person
from tests.support import Receiver, auth, wait_for

PRODUCTION_ON = {"environments": {"production": True}}


@pytest.fixture
def approvals_app(make_app):
    """Single sign-on, production under approval, no scheduler thread (tests run the scheduler's look)."""
    return make_app(**SSO_SETTINGS, approvals=("production",), scheduler=False)


@pytest.fixture
def admin(approvals_app):
    client = approvals_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = auth()["Authorization"]
    return client


@pytest.fixture
def alice(approvals_app):
    return person(approvals_app, "alice@example.com", "editor")


@pytest.fixture
def bob(approvals_app):
    return person(approvals_app, "bob@example.com", "editor")


@pytest.fixture
def flag(admin):
    answer = admin.post("/flags", json={"name": "checkout", "environments": {"staging": True}})
    assert answer.status_code == 201, answer.json
    return answer.json


def _request(client, changes=None, **fields):
    answer = client.post("/change-requests", json={"flag": "checkout", "changes": changes or PRODUCTION_ON, **fields})
    assert answer.status_code == 201, answer.json
    return answer.json


def _moment_comes(app, change_request_id: str) -> None:
    """Bring an approved request's apply_at to now, as the clock reaching it would (no test waits for a clock)."""
    get_store(app)._change_requests.update_one({"_id": ObjectId(change_request_id)}, {"$set": {"apply_at": utcnow()}})


def _lease_runs_out(app, change_request_id: str) -> None:
    """End the lease on a claimed request, as the claimer's death and the lease's length would."""
    get_store(app)._change_requests.update_one(
        {"_id": ObjectId(change_request_id)}, {"$set": {"lease_until": utcnow()}}
    )


def _production_client_token(admin) -> str:
    answer = admin.post("/tokens", json={"name": "shop-prod", "role": "client", "environment": "production"})
    assert answer.status_code == 201, answer.json
    return answer.json["token"]


def _served(app, token: str) -> bool:
    answer = app.test_client().post(
        "/ofrep/v1/evaluate/flags/checkout", json={"context": {"targetingKey": "u-1"}}, headers=auth(token)
    )
    assert answer.status_code == 200, answer.json
    return answer.json["value"]


def test_change_request__approved_by_someone_else__applied_once_served_and_audited(
    approvals_app, admin, flag, alice, bob
):
    # Given: a production client, and a production change made directly, which is refused
    token = _production_client_token(admin)
    direct = alice.put("/flags/checkout", json=PRODUCTION_ON)
    toggled = alice.post("/flags/checkout/toggle", json={"environment": "production"})

    # When: alice requests it, tries to approve it herself, then bob approves it
    made = _request(alice, comment="launch")
    own = alice.post(f"/change-requests/{made['_id']}/approve")
    approved = bob.post(f"/change-requests/{made['_id']}/approve", json={"comment": "looks right"})
    again = bob.post(f"/change-requests/{made['_id']}/approve")

    # Then: the direct writes pointed at change requests and changed nothing
    for refused in (direct, toggled):
        assert refused.status_code == 409 and refused.json["error"] == "change_request_required"
        assert refused.json["environments"] == ["production"]
        assert refused.json["change_requests"] == "/change-requests"
    assert made["state"] == "open" and made["base_version"] == 1 and made["environments"] == ["production"]
    assert made["requested_by"] == "alice@example.com" and made["changes"] == PRODUCTION_ON
    assert own.status_code == 403 and own.json["error"] == "own_change_request"
    # Bob's approval applied it at once, once
    assert approved.status_code == 200, approved.json
    assert approved.json["state"] == "applied" and approved.json["reviewed_by"] == "bob@example.com"
    assert approved.json["review_comment"] == "looks right" and approved.json["applied_at"] is not None
    assert again.status_code == 409 and again.json["error"] == "change_request_state"
    shown = admin.get("/flags/checkout").json
    assert shown["environments"]["production"] is True and shown["version"] == 2
    assert _served(approvals_app, token) is True
    # And every step is in the flag's history, the write naming both people
    history = admin.get("/flags/checkout/history").json["events"]
    assert [e["action"] for e in history][:4] == [
        "change_request.applied",
        "flag.updated",
        "change_request.approved",
        "change_request.created",
    ]
    write = history[1]
    assert write["change_request_id"] == made["_id"] and write["environment"] == "production"
    assert write["requested_by"] == "alice@example.com" and write["approved_by"] == "bob@example.com"
    assert write["person"]["email"] == "bob@example.com" and write["after"]["environments"] == {"production": True}
    assert history[3]["person"]["email"] == "alice@example.com"


def test_change_request__flag_changed_meanwhile__stale_until_rebased(admin, flag, alice, bob):
    # Given: a request, then a change the request was not made on (a description needs no approval)
    made = _request(alice)
    assert admin.put("/flags/checkout", json={"description": "new copy"}).status_code == 200

    # When
    stale = bob.post(f"/change-requests/{made['_id']}/approve")
    unchanged = alice.get(f"/change-requests/{made['_id']}").json
    rebased = alice.post(f"/change-requests/{made['_id']}/rebase")
    approved = bob.post(f"/change-requests/{made['_id']}/approve")

    # Then: the stale approval changed nothing; the rebased request applied on the new version
    assert stale.status_code == 409 and stale.json["error"] == "change_request_stale"
    assert stale.json["base_version"] == 1 and stale.json["current_version"] == 2
    assert unchanged["state"] == "open" and unchanged["reviewed_by"] is None
    assert rebased.status_code == 200 and rebased.json["state"] == "open" and rebased.json["base_version"] == 2
    assert approved.status_code == 200 and approved.json["state"] == "applied", approved.json
    shown = admin.get("/flags/checkout").json
    assert shown["version"] == 3 and shown["environments"]["production"] is True
    assert shown["description"] == "new copy"


def test_change_request__made_on_an_older_version__412_and_nothing_stored(admin, flag, alice):
    # Given: the flag changed after alice read it
    admin.put("/flags/checkout", json={"description": "moved on"})

    # When
    answer = alice.post("/change-requests", json={"flag": "checkout", "changes": PRODUCTION_ON, "base_version": 1})

    # Then
    assert answer.status_code == 412 and answer.json["error"] == "version_conflict"
    assert answer.json["current_version"] == 2
    assert admin.get("/change-requests").json["change_requests"] == []


def test_change_request__two_approvals_at_once__one_applies_it_the_other_409(approvals_app, admin, flag, alice):
    # Given: two reviewers approving the same request at the same moment
    reviewers = [person(approvals_app, f"reviewer-{n}@example.com", "editor") for n in range(2)]
    made = _request(alice)
    answers = []
    barrier = threading.Barrier(2)

    def approve(reviewer):
        barrier.wait()
        answers.append(reviewer.post(f"/change-requests/{made['_id']}/approve"))

    threads = [threading.Thread(target=approve, args=(reviewer,)) for reviewer in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # Then
    assert sorted(answer.status_code for answer in answers) == [200, 409], [a.json for a in answers]
    assert admin.get("/flags/checkout").json["version"] == 2
    applied = [e for e in admin.get("/flags/checkout/history").json["events"] if e["action"] == "flag.updated"]
    assert len(applied) == 1


def test_change_request__rejected_or_cancelled__never_applied(approvals_app, admin, flag, alice, bob):
    # Given
    first, second = _request(alice), _request(alice)

    # When
    own_reject = alice.post(f"/change-requests/{first['_id']}/reject")
    rejected = bob.post(f"/change-requests/{first['_id']}/reject", json={"comment": "not this week"})
    others_cancel = bob.post(f"/change-requests/{second['_id']}/cancel")
    cancelled = alice.post(f"/change-requests/{second['_id']}/cancel")
    approve_rejected = bob.post(f"/change-requests/{first['_id']}/approve")
    approve_cancelled = bob.post(f"/change-requests/{second['_id']}/approve")
    listed = admin.get("/change-requests?flag=checkout").json["change_requests"]

    # Then
    assert own_reject.status_code == 403 and own_reject.json["error"] == "own_change_request"
    assert rejected.status_code == 200 and rejected.json["state"] == "rejected"
    assert rejected.json["review_comment"] == "not this week" and rejected.json["finished_at"] is not None
    assert others_cancel.status_code == 403
    assert cancelled.status_code == 200 and cancelled.json["state"] == "cancelled"
    for refused in (approve_rejected, approve_cancelled):
        assert refused.status_code == 409 and refused.json["error"] == "change_request_state"
    assert [(r["_id"], r["state"]) for r in listed] == [(second["_id"], "cancelled"), (first["_id"], "rejected")]
    assert admin.get("/change-requests?state=open").json["change_requests"] == []
    assert scheduler(approvals_app).look() == 0
    assert admin.get("/flags/checkout").json["version"] == 1


def test_change_request__approver_without_rights_there__403_and_still_open(approvals_app, flag, alice):
    # Given: a viewer, and an editor who only reads production
    viewer = person(approvals_app, "vera@example.com", "viewer")
    staging_editor = person(approvals_app, "sam@example.com", "editor", {"production": "viewer"})
    made = _request(alice)

    # When
    by_viewer = viewer.post(f"/change-requests/{made['_id']}/approve")
    by_staging_editor = staging_editor.post(f"/change-requests/{made['_id']}/approve")
    requested_by_staging_editor = staging_editor.post(
        "/change-requests", json={"flag": "checkout", "changes": PRODUCTION_ON}
    )

    # Then
    assert by_viewer.status_code == 403 and by_staging_editor.status_code == 403
    assert by_staging_editor.json["environments"] == ["production"]
    assert requested_by_staging_editor.status_code == 403
    assert alice.get(f"/change-requests/{made['_id']}").json["state"] == "open"


def test_change_request__two_tokens__one_requests_the_other_approves(approvals_app, admin, flag):
    # Given: a pipeline's editor token bound to production, and an editor token of a reviewer
    pipeline = admin.post("/tokens", json={"name": "deploy", "role": "editor", "environment": "production"}).json
    reviewer = admin.post("/tokens", json={"name": "reviewer", "role": "editor"}).json
    api = approvals_app.test_client()

    # When
    made = api.post(
        "/change-requests", json={"flag": "checkout", "changes": PRODUCTION_ON}, headers=auth(pipeline["token"])
    )
    read_by_pipeline = api.get(f"/change-requests/{made.json['_id']}", headers=auth(pipeline["token"]))
    listed_by_pipeline = api.get("/change-requests", headers=auth(pipeline["token"]))
    approved = api.post(f"/change-requests/{made.json['_id']}/approve", headers=auth(reviewer["token"]))

    # Then
    assert made.status_code == 201, made.json
    assert read_by_pipeline.status_code == 200 and read_by_pipeline.json["requested_by"] == "deploy"
    assert listed_by_pipeline.status_code == 403
    assert approved.status_code == 200 and approved.json["state"] == "applied", approved.json
    assert admin.get("/flags/checkout").json["environments"]["production"] is True


def test_change_request__apply_at__applied_by_the_scheduler_then(approvals_app, admin, flag, alice, bob):
    # Given: a request for a moment just ahead, approved now
    moment = utcnow() + timedelta(hours=1)
    made = _request(alice, apply_at=moment.isoformat())
    approved = bob.post(f"/change-requests/{made['_id']}/approve")
    early = scheduler(approvals_app).look()

    # When: the moment comes and the scheduler looks
    _moment_comes(approvals_app, made["_id"])
    applied = scheduler(approvals_app).look()

    # Then
    assert approved.status_code == 200 and approved.json["state"] == "approved", approved.json
    assert early == 0 and applied == 1
    assert alice.get(f"/change-requests/{made['_id']}").json["state"] == "applied"
    assert admin.get("/flags/checkout").json["environments"]["production"] is True
    write = admin.get("/flags/checkout/history").json["events"][1]
    assert write["action"] == "flag.updated" and write["actor"] == "schedule"
    assert write["approved_by"] == "bob@example.com"


def test_change_request__flag_changed_before_its_moment__failed_with_reason_then_rebased(
    approvals_app, admin, flag, alice, bob
):
    # Given: an approved request waiting for its moment, and a change to the flag meanwhile
    made = _request(alice, apply_at=(utcnow() + timedelta(hours=1)).isoformat())
    bob.post(f"/change-requests/{made['_id']}/approve")
    admin.put("/flags/checkout", json={"tags": ["payments"]})

    # When
    _moment_comes(approvals_app, made["_id"])
    scheduler(approvals_app).look()
    failed = alice.get(f"/change-requests/{made['_id']}").json
    rebased = alice.post(f"/change-requests/{made['_id']}/rebase").json

    # Then
    assert failed["state"] == "failed" and "rebase" in failed["reason"]
    assert admin.get("/flags/checkout").json["environments"]["production"] is False
    assert rebased["state"] == "open" and rebased["base_version"] == 2 and rebased["reason"] is None
    assert "change_request.failed" in [e["action"] for e in admin.get("/flags/checkout/history").json["events"]]


def test_change_request__approver_dies_before_applying__scheduler_applies_it_once(
    approvals_app, admin, flag, alice, bob, monkeypatch
):
    # Given: an approval whose request fails after approving, before the flag is written
    from feature_flags.change_requests import service

    made = _request(alice)

    def unavailable(*args, **kwargs):
        raise DatabaseUnavailable()

    monkeypatch.setattr(service, "apply", unavailable)
    failed = bob.post(f"/change-requests/{made['_id']}/approve")
    monkeypatch.undo()
    held = scheduler(approvals_app).look()

    # When: the approval's lease runs out
    _lease_runs_out(approvals_app, made["_id"])
    first, second = scheduler(approvals_app).look(), scheduler(approvals_app).look()

    # Then: applied exactly once
    assert failed.status_code == 503
    assert held == 0 and (first, second) == (1, 0)
    assert alice.get(f"/change-requests/{made['_id']}").json["state"] == "applied"
    assert admin.get("/flags/checkout").json["version"] == 2


def test_change_request__written_but_not_marked__a_second_attempt_only_marks_it(approvals_app, admin, flag, alice, bob):
    # Given: an approved request claimed twice (a lease that ran out while the first attempt was writing)
    made = _request(alice, apply_at=(utcnow() + timedelta(hours=1)).isoformat())
    bob.post(f"/change-requests/{made['_id']}/approve")
    _moment_comes(approvals_app, made["_id"])
    store = get_store(approvals_app)
    claimed = store.claim_due_change_request("first", timedelta(seconds=30))

    def turn_on(current):
        return PRODUCTION_ON

    # When: the flag is written, the request not yet marked (as a crash between would leave it), then again
    store.update_flag(claimed["flag_id"], turn_on, "schedule", expected_version=1, once=claimed["_id"])
    again = store.apply_change_request(claimed, turn_on, "schedule", "flag.updated", "production")

    # Then: one write, the request applied (read from the database: the writes above went around the service's
    # cache, which hears of them within its freshness bound, not at once)
    assert again.revision is None
    assert store.find_flag("checkout")["version"] == 2
    assert alice.get(f"/change-requests/{made['_id']}").json["state"] == "applied"


DIRECT_WRITES = {
    "PUT production targeting": lambda c: c.put(
        "/flags/checkout", json={"targeting": {"production": {"serve": "off"}}}
    ),
    "PUT variants (every environment)": lambda c: c.put(
        "/flags/checkout", json={"variants": {"on": True, "off": False, "x": True}}
    ),
    "rename (every environment)": lambda c: c.put("/flags/checkout", json={"name": "checkout-2"}),
    "create on in production": lambda c: c.post("/flags", json={"name": "other", "environments": {"production": True}}),
    "schedule in production": lambda c: c.post(
        "/flags/checkout/schedules",
        json={"at": (utcnow() + timedelta(hours=1)).isoformat(), "environment": "production", "enabled": True},
    ),
    "copy a flag to production": lambda c: c.post("/flags/checkout/copy", json={"from": "staging", "to": "production"}),
    "copy an environment to production": lambda c: c.post("/environments/staging/copy", json={"to": "production"}),
    "import switching production": lambda c: c.post(
        "/import",
        json={
            "format": "feature-flags/v1",
            "flags": [{"name": "imported", "environments": {"production": True}}],
        },
    ),
}


@pytest.mark.parametrize("write", DIRECT_WRITES, ids=list(DIRECT_WRITES))
def test_direct_write_reaching_production__409_change_request_required_and_nothing_changed(admin, flag, write):
    # When: even an admin writes directly
    answer = DIRECT_WRITES[write](admin)

    # Then
    assert answer.status_code == 409, answer.json
    assert answer.json["error"] == "change_request_required" and answer.json["environments"] == ["production"]
    assert admin.get("/flags/checkout").json["version"] == 1
    assert [f["name"] for f in admin.get("/flags").json] == ["checkout"]
    assert admin.get("/flags/checkout/schedules").json == []


def test_writes_elsewhere__need_no_change_request(admin, flag, alice):
    # When: among them a form's whole set of details, its unchanged name included
    toggled = alice.post("/flags/checkout/toggle", json={"environment": "staging"})
    described = alice.put("/flags/checkout", json={"name": "checkout", "description": "staging only", "tags": ["web"]})
    same_production = alice.put("/flags/checkout", json={"environments": {"production": False, "staging": True}})
    dry_import = admin.post(
        "/import?dry_run=true",
        json={"format": "feature-flags/v1", "flags": [{"name": "imported", "environments": {"production": True}}]},
    )
    not_needed = alice.post(
        "/change-requests", json={"flag": "checkout", "changes": {"environments": {"staging": True}}}
    )

    # Then
    assert toggled.status_code == 200 and described.status_code == 200, described.json
    assert same_production.status_code == 200, same_production.json
    assert dry_import.status_code == 200 and dry_import.json["created"] == ["imported"]
    assert not_needed.status_code == 400 and not_needed.json["error"] == "change_request_not_needed"


def test_archive__of_a_flag_on_in_production__409_until_switched_off_by_request(
    make_app, approvals_app, admin, alice, bob
):
    # Given: a flag on in production from before approvals were required
    before = make_app(**SSO_SETTINGS).test_client()
    created = before.post("/flags", json={"name": "checkout", "environments": {"production": True}}, headers=auth())
    assert created.status_code == 201

    # When
    archived = alice.post("/flags/checkout/archive")
    deleted = alice.delete("/flags/checkout")
    off = _request(alice, {"environments": {"production": False}})
    bob.post(f"/change-requests/{off['_id']}/approve")
    archived_after = alice.post("/flags/checkout/archive")

    # Then
    assert archived.status_code == 409 and archived.json["error"] == "change_request_required"
    assert deleted.status_code == 409
    assert archived_after.status_code == 200 and archived_after.json["archived_at"] is not None


def test_archived_while_on_in_production__revived_by_an_admin_only__deleted_freely(
    make_app, approvals_app, admin, alice
):
    # Given: flags archived while on in production, from before approvals were required
    before = make_app(**SSO_SETTINGS).test_client()
    for name in ("old-banner", "older-banner"):
        created = before.post("/flags", json={"name": name, "environments": {"production": True}}, headers=auth())
        assert created.status_code == 201
        assert before.post(f"/flags/{name}/archive", headers=auth()).status_code == 200

    # When
    by_editor = alice.post("/flags/old-banner/revive")
    by_admin = admin.post("/flags/old-banner/revive")
    deleted = alice.delete("/flags/older-banner")

    # Then: reviving serves production again, so an editor is refused; deleting an archived flag serves nothing new
    assert by_editor.status_code == 403 and by_editor.json["environments"] == ["production"]
    assert by_admin.status_code == 200 and by_admin.json["archived_at"] is None
    assert deleted.status_code == 204


def test_delete_flag__its_change_requests_go_with_it(make_app, admin, flag, alice):
    # Given: a request for a flag that is then deleted (it is off in production, so no request is needed for that)
    made = _request(alice)

    # When
    deleted = alice.delete("/flags/checkout")

    # Then
    assert deleted.status_code == 204
    assert admin.get("/change-requests").json["change_requests"] == []
    assert admin.get(f"/change-requests/{made['_id']}").status_code == 404
    assert "change_request.created" in [e["action"] for e in admin.get(f"/audit?flag={flag['_id']}").json["events"]]


def test_segment_named_in_production_rules__changed_by_admins_only(approvals_app, admin, flag, alice):
    # Given: a segment production's rules name, and one only staging's do
    for name in ("beta", "staff"):
        admin.post("/segments", json={"name": name, "conditions": [{"attribute": "plan", "op": "in", "values": ["x"]}]})
    rule = {"serve": "on", "when": [{"segment": "beta"}]}
    targeting = {
        "production": {"rules": [rule], "serve": "off"},
        "staging": {"rules": [{**rule, "when": [{"segment": "staff"}]}]},
    }
    with approvals_app.app_context():
        # Written as an applied request writes it: a direct write to production's targeting is refused here.
        flags_service.update("checkout", {"targeting": targeting}, "test")
    conditions = {"conditions": [{"attribute": "plan", "op": "in", "values": ["y"]}]}

    # When
    by_editor = alice.put("/segments/beta", json=conditions)
    staging_only = alice.put("/segments/staff", json=conditions)
    by_admin = admin.put("/segments/beta", json=conditions)

    # Then
    assert by_editor.status_code == 403 and by_editor.json["environments"] == ["production"]
    assert staging_only.status_code == 200
    assert by_admin.status_code == 200


def test_create_change_request__bad_input__400_or_404_and_nothing_stored(admin, flag, alice):
    # When
    answers = [
        alice.post("/change-requests", json={"changes": PRODUCTION_ON}),
        alice.post("/change-requests", json={"flag": "checkout", "changes": {}}),
        alice.post("/change-requests", json={"flag": "checkout", "changes": {"colour": "red"}}),
        alice.post("/change-requests", json={"flag": "checkout", "changes": {"environments": {"moon": True}}}),
        alice.post("/change-requests", json={"flag": "checkout", "changes": PRODUCTION_ON, "comment": "x" * 1001}),
        alice.post(
            "/change-requests", json={"flag": "checkout", "changes": PRODUCTION_ON, "apply_at": "2001-01-01T00:00:00Z"}
        ),
        alice.post(
            "/change-requests",
            json={"flag": "checkout", "changes": {"targeting": {"production": {"serve": "blue"}}}},
        ),
        alice.post("/change-requests", data="[]", content_type="application/json"),
    ]
    missing = alice.post("/change-requests", json={"flag": "nope", "changes": PRODUCTION_ON})
    unknown = alice.get("/change-requests/0123456789abcdef01234567")
    bad_id = alice.post("/change-requests/not-an-id/approve")
    bad_list = admin.get("/change-requests?state=done")
    unknown_parameter = admin.get("/change-requests?colour=red")

    # Then
    fields = [answer.json.get("details", [{}])[0].get("field") for answer in answers]
    assert [answer.status_code for answer in answers] == [400] * len(answers), [a.json for a in answers]
    assert fields[:7] == [
        "flag",
        "changes",
        "changes.colour",
        "changes.environments",
        "comment",
        "apply_at",
        "targeting.production.serve",
    ]
    assert missing.status_code == 404 and unknown.status_code == 404 and bad_id.status_code == 404
    assert bad_list.status_code == 400 and unknown_parameter.status_code == 400
    assert admin.get("/change-requests").json["change_requests"] == []


def test_change_request_steps__sent_to_webhooks(make_app, flag, alice, bob, approvals_app):
    # Given: a webhook for change requests, delivered by an instance running its deliverer
    receiver, slack = Receiver().start(), Receiver().start()
    try:
        admin = approvals_app.test_client()
        hook = admin.post("/webhooks", json={"url": receiver.url, "events": ["change_request.*"]}, headers=auth())
        assert hook.status_code == 201, hook.json
        lines = {"url": slack.url, "events": ["change_request.created"], "format": "slack"}
        assert admin.post("/webhooks", json=lines, headers=auth()).status_code == 201
        make_app(**SSO_SETTINGS, approvals=("production",), webhook_poll_seconds=0.05).test_client().get("/health")

        # When
        made = _request(alice)
        bob.post(f"/change-requests/{made['_id']}/approve")

        # Then
        wait_for(lambda: len(receiver.received) >= 3, 15)
        sent = [json.loads(body)["event"] for _, body in receiver.received]
        assert [event["action"] for event in sent] == [
            "change_request.created",
            "change_request.approved",
            "change_request.applied",
        ]
        assert {event["change_request_id"] for event in sent} == {made["_id"]}
        # And a Slack channel reads it as a sentence
        wait_for(lambda: slack.received, 15)
        assert json.loads(slack.received[0][1])["text"].endswith(
            "alice@example.com requested a change to flag checkout in production"
        )
    finally:
        receiver.stop()
        slack.stop()


def test_auth_me__says_where_changes_need_approval(alice):
    environments = alice.get("/auth/me").json["environments"]
    assert {e["name"]: e["approvals"] for e in environments} == {
        "development": False,
        "staging": False,
        "production": True,
    }


def test_config__approvals__known_environments_and_checks_on():
    assert Config.from_env({"FF_APPROVALS": "production, staging"}).approvals == ("staging", "production")
    with pytest.raises(ConfigError, match="FF_APPROVALS"):
        Config.from_env({"FF_APPROVALS": "prod"})
    with pytest.raises(ConfigError, match="FF_AUTH"):
        Config.from_env({"FF_APPROVALS": "production", "FF_AUTH": "off"})


def test_base__what_the_flag_held_of_each_changed_thing__kept_and_moved_by_a_rebase(admin, alice, bob, flag):
    # Given: production has a rule, and alice asks to switch production on, rename the flag and replace the rule
    rule = {"when": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}
    assert admin.put("/flags/checkout", json={"targeting": {"staging": {"rules": [rule]}}}).status_code == 200
    changes = {
        **PRODUCTION_ON,
        "name": "checkout-2",
        "targeting": {"production": {"rules": [rule], "serve": "off"}},
    }

    # When: the request is made
    asked = _request(alice, changes)

    # Then: its base is what the flag held of each of those things, and only of the environments it names
    assert asked["base"] == {
        "environments": {"production": False},
        "name": "checkout",
        "targeting": {"production": None},
    }
    created = admin.get("/audit?action=change_request.created").json["events"][0]
    assert created["after"]["base"] == asked["base"]

    # When: the flag moves on (bob's request for production's targeting, approved by alice), and hers is rebased
    other = _request(bob, {"targeting": {"production": {"rules": [], "serve": "on"}}})
    assert alice.post(f"/change-requests/{other['_id']}/approve").json["state"] == "applied"
    rebased = alice.post(f"/change-requests/{asked['_id']}/rebase")

    # Then: the base is what the flag now holds
    assert rebased.status_code == 200, rebased.json
    assert rebased.json["base"]["targeting"] == {"production": {"rules": [], "serve": "on"}}

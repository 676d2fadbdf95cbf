"""What a change reaches is judged on the flag the write replaces: roles and approvals cannot be raced or sidestepped.

Reach is what each environment answers: a flag's own answer (on, or an off value other than false), and the
answers of flags requiring it there. Interleavings are made exact by letting another writer land right after
the write path's read, through the store itself (no timing).
"""

from __future__ import annotations

import pytest

from feature_flags.extensions import get_store
from feature_flags.flags import service
from tests.people.persons import SSO_SETTINGS, person
from tests.support import auth

# Off, it answers "blue": an answer applications see, unlike a boolean's false.
STRING_VARIANTS = {"variants": {"on": "green", "off": "blue"}}


@pytest.fixture
def sso_app(make_app):
    """Single sign-on, nothing under approval."""
    return make_app(**SSO_SETTINGS, scheduler=False)


@pytest.fixture
def approvals_app(make_app):
    """Single sign-on, production under approval."""
    return make_app(**SSO_SETTINGS, approvals=("production",), scheduler=False)


def _admin(app):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = auth()["Authorization"]
    return client


def _staging_editor(app):
    return person(app, "stella@example.com", "viewer", {"staging": "editor"})


def _created(client, **fields) -> dict:
    answer = client.post("/flags", json=fields)
    assert answer.status_code == 201, answer.json
    return answer.json


def _written(app, name: str, changes: dict, actor: str = "setup") -> None:
    """Change a flag through the write path, as another caller's request would (no roles asked)."""
    with app.app_context():
        service.update(name, changes, actor)


def _another_write_lands_after_the_first_read(app, changes: dict) -> None:
    """Make the next read of a flag be followed at once by another writer's change to it (a racing request)."""
    store = get_store(app)
    read = store.find_flag
    landed: list[bool] = []

    def read_then_race(ident: str) -> dict:
        flag = read(ident)
        if not landed:
            landed.append(True)
            service.update(ident, changes, "racer")
        return flag

    store.find_flag = read_then_race


@pytest.mark.parametrize(
    ("roles", "status", "error"),
    [
        (("editor", None), 409, "change_request_required"),
        (("viewer", {"staging": "editor"}), 403, "forbidden"),
    ],
    ids=["unbound-editor", "staging-editor"],
)
def test_put__no_op_raced_by_a_production_switch_off__refused_and_production_stays_off(
    approvals_app, roles, status, error
):
    # Given: a flag on in production, and a person whose form sends production's value as it was read
    admin = _admin(approvals_app)
    flag = _created(admin, name="checkout")
    _written(approvals_app, "checkout", {"environments": {"production": True}})
    attacker = person(approvals_app, "mallory@example.com", *roles)
    # When: production is switched off (an approved change request applying) right after the PUT's first read
    _another_write_lands_after_the_first_read(approvals_app, {"environments": {"production": False}})
    answer = attacker.put("/flags/checkout", json={"environments": {"production": True}, "description": "cart"})

    # Then: the write, retried on the flag as it now is, would switch production on: judged there, refused
    assert answer.status_code == status, answer.json
    assert answer.json["error"] == error
    shown = admin.get("/flags/checkout").json
    assert shown["environments"]["production"] is False and shown["version"] == flag["version"] + 2
    history = admin.get("/flags/checkout/history").json["events"]
    assert [event["actor"] for event in history if event["action"] == "flag.updated"] == ["racer", "setup"]


def test_put__no_op_not_raced__needs_no_production_role(sso_app):
    # Given: a flag on in production, and a staging editor
    admin = _admin(sso_app)
    _created(admin, name="checkout", environments={"production": True})
    editor = _staging_editor(sso_app)

    # When: the editor's form sends production's value unchanged, with a new description
    answer = editor.put("/flags/checkout", json={"environments": {"production": True}, "description": "cart"})

    # Then: it reaches no environment and is made
    assert answer.status_code == 200, answer.json
    assert answer.json["description"] == "cart" and answer.json["environments"]["production"] is True


def test_archive__raced_by_a_production_switch_on__staging_editor_refused(sso_app):
    # Given: a flag off everywhere (a plain boolean: archiving it changes no answer anyone relies on)
    admin = _admin(sso_app)
    _created(admin, name="checkout")
    editor = _staging_editor(sso_app)

    # When: it is switched on in production right after the archive's read
    _another_write_lands_after_the_first_read(sso_app, {"environments": {"production": True}})
    answer = editor.post("/flags/checkout/archive")

    # Then: the archive is judged on the flag it replaces, on in production: refused, the flag is live
    assert answer.status_code == 403, answer.json
    assert answer.json["environments"] == ["production"]
    shown = admin.get("/flags/checkout").json
    assert shown["archived_at"] is None and shown["environments"]["production"] is True


def _required_in_production(admin) -> None:
    """A flag `gate`, off everywhere, which `checkout` (on in production) requires to be off there."""
    _created(admin, name="gate")
    _created(
        admin,
        name="checkout",
        environments={"production": True},
        targeting={"production": {"prerequisites": [{"flag": "gate", "variants": ["off"]}]}},
    )


def _production_answer(admin) -> bool:
    answer = admin.post(
        "/ofrep/v1/evaluate/flags/checkout?environment=production",
        json={"context": {"targetingKey": "u-1"}},
        headers=auth(),
    )
    return answer.json["value"] if answer.status_code == 200 else answer.status_code


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/flags/gate/archive?force=true"), ("delete", "/flags/gate?force=true")],
    ids=["archive", "delete"],
)
def test_removal__flag_a_production_flag_requires__staging_editor_refused(sso_app, method, path):
    # Given: checkout, on in production, requires gate (off everywhere) to be off
    admin = _admin(sso_app)
    _required_in_production(admin)
    editor = _staging_editor(sso_app)

    # When: a staging editor forces gate's removal
    answer = getattr(editor, method)(path)

    # Then: refused, since production's checkout would answer its off value; nothing changed
    assert answer.status_code == 403, answer.json
    assert answer.json["environments"] == ["production"]
    assert admin.get("/flags/gate").json["archived_at"] is None
    assert (
        admin.post(
            "/ofrep/v1/evaluate/flags/checkout?environment=production",
            json={"context": {"targetingKey": "u-1"}},
            headers=auth(),
        ).json["value"]
        is True
    )


def test_revive_and_create__prerequisite_of_a_production_flag__staging_editor_refused(sso_app):
    # Given: gate archived by an admin (forced), so checkout, on in production, fails its prerequisite there
    admin = _admin(sso_app)
    _required_in_production(admin)
    assert admin.post("/flags/gate/archive?force=true").status_code == 200
    editor = _staging_editor(sso_app)

    # When: the staging editor revives it; then, once an admin deleted it, makes a flag of its name
    revived = editor.post("/flags/gate/revive")
    assert admin.delete("/flags/gate?force=true").status_code == 204
    created = editor.post("/flags", json={"name": "gate"})

    # Then: both would change production's checkout: refused, and production still fails the prerequisite
    assert revived.status_code == 403 and revived.json["environments"] == ["production"], revived.json
    assert created.status_code == 403 and created.json["environments"] == ["production"], created.json
    assert admin.get("/flags/gate").status_code == 404
    failed = admin.post(
        "/ofrep/v1/evaluate/flags/checkout?environment=production", json={"context": {"targetingKey": "u-1"}}
    ).json
    assert failed["value"] is False and failed["reason"] == "PREREQUISITE_FAILED"


@pytest.mark.parametrize(
    ("method", "path"), [("post", "/flags/paint/archive"), ("delete", "/flags/paint")], ids=["archive", "delete"]
)
def test_removal__off_in_production_serving_an_off_value__staging_editor_refused(sso_app, method, path):
    # Given: a flag off everywhere whose off value is "blue": production answers "blue"
    admin = _admin(sso_app)
    _created(admin, name="paint", **STRING_VARIANTS)
    editor = _staging_editor(sso_app)

    # When: a staging editor archives or deletes it
    answer = getattr(editor, method)(path)

    # Then: refused (production would answer 404 and applications fall back to their code's default)
    assert answer.status_code == 403, answer.json
    assert answer.json["environments"] == ["development", "production"]
    served = admin.post(
        "/ofrep/v1/evaluate/flags/paint?environment=production", json={"context": {"targetingKey": "u-1"}}
    ).json
    assert served["value"] == "blue"


def test_removal__plain_boolean_off_in_production__staging_editor_may_archive_and_delete(sso_app):
    # Given: a boolean flag on in staging only
    admin = _admin(sso_app)
    _created(admin, name="trial", environments={"staging": True})
    editor = _staging_editor(sso_app)

    # When: the staging editor archives, revives and deletes it
    archived = editor.post("/flags/trial/archive")
    revived = editor.post("/flags/trial/revive")
    deleted = editor.delete("/flags/trial")

    # Then: each is the editor's to make (production answers false either way)
    assert (archived.status_code, revived.status_code, deleted.status_code) == (200, 200, 204)
    assert admin.get("/flags/trial").status_code == 404


def test_removal__under_approval__an_off_value_or_a_dependent_there_is_left_to_admins(approvals_app):
    # Given: production under approval; paint serves "blue" there while off, and gate is required by checkout
    admin = _admin(approvals_app)
    _created(admin, name="paint", **STRING_VARIANTS)
    _created(admin, name="gate")
    _created(admin, name="checkout")
    requiring = {"production": {"prerequisites": [{"flag": "gate", "variants": ["off"]}]}}
    _written(approvals_app, "checkout", {"environments": {"production": True}, "targeting": requiring})
    editor = person(approvals_app, "eve@example.com", "editor")

    # When: an editor of every environment, then an admin, archive them
    by_editor = [editor.post("/flags/paint/archive"), editor.post("/flags/gate/archive?force=true")]
    by_admin = [admin.post("/flags/paint/archive"), admin.post("/flags/gate/archive?force=true")]
    revived = editor.post("/flags/paint/revive")

    # Then: the editor is refused (a change request cannot hold a removal), the admin may, and reviving too
    for refused in (*by_editor, revived):
        assert refused.status_code == 403 and refused.json["environments"] == ["production"], refused.json
    assert [answer.status_code for answer in by_admin] == [200, 200]


def test_archive__on_in_an_approval_environment__switched_off_by_request_first_even_for_admins(approvals_app):
    # Given: a flag on in production, under approval
    admin = _admin(approvals_app)
    _created(admin, name="checkout")
    _written(approvals_app, "checkout", {"environments": {"production": True}})

    # When: an admin archives it
    answer = admin.post("/flags/checkout/archive")

    # Then: 409, pointing at change requests; the flag is live
    assert answer.status_code == 409 and answer.json["error"] == "change_request_required", answer.json
    assert admin.get("/flags/checkout").json["archived_at"] is None


def test_segment__named_only_by_a_pending_production_request__editor_refused_admin_allowed(approvals_app):
    # Given: segment beta, named by no rule yet, and an open request for production's rules to name it
    admin = _admin(approvals_app)
    assert admin.post("/segments", json={"name": "beta", "conditions": [
        {"attribute": "email", "op": "ends_with", "values": ["@beta.example"]}]}).status_code == 201  # fmt: skip
    _created(admin, name="checkout")
    editor = person(approvals_app, "eve@example.com", "editor")
    rules = {"production": {"rules": [{"when": [{"segment": "beta"}], "serve": "on"}], "serve": "off"}}
    made = editor.post("/change-requests", json={"flag": "checkout", "changes": {"targeting": rules}})
    assert made.status_code == 201, made.json
    widened = {"conditions": [{"attribute": "email", "op": "ends_with", "values": ["@example.com"]}]}

    # When: the editor widens the segment before the request applies; then an admin does
    by_editor = editor.put("/segments/beta", json=widened)
    by_admin = admin.put("/segments/beta", json=widened)

    # Then: the editor is refused (what was approved would apply to a wider audience), the admin is not
    assert by_editor.status_code == 403 and by_editor.json["environments"] == ["production"], by_editor.json
    assert by_admin.status_code == 200, by_admin.json
    assert by_admin.json["conditions"] == widened["conditions"]

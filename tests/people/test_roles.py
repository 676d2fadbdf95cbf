"""Roles per environment: every route, for people and tokens of every role, in every environment.

One table says what each caller is in each environment (the issue's example among them: an editor in development
and staging who only reads production); each route says what it needs. Every route is then called by every caller
over a real database and must answer 403 exactly where the table says no, and succeed everywhere else.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest

from feature_flags.storage.client import utcnow
from tests.people.persons import SSO_SETTINGS, person
from tests.support import auth

ENVIRONMENTS = ("development", "staging", "production")
EDITS = frozenset({"edit", "admin"})

# What each caller is in each environment: read, edit, admin, or "-" (a bound token that cannot see it).
CALLERS = {
    "viewer": {"development": "read", "staging": "read", "production": "read"},
    "editor": {"development": "edit", "staging": "edit", "production": "edit"},
    "editor, viewer in production": {"development": "edit", "staging": "edit", "production": "read"},
    "viewer, editor in staging": {"development": "read", "staging": "edit", "production": "read"},
    "admin": {"development": "admin", "staging": "admin", "production": "admin"},
    "admin token": {"development": "admin", "staging": "admin", "production": "admin"},
    "editor token": {"development": "edit", "staging": "edit", "production": "edit"},
    "editor token for staging": {"development": "-", "staging": "edit", "production": "-"},
    "client token for staging": {"development": "-", "staging": "read", "production": "-"},
}
PEOPLE = {
    "viewer": ("viewer", {}),
    "editor": ("editor", {}),
    "editor, viewer in production": ("editor", {"production": "viewer"}),
    "viewer, editor in staging": ("viewer", {"staging": "editor"}),
    "admin": ("admin", {}),
}
TOKENS = {
    "editor token": {"role": "editor"},
    "editor token for staging": {"role": "editor", "environment": "staging"},
    "client token for staging": {"role": "client", "environment": "staging"},
}


def allowed(caller: str, need: tuple) -> bool:
    """Whether the table lets this caller do what the route needs."""
    roles = CALLERS[caller]
    kind = need[0]
    if kind == "read":
        return roles[need[1]] != "-"
    if kind == "edit":
        touched = need[1]
        if not touched:
            return any(role in EDITS for role in roles.values())
        return all(roles[environment] in EDITS for environment in touched)
    if kind == "every environment":
        return "-" not in roles.values()
    assert kind == "admin"
    return all(role == "admin" for role in roles.values())


def _other(environment: str) -> str:
    return "staging" if environment != "staging" else "development"


def routes() -> list[tuple[str, tuple, object]]:
    """(what, what it needs, how to call it with (client, flag, segment)) for every route that checks roles."""
    table: list[tuple[str, tuple, object]] = []
    for env in ENVIRONMENTS:
        table += [
            (f"list flags in {env}", ("read", env), lambda c, f, s, e=env: c.get(f"/flags?environment={e}")),
            (
                f"toggle in {env}",
                ("edit", [env]),
                lambda c, f, s, e=env: c.post(f"/flags/{f}/toggle", json={"environment": e}),
            ),
            (
                # The cases' flags are on in production only: each PUT changes the switch it names.
                f"switch in {env} with PUT",
                ("edit", [env]),
                lambda c, f, s, e=env: c.put(f"/flags/{f}", json={"environments": {e: e != "production"}}),
            ),
            (
                f"target in {env}",
                ("edit", [env]),
                lambda c, f, s, e=env: c.put(f"/flags/{f}", json={"targeting": {e: {"rules": [], "serve": "on"}}}),
            ),
            (
                f"schedule in {env}",
                ("edit", [env]),
                lambda c, f, s, e=env: c.post(
                    f"/flags/{f}/schedules",
                    json={"at": (utcnow() + timedelta(hours=1)).isoformat(), "environment": e, "enabled": True},
                ),
            ),
            (
                f"copy into {env}",
                ("edit", [env]),
                lambda c, f, s, e=env: c.post(f"/flags/{f}/copy", json={"from": _other(e), "to": e}),
            ),
        ]
    table += [
        ("create a flag, off", ("edit", []), lambda c, f, s: c.post("/flags", json={"name": f"{f}-new"})),
        (
            "create a flag, on in production",
            ("edit", ["production"]),
            lambda c, f, s: c.post("/flags", json={"name": f"{f}-new", "environments": {"production": True}}),
        ),
        ("describe a flag", ("edit", []), lambda c, f, s: c.put(f"/flags/{f}", json={"description": "why"})),
        ("tag a flag", ("edit", []), lambda c, f, s: c.put(f"/flags/{f}", json={"tags": ["team-a"]})),
        (
            "rename a flag (every environment serves by name)",
            ("edit", ENVIRONMENTS),
            lambda c, f, s: c.put(f"/flags/{f}", json={"name": f"{f}-renamed"}),
        ),
        (
            "change variants",
            ("edit", ENVIRONMENTS),
            lambda c, f, s: c.put(f"/flags/{f}", json={"variants": {"on": True, "off": False, "half": True}}),
        ),
        # The case's flag is on in production only: that is what archiving or deleting it changes.
        ("archive a flag on in production", ("edit", ["production"]), lambda c, f, s: c.post(f"/flags/{f}/archive")),
        ("delete a flag on in production", ("edit", ["production"]), lambda c, f, s: c.delete(f"/flags/{f}")),
        (
            "create a segment",
            ("edit", ENVIRONMENTS),
            lambda c, f, s: c.post(
                "/segments", json={"name": f"{s}-new", "conditions": [{"attribute": "a", "op": "in", "values": ["b"]}]}
            ),
        ),
        (
            "change a segment",
            ("edit", ENVIRONMENTS),
            lambda c, f, s: c.put(f"/segments/{s}", json={"description": "x"}),
        ),
        ("delete a segment", ("edit", ENVIRONMENTS), lambda c, f, s: c.delete(f"/segments/{s}")),
        ("read the audit trail", ("every environment",), lambda c, f, s: c.get("/audit")),
        ("export", ("every environment",), lambda c, f, s: c.get("/export")),
        ("list tokens", ("admin",), lambda c, f, s: c.get("/tokens")),
        ("make a token", ("admin",), lambda c, f, s: c.post("/tokens", json={"name": f"{f}-t", "role": "admin"})),
        ("list webhooks", ("admin",), lambda c, f, s: c.get("/webhooks")),
        ("list users", ("admin",), lambda c, f, s: c.get("/users")),
        (
            "import (dry run)",
            ("admin",),
            lambda c, f, s: c.post("/import?dry_run=true", json={"format": "feature-flags/v1", "flags": []}),
        ),
    ]
    return table


def callers(app, client) -> dict[str, object]:
    """A test client for each caller of the table."""
    made = {
        name: person(app, f"{name.replace(', ', '-').replace(' ', '-')}@example.com", *roles)
        for name, roles in PEOPLE.items()
    }
    made["admin token"] = client
    for name, fields in TOKENS.items():
        answer = client.post("/tokens", json={"name": name, **fields})
        assert answer.status_code == 201, answer.text
        token_client = app.test_client()
        token_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {answer.json['token']}"
        made[name] = token_client
    return made


@pytest.fixture
def sso_app(make_app):
    # The embedded test database can pause for seconds on the first writes after the bulk import of the cases'
    # flags; the table is about answers, not the database's latency, so a pause must not read as a 503.
    return make_app(**SSO_SETTINGS, db_timeout_ms=20000)


def test_every_route__every_role__every_environment(sso_app):
    # Given: every caller of the table
    admin = sso_app.test_client()
    admin.environ_base["HTTP_AUTHORIZATION"] = auth()["Authorization"]
    clients = callers(sso_app, admin)
    serial = count()
    wrong = []

    # Given: a flag on in production only and a segment for each case, imported at once (one write, not hundreds)
    table = routes()
    cases = len(table) + sum(allowed(caller, need) for _, need, _ in table for caller in clients)
    conditions = [{"attribute": "plan", "op": "in", "values": ["beta"]}]
    document = {
        "format": "feature-flags/v1",
        "flags": [{"name": f"case-{n}", "environments": {"production": True}} for n in range(cases)],
        "segments": [{"name": f"seg-{n}", "conditions": conditions} for n in range(cases)],
    }
    imported = admin.post("/import", json=document)
    assert imported.status_code == 200, imported.text

    def fresh() -> tuple[str, str]:
        case = next(serial)
        return f"case-{case}", f"seg-{case}"

    for what, need, call in table:
        # Refusals change nothing, so they share one pair; a change that works gets a pair of its own.
        untouched = fresh()
        for caller, client in clients.items():
            expected = allowed(caller, need)
            flag, segment = fresh() if expected else untouched

            # When
            answer = call(client, flag, segment)

            # Then: 403 exactly where the table says no; anything else must have worked
            if expected and not 200 <= answer.status_code < 300:
                wrong.append(f"{caller} / {what}: {answer.status_code} {answer.text[:200]}")
            if not expected and answer.status_code != 403:
                wrong.append(f"{caller} / {what}: expected 403, got {answer.status_code}")
        # And the refusals changed nothing
        flag_after, segment_after = (
            admin.get(f"/flags/{untouched[0]}").json,
            admin.get(f"/segments/{untouched[1]}").json,
        )
        if flag_after.get("version") != 1 or segment_after.get("version") != 1:
            wrong.append(f"{what}: refused, yet the flag or segment changed")
    assert wrong == []


def test_refusal__names_the_environments_the_role_does_not_cover(sso_app):
    # Given
    admin = sso_app.test_client()
    admin.environ_base["HTTP_AUTHORIZATION"] = auth()["Authorization"]
    assert admin.post("/flags", json={"name": "checkout"}).status_code == 201
    staging_editor = person(sso_app, "sam@example.com", "viewer", {"staging": "editor"})

    # When
    refused = staging_editor.put("/flags/checkout", json={"environments": {"staging": True, "production": True}})

    # Then
    assert refused.status_code == 403
    assert refused.json["environments"] == ["production"]
    assert "production" in refused.json["message"]
    assert admin.get("/flags/checkout").json["environments"] == {
        "development": False,
        "staging": False,
        "production": False,
    }


def test_me__says_the_role_in_each_environment_for_people_and_tokens(sso_app):
    admin = sso_app.test_client()
    admin.environ_base["HTTP_AUTHORIZATION"] = auth()["Authorization"]
    clients = callers(sso_app, admin)

    for caller, client in clients.items():
        me = client.get("/auth/me")
        assert me.status_code == 200, me.text
        shown = {e["name"]: e["role"] for e in me.json["environments"]}
        expected_kind = "token" if "token" in caller else "person"
        assert me.json["kind"] == expected_kind
        # The table's words, in the API's: a bound token's other environments are null
        words = {"read": {"viewer", "client"}, "edit": {"editor"}, "admin": {"admin"}, "-": {None}}
        assert all(shown[env] in words[CALLERS[caller][env]] for env in ENVIRONMENTS), (caller, shown)

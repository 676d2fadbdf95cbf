"""The OpenAPI document against the running API: schemathesis with every check, over a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feature_flags.extensions import get_store
from feature_flags.flags import service as flags_service
from tests.people.provider import CLIENT_ID, CLIENT_SECRET, running_provider
from tests.support import ADMIN_TOKEN

HOOKS = Path(__file__).with_name("conformance_hooks.py")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Fixed, so a run in CI generates the same requests as the one that passed here.
SEED = 20251202
# Per operation and phase: about 90 s for the whole run on two shared cores (20 took 160 s).
MAX_EXAMPLES = 12
MIN_CASES = 1000
PHASES = ("examples", "coverage", "fuzzing", "stateful")

# The path parameters each operation is given, so generated requests reach past a 404 to the logic behind.
# Each operation that can rename or delete gets a flag of its own, addressed by _id, which no change alters.
FLAGS = {
    "read": {"name": "conformance-read", "environments": {"production": True}},
    "put": {"name": "conformance-put"},
    "toggle": {"name": "conformance-toggle"},
    "delete": {"name": "conformance-delete"},
    "schedule": {"name": "conformance-schedule"},
    # Off in production, so archiving and reviving them needs no change request.
    "archive": {"name": "conformance-archive"},
    "revive": {"name": "conformance-revive"},
    "copy": {"name": "conformance-copy", "environments": {"staging": True}},
    "split": {
        "name": "conformance-split",
        "environments": {"production": True},
        "targeting": {"production": {"serve": {"on": 30, "off": 70}}},
    },
}


# The segment generated rules name (conformance_hooks.KNOWN_SEGMENT), and one each for PUT and DELETE.
SEGMENTS = {
    role: {"name": f"conformance-{role}", "conditions": [{"attribute": "plan", "op": "in", "values": ["pro"]}]}
    for role in ("segment", "segment-put", "segment-delete")
}


# A webhook for the operations that read one, and one for DELETE; their address refuses connections at once.
WEBHOOKS = {role: {"url": "http://127.0.0.1:9/conformance", "events": ["*"]} for role in ("webhook", "webhook-delete")}


@pytest.fixture
def config(config):
    """No deliveries (sending to the generated webhooks' addresses would only slow the run down); single sign-on
    through the test provider, so its routes answer as they do when configured (its callback's address refuses)."""
    with running_provider() as provider:
        yield replace(
            config,
            # Production needs approval, so the change request operations answer as they do when it is on.
            approvals=("production",),
            webhooks=False,
            oidc_issuer=provider.issuer,
            oidc_client_id=CLIENT_ID,
            oidc_client_secret=CLIENT_SECRET,
            public_url="http://127.0.0.1:9",
        )


def _config(
    flag_ids: dict[str, str],
    token_id: str,
    schedule_id: str,
    segment_ids: dict[str, str],
    webhook_ids: dict[str, str],
    user_id: str,
    request_ids: dict[str, str],
) -> str:
    def operation(name: str, **parameters: str) -> str:
        values = ", ".join(f"{key} = {json.dumps(value)}" for key, value in parameters.items())
        return f'[[operations]]\ninclude-name = "{name}"\nparameters = {{ {values} }}\n'

    def sometimes(name: str, **dictionaries: str) -> str:
        bound = ", ".join(
            f'{key} = {{ dictionary = "{value}", probability = 0.5 }}' for key, value in dictionaries.items()
        )
        return f'[[operations]]\ninclude-name = "{name}"\nparameters = {{ {bound} }}\n'

    return "\n".join(
        [
            # Valid and invalid requests everywhere (in the file, not on the command line, where it would
            # override the one operation that narrows it).
            'generation.mode = "all"\n',
            # Half the time an existing flag, half the time a generated name: the 404 bodies are checked too.
            f"[dictionaries.flag-keys]\nvalues = {json.dumps([FLAGS['split']['name'], FLAGS['read']['name']])}\n",
            f"[dictionaries.flag-ids]\nvalues = {json.dumps([flag_ids['read']])}\n",
            f"[dictionaries.segment-ids]\nvalues = {json.dumps([segment_ids['segment']])}\n",
            sometimes("GET /segments/{ident}", ident="segment-ids"),
            operation("PUT /segments/{ident}", ident=segment_ids["segment-put"]),
            operation("DELETE /segments/{ident}", ident=segment_ids["segment-delete"]),
            sometimes("GET /flags/{ident}", ident="flag-ids"),
            sometimes("POST /ofrep/v1/evaluate/flags/{key}", key="flag-keys"),
            # Its coverage phase is negative cases only (refused at once): each positive case is a durable write
            # with its audit event, ~100 ms here, and nearly 2,000 of them took most of the run. Fuzzing, the
            # examples and the stateful phase still send it valid bodies, and POST /flags' coverage the same fields.
            operation("PUT /flags/{ident}", ident=flag_ids["put"]) + 'phases.coverage.generation.mode = "negative"\n',
            operation("DELETE /flags/{ident}", ident=flag_ids["delete"]),
            operation("POST /flags/{ident}/archive", ident=flag_ids["archive"]),
            operation("POST /flags/{ident}/revive", ident=flag_ids["revive"]),
            operation("POST /flags/{ident}/toggle", ident=flag_ids["toggle"]),
            operation("GET /flags/{ident}/history", ident=flag_ids["toggle"]),
            sometimes("GET /flags/{ident}/usage", ident="flag-ids"),
            operation("DELETE /tokens/{token_id}", token_id=token_id),
            operation("POST /flags/{ident}/schedules", ident=flag_ids["schedule"]),
            operation("GET /flags/{ident}/schedules", ident=flag_ids["schedule"]),
            operation(
                "DELETE /flags/{ident}/schedules/{schedule_id}", ident=flag_ids["schedule"], schedule_id=schedule_id
            ),
            operation("POST /environments/{source}/copy", source="staging"),
            operation("POST /flags/{ident}/copy", ident=flag_ids["copy"]),
            f"[dictionaries.webhook-ids]\nvalues = {json.dumps([webhook_ids['webhook']])}\n",
            sometimes("GET /webhooks/{webhook_id}", webhook_id="webhook-ids"),
            sometimes("GET /webhooks/{webhook_id}/deliveries", webhook_id="webhook-ids"),
            operation("POST /webhooks/{webhook_id}/test", webhook_id=webhook_ids["webhook"]),
            operation("DELETE /webhooks/{webhook_id}", webhook_id=webhook_ids["webhook-delete"]),
            operation("PATCH /users/{user_id}", user_id=user_id),
            f"[dictionaries.change-request-ids]\nvalues = {json.dumps([request_ids['read']])}\n",
            sometimes("GET /change-requests/{ident}", ident="change-request-ids"),
            *(
                operation(f"POST /change-requests/{{ident}}/{step}", ident=request_ids[step])
                for step in ("approve", "reject", "cancel", "rebase")
            ),
        ]
    )


def test_openapi__schemathesis_every_check__api_matches_document(app, live_server, client, tmp_path):
    # Given: flags, a token and a schedule for the path parameters, and changes in the audit trail
    flag_ids = {}
    with app.app_context():
        # Written as an applied change request writes them: production is on in some, which POST /flags refuses.
        for role, flag in FLAGS.items():
            flag_ids[role] = flags_service.create(flag, "conformance", app=app)["_id"]
    assert client.post(f"/flags/{flag_ids['toggle']}/toggle", json={}).status_code == 200
    segment_ids = {}
    for role, segment in SEGMENTS.items():
        created = client.post("/segments", json=segment)
        assert created.status_code == 201, created.json
        segment_ids[role] = created.json["_id"]
    token = client.post("/tokens", json={"name": "conformance", "role": "client", "environment": "production"})
    assert token.status_code == 201, token.json
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    schedule = client.post(
        f"/flags/{flag_ids['schedule']}/schedules", json={"at": at, "environment": "staging", "enabled": True}
    )
    assert schedule.status_code == 201, schedule.json
    # Change requests by an editor token, so the admin token reviewing them is someone else
    editor = client.post("/tokens", json={"name": "conformance-editor", "role": "editor"}).json["token"]
    request_ids = {}
    for role in ("approve", "reject", "cancel", "rebase", "read"):
        made = client.post(
            "/change-requests",
            json={"flag": flag_ids["read"], "changes": {"environments": {"production": False}}},
            headers={"Authorization": f"Bearer {editor}"},
        )
        assert made.status_code == 201, made.json
        request_ids[role] = made.json["_id"]
    webhook_ids = {}
    for role, webhook in WEBHOOKS.items():
        created = client.post("/webhooks", json=webhook)
        assert created.status_code == 201, created.json
        webhook_ids[role] = created.json["id"]
    # A person who has signed in (through the store: the sign-in itself is tests/people's)
    person = get_store(app).sign_in_user("https://idp.example", {"sub": "conformance"}, None, "viewer", None)
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        _config(flag_ids, token.json["id"], schedule.json["_id"], segment_ids, webhook_ids, person["_id"], request_ids)
    )
    report = tmp_path / "report.json"
    command = [
        str(SCHEMATHESIS), "--config-file", str(config), "run", f"{live_server}/openapi.json",
        "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
        "--workers", "1", "--generation-database", "none", "--continue-on-failure",
        "--header", f"Authorization: Bearer {ADMIN_TOKEN}",
        "--report", "json", "--report-json-path", str(report), "--no-color",
    ]  # fmt: skip

    # When
    started = time.monotonic()
    completed = subprocess.run(
        command,
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.monotonic() - started

    # Then: every check passed on every operation, in every phase, with enough requests that passing means something
    assert completed.returncode == 0, completed.stdout[-30000:] + completed.stderr[-5000:]
    run = json.loads(report.read_text())
    operations = sum(len(methods) for methods in client.get("/openapi.json").json["paths"].values())
    assert run["operations"]["tested"] == run["operations"]["selected"] == operations
    assert {phase: result["status"] for phase, result in run["phases"].items()} == dict.fromkeys(PHASES, "success")
    assert run["failures"] == [] and run["errors"] == []
    assert run["test_cases"]["generated"] >= MIN_CASES
    assert run["warnings"]["missing_test_data"] == []
    print(f"schemathesis: {run['test_cases']['generated']} cases in {elapsed:.0f} s")

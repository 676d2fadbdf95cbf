"""The README's curl examples work as written against a running service."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.support import ADMIN_TOKEN, Receiver, require_tool, serving, wait_for

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_curl_commands(section: str) -> list[str]:
    """Return the curl commands of the first sh block under a README heading, continuation lines joined."""
    text = README.read_text()
    start = text.index(section)
    block = re.search(r"```sh\n(.*?)```", text[start:], re.S).group(1)
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("curl ")]


def run(command: str, base_url: str) -> tuple[int, str]:
    command = command.replace("http://localhost:5000", base_url) + " -w '\\n%{http_code}'"
    result = subprocess.run(
        ["bash", "-c", command], env={"TOKEN": ADMIN_TOKEN, "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body


def readme_block(section: str, language: str, base_url: str) -> str:
    """Return the first block of a language under a README heading, pointed at base_url."""
    text = README.read_text()
    start = text.index(section)
    block = re.search(rf"```{language}\n(.*?)```", text[start:], re.S).group(1)
    return block.replace("http://localhost:5000", base_url)


def run_sh_block(section: str, base_url: str) -> str:
    """Run the first sh block under a README heading as one bash script against base_url; return its output."""
    result = subprocess.run(
        ["bash", "-c", readme_block(section, "sh", base_url)], env={"TOKEN": ADMIN_TOKEN, "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_readme__api_examples__each_succeeds_in_order(live_server):
    require_tool("curl")
    commands = readme_curl_commands("## Using the API")
    assert len(commands) == 7

    results = [run(command, live_server) for command in commands]

    assert [status for status, _ in results] == [201, 200, 200, 200, 200, 200, 204]
    created, listed, fetched, updated, toggled, history, deleted = (body for _, body in results)
    assert json.loads(created)["environments"]["development"] is True
    assert [f["name"] for f in json.loads(listed)] == ["new-feature"]
    assert json.loads(fetched)["name"] == "new-feature"
    assert json.loads(updated)["environments"]["staging"] is True
    assert json.loads(toggled)["enabled"] is True
    assert [e["action"] for e in json.loads(history)["events"]] == ["flag.toggled", "flag.updated", "flag.created"]
    assert deleted == ""


def test_readme__hundreds_of_flags_examples__each_does_what_it_says(live_server):
    require_tool("curl")
    commands = readme_curl_commands("## Hundreds of flags")
    assert len(commands) == 8

    results = [run(command, live_server) for command in commands]

    assert [status for status, _ in results] == [201, 200, 200, 200, 200, 200, 200, 200]
    created, found, tags, marked, stale, archived, archive, revived = (body for _, body in results)
    assert json.loads(created)["tags"] == ["backend", "payments"] and json.loads(created)["type"] == "experiment"
    headers, _, found_body = found.partition("\n\n")  # text mode turned CRLF into LF
    assert "X-Total-Count: 1" in headers
    assert [flag["name"] for flag in json.loads(found_body)] == ["payments-retry"]
    assert json.loads(tags) == [{"tag": "backend", "flags": 1}, {"tag": "payments", "flags": 1}]
    assert json.loads(marked)["stale_reason"] == "marked"
    assert [flag["name"] for flag in json.loads(stale)] == ["payments-retry"]
    assert json.loads(archived)["archived_at"] is not None
    assert [flag["name"] for flag in json.loads(archive)] == ["payments-retry"]
    assert json.loads(revived)["archived_at"] is None


def test_readme__token_example__creates_a_client_token(live_server):
    require_tool("curl")
    command = readme_curl_commands("## Access: tokens and roles")[0]
    status, body = run(command, live_server)
    assert status == 201
    assert json.loads(body)["token"].startswith("ff_client_")


def test_readme__ofrep_example__evaluates_with_a_client_token(client, live_server):
    require_tool("curl")
    client.post("/flags", json={"name": "dark-mode", "environments": {"production": True}})
    answer = json.loads(run_sh_block("## Evaluation for applications", live_server))
    assert answer == {"key": "dark-mode", "value": True, "reason": "STATIC", "variant": "on", "metadata": {}}


def test_readme__python_example__evaluates_through_openfeature(client, live_server):
    client.post("/flags", json={"name": "dark-mode", "environments": {"production": True}})
    client_token = client.post("/tokens", json={"name": "py", "role": "client", "environment": "production"}).json
    code = readme_block("## Evaluation for applications", "python", live_server)
    code = code.replace("api.get_client().get_boolean_value(", "value = api.get_client().get_boolean_value(")
    namespace = {"client_token": client_token["token"]}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["value"] is True


def test_readme__usage_example__answers_the_flags_usage(client, live_server):
    require_tool("curl")
    client.post("/flags", json={"name": "dark-mode", "environments": {"production": True}})
    command = readme_curl_commands("## Usage")[0]

    status, body = run(command, live_server)

    assert status == 200
    answer = json.loads(body)
    assert answer["name"] == "dark-mode"
    assert set(answer["environments"]["production"]) == {
        "last_evaluated_at",
        "last_hour",
        "last_24_hours",
        "hours",
        "applications",
    }


def test_readme__schedules_examples__schedule_list_and_cancel(live_server):
    require_tool("curl")
    commands = readme_curl_commands("## Scheduled changes")
    assert len(commands) == 5

    results = [run(command, live_server) for command in commands[:4]]
    listed = json.loads(results[3][1])
    cancelled = run(commands[4].replace("$SCHEDULE_ID", listed[-1]["_id"]), live_server)

    assert [status for status, _ in results] == [201, 201, 201, 200]
    assert [(s["state"], s.get("enabled"), s.get("targeting")) for s in listed] == [
        ("pending", True, None),
        ("pending", None, {"rules": [], "serve": "off"}),
    ]
    assert cancelled[0] == 200 and json.loads(cancelled[1])["state"] == "cancelled"


def test_readme__moving_flags_examples__each_does_what_it_says(live_server, client, tmp_path):
    require_tool("curl")
    commands = readme_curl_commands("## Moving flags")
    assert len(commands) == 6
    client.post("/flags", json={"name": "new-checkout", "environments": {"staging": True}})

    # The export writes flags.json where the commands run; the imports read it from there.
    results = [run(f"cd {tmp_path} && {command}", live_server) for command in commands]

    assert [status for status, _ in results] == [200] * 6
    copied, many, _, planned, imported, unleash = (body for _, body in results)
    assert json.loads(copied)["environments"]["production"] is True
    assert json.loads(many) == {"updated": ["new-checkout"], "unchanged": []}
    assert json.loads((tmp_path / "flags.json").read_text())["flags"][0]["name"] == "new-checkout"
    assert json.loads(planned)["unchanged"] == ["new-checkout"]
    assert json.loads(imported)["dry_run"] is False
    assert json.loads(unleash)["created"] == ["unleash-rollout"] and json.loads(unleash)["unmapped"] == []


def test_readme__segments_and_prerequisites_examples__each_does_what_it_says(live_server):
    require_tool("curl")
    commands = readme_curl_commands("## Segments and prerequisites")
    assert len(commands) == 7

    results = [run(command, live_server) for command in commands]

    assert [status for status, _ in results] == [201, 201, 201, 200, 200, 200, 200]
    segment, _gated, dependent, evaluated, widened, history, archived = (json.loads(body) for _, body in results)
    assert segment["name"] == "beta-users"
    assert dependent["targeting"]["production"]["prerequisites"] == [{"flag": "new-payments", "variants": ["on"]}]
    assert (evaluated["reason"], evaluated["metadata"]) == ("PREREQUISITE_FAILED", {"prerequisite": "new-payments"})
    assert widened["version"] == 2
    assert [event["action"] for event in history["events"]] == ["segment.updated", "flag.created"]
    assert history["events"][0]["flag_names"] == ["new-payments"]
    assert archived["archived_at"] is not None


def test_readme__webhooks_examples__create_test_list_and_delete(live_server):
    require_tool("curl")
    commands = readme_curl_commands("## Webhooks")
    assert len(commands) == 6
    receiver = Receiver().start()
    to_receiver = [
        command.replace("https://hooks.example.com/feature-flags", receiver.url).replace(
            "https://hooks.slack.com/services/T000/B000/XXXX", receiver.url
        )
        for command in commands
    ]

    try:
        results = [run(command, live_server) for command in to_receiver[:3]]
        webhook_id = json.loads(results[0][1])["id"]
        queued = run(to_receiver[3].replace("$WEBHOOK_ID", webhook_id), live_server)
        ping = wait_for(lambda: [r for r in receiver.received if r[0]["X-Webhook-Event"] == "ping"])[0]
        records = wait_for(
            lambda: [d for d in json.loads(run(to_receiver[4].replace("$WEBHOOK_ID", webhook_id), live_server)[1])
                     if d["action"] == "ping" and d["status"] == "delivered"]
        )  # fmt: skip
        deleted = run(to_receiver[5].replace("$WEBHOOK_ID", webhook_id), live_server)
    finally:
        receiver.stop()

    assert [status for status, _ in results] == [201, 201, 200]
    assert [w["format"] for w in json.loads(results[2][1])] == ["json", "slack"]
    assert queued[0] == 202 and records[0]["id"] == json.loads(queued[1])["id"]
    assert deleted[0] == 204
    # And the README's signature check accepts the ping it was sent, and nothing else
    text = README.read_text()
    code = re.search(r"```python\n(.*?)```", text[text.index("## Webhooks") :], re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    headers, body = ping
    secret = re.search(r'"secret": "([^"]+)"', commands[0]).group(1)
    assert namespace["signed_by"](secret, body, headers["X-Webhook-Signature-256"]) is True
    assert namespace["signed_by"](secret, body + b" ", headers["X-Webhook-Signature-256"]) is False


def test_readme__change_request_example__refused_requested_listed_approved(make_app):
    require_tool("curl")
    commands = readme_curl_commands("### Change requests")
    assert len(commands) == 4
    app = make_app(approvals=("production",))
    admin = app.test_client()
    admin.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {ADMIN_TOKEN}"
    assert admin.post("/flags", json={"name": "new-checkout"}).status_code == 201
    reviewer = admin.post("/tokens", json={"name": "reviewer", "role": "editor"}).json["token"]

    with serving(app) as base:
        refused, requested, listed = (run(command, base) for command in commands[:3])
        made = json.loads(requested[1])
        approved = run(commands[3].replace("$ID", made["_id"]).replace("$REVIEWER", reviewer), base)

    assert refused[0] == 409 and json.loads(refused[1])["error"] == "change_request_required"
    assert requested[0] == 201 and made["state"] == "open" and made["environments"] == ["production"]
    assert listed[0] == 200 and [r["_id"] for r in json.loads(listed[1])["change_requests"]] == [made["_id"]]
    assert approved[0] == 200 and json.loads(approved[1])["state"] == "applied"
    assert json.loads(approved[1])["reviewed_by"] == "reviewer"
    assert admin.get("/flags/new-checkout").json["environments"]["production"] is True


def test_readme__unleash_example__server_token_reads_the_features_document(client, live_server):
    require_tool("curl")
    client.post("/flags", json={"name": "dark-mode", "environments": {"production": True}})
    document = json.loads(run_sh_block("### Unleash's SDKs: evaluating in process", live_server))
    assert document["version"] == 2
    assert [(feature["name"], feature["enabled"]) for feature in document["features"]] == [("dark-mode", True)]


def test_readme__unleash_python_example__evaluates_in_process(client, live_server):
    client.post("/flags", json={"name": "dark-mode", "environments": {"production": True}})
    server_token = client.post("/tokens", json={"name": "py", "role": "server", "environment": "production"}).json
    code = readme_block("### Unleash's SDKs: evaluating in process", "python", live_server)
    code = code.replace("flags.is_enabled(", "value = flags.is_enabled(")
    namespace = {"server_token": server_token["token"]}
    try:
        exec(compile(code, "README.md", "exec"), namespace)
    finally:
        if "flags" in namespace:
            namespace["flags"].destroy()
    assert namespace["value"] is True

"""The README's curl examples work as written against a running service."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.conftest import ADMIN_TOKEN, require_tool

README = Path(__file__).resolve().parent.parent / "README.md"


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


def test_readme__token_example__creates_a_client_token(live_server):
    require_tool("curl")
    command = readme_curl_commands("## Access: tokens and roles")[0]
    status, body = run(command, live_server)
    assert status == 201
    assert json.loads(body)["token"].startswith("ff_client_")

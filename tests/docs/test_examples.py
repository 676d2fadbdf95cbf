"""Every sh and python block of the README and the documentation runs as written against a live service.

A page's blocks run in page order against a fresh app of their own: each sh block in bash (`-e -o pipefail`), each
python block in a subprocess of this virtualenv's Python. What an sh block exports is in the environment of the
blocks after it; `TOKEN` starts as the admin token. In the text, `http://localhost:5000` is the live server and the
placeholder `ff_admin_…` the admin token. A block the tests cannot run here says so on the line before its fence
(`<!-- not-run -->`), or is written in another language (text, console, yaml...). Every curl call's status and body
are recorded in order: pages without a test of their own must answer below 400 throughout; the others are held to
what their text says.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import ADMIN_TOKEN, Receiver, require_tool, serving, wait_for

ROOT = Path(__file__).resolve().parents[2]
NOT_RUN = "<!-- not-run -->"
RUNNABLE = ("sh", "python")
FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<language>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ ]*$", re.M | re.S)
# Each curl call leaves its status and body in a numbered pair of files; stdout stays the caller's, so `$(curl …)`
# and pipes read exactly what a reader's shell would. The trap hands what the block exported to the next one.
PRELUDE = r"""trap 'env -0 > "$FF_DOCS_STATE"' EXIT
curl() {
  local n
  n=$(printf '%03d' "$(find "$FF_DOCS_CALLS" -name '*.status' | wc -l)")
  command curl -w '%{stderr}%{http_code}' "$@" 2> "$FF_DOCS_CALLS/$n.status" | tee "$FF_DOCS_CALLS/$n.body"
}
"""
# An answer shown after a call, `# → {...}`: when it is whole JSON (no "…"), the call must have answered exactly it.
SHOWN_ANSWER = re.compile(r"^# → (\{.*\})$", re.M)
# Shell variables that are bash's own, not a block's: never handed on.
SHELL_OWN = {"PWD", "OLDPWD", "SHLVL", "_", "FF_DOCS_STATE", "FF_DOCS_CALLS"}


@dataclass(frozen=True)
class Block:
    """One fenced block of a page: its language, its code (unindented) and the line its fence opens on."""

    page: Path
    language: str
    code: str
    line: int


def pages() -> list[Path]:
    """Return the README and every documentation page, in a stable order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(page: Path) -> list[Block]:
    """Return a page's runnable blocks in page order: sh and python, unless the line before says not-run."""
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        if match["language"] not in RUNNABLE:
            continue
        before = text[: match.start()].rstrip("\n").rpartition("\n")[2].strip()
        if before == NOT_RUN:
            continue
        indent = len(match["indent"])
        code = "".join(line[indent:] for line in match["body"].splitlines(keepends=True))
        found.append(Block(page, match["language"], code, text.count("\n", 0, match.start()) + 1))
    return found


def block_of(page: str, language: str, containing: str) -> str:
    """Return the code of a page's block of a language that contains a text (for a test to use it directly)."""
    return next(b.code for b in blocks(ROOT / page) if b.language == language and containing in b.code)


@dataclass
class PageRun:
    """What a page's blocks did: every curl call's (status, body) in order, and each block's output."""

    calls: list[tuple[int, str]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def statuses(self) -> list[int]:
        return [status for status, _ in self.calls]

    def json(self, index: int):
        return json.loads(self.calls[index][1])


def run_page(
    page: Path,
    base: str,
    workdir: Path,
    replacements: dict[str, str] | None = None,
    before_block: Callable[[int], None] | None = None,
) -> PageRun:
    """Run a page's blocks in order against the service at base; fail naming the block that failed."""
    calls = workdir / "calls"
    calls.mkdir()
    state_file = workdir / "state"
    state = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "TOKEN": ADMIN_TOKEN}
    outputs = []
    shown: list[tuple[int, str, str]] = []
    for index, block in enumerate(blocks(page)):
        if before_block:
            before_block(index)
        code = block.code.replace("http://localhost:5000", base).replace("ff_admin_…", ADMIN_TOKEN)
        for old, new in (replacements or {}).items():
            code = code.replace(old, new)
        where = f"{page.relative_to(ROOT)}, the {block.language} block at line {block.line}"
        if block.language == "sh":
            made_before = len(list(calls.glob("*.status")))
            for match in SHOWN_ANSWER.finditer(code):
                shown.append((made_before + code.count("curl ", 0, match.start()) - 1, match[1], where))
            command = ["bash", "-e", "-o", "pipefail", "-c", PRELUDE + code]
            env = {**state, "FF_DOCS_CALLS": str(calls), "FF_DOCS_STATE": str(state_file)}
        else:
            command, env = [sys.executable, "-c", code], dict(state)
        result = subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{where} failed:\n{result.stdout}\n{result.stderr}"
        outputs.append(result.stdout)
        if block.language == "sh":
            pairs = (item.partition("=") for item in state_file.read_text().split("\0") if "=" in item)
            state = {name: value for name, _, value in pairs if name not in SHELL_OWN}
    results = [
        (int(status.read_text() or 0), status.with_suffix(".body").read_text())
        for status in sorted(calls.glob("*.status"))
    ]
    for call, answer, where in shown:
        with contextlib.suppress(json.JSONDecodeError):
            expected = json.loads(answer)
            assert json.loads(results[call][1]) == expected, (
                f"{where}: the call before `# → {answer}` answered otherwise"
            )
    return PageRun(results, outputs)


def served_run(make_app, tmp_path: Path, page: str, **changes) -> PageRun:
    """Run a page against a fresh app with these settings changed, on a live server."""
    require_tool("curl")
    app = make_app(**changes)
    with serving(app) as base:
        return run_page(ROOT / page, base, tmp_path)


# --- Pages held to what they say ------------------------------------------------------------------------------------


def test_readme__tour__a_flag_rolled_out_to_20_percent_is_evaluated_by_an_application(make_app, tmp_path):
    run = served_run(make_app, tmp_path, "README.md")

    assert run.statuses() == [201, 200, 201, 200]
    created, rolled_out, _token, answer = (run.json(i) for i in range(4))
    assert created["name"] == "new-checkout-flow"
    assert rolled_out["environments"]["production"] is True
    assert rolled_out["targeting"]["production"]["serve"] == {"on": 20, "off": 80}
    assert answer == {"key": "new-checkout-flow", "value": True, "reason": "SPLIT", "variant": "on", "metadata": {}}


def test_install__first_flag_examples__each_succeeds_in_order(make_app, tmp_path):
    run = served_run(make_app, tmp_path, "docs/getting-started/install.md")

    assert run.statuses() == [201, 200, 200, 200, 200, 200, 204]
    created, listed, fetched, updated, toggled, history, deleted = (body for _, body in run.calls)
    assert json.loads(created)["environments"]["development"] is True
    assert [f["name"] for f in json.loads(listed)] == ["new-feature"]
    assert json.loads(fetched)["name"] == "new-feature"
    assert json.loads(updated)["environments"]["staging"] is True
    assert json.loads(toggled)["enabled"] is True
    assert [e["action"] for e in json.loads(history)["events"]] == ["flag.toggled", "flag.updated", "flag.created"]
    assert deleted == ""


def test_rollout__api_steps__serve_on_to_about_a_fifth_of_users(make_app, tmp_path):
    run = served_run(make_app, tmp_path, "docs/getting-started/rollout.md")

    assert all(status < 400 for status in run.statuses()), run.calls
    flag = run.json(1)
    assert flag["targeting"]["production"]["serve"] == {"on": 20, "off": 80}
    assert run.json(2)["enabled"] is True
    assert run.json(3) == {"key": "new-search", "value": False, "reason": "SPLIT", "variant": "off", "metadata": {}}
    counted = json.loads(run.outputs[-1])
    assert set(counted) == {"on", "off"} and 100 <= counted["on"] <= 300, counted  # 1,000 users, ~200 on


def test_connect__ofrep_and_unleash_examples__answer_as_their_comments_say(make_app, tmp_path):
    run = served_run(make_app, tmp_path, "docs/getting-started/connect.md", seed_demo=True)

    assert all(status < 400 for status in run.statuses()), run.calls
    ofrep = next(json.loads(body) for _, body in run.calls if '"key"' in body)
    assert ofrep == {"key": "dark-mode", "value": True, "reason": "STATIC", "variant": "on", "metadata": {}}
    document = next(json.loads(body) for _, body in run.calls if body.startswith('{"version"'))
    assert document["version"] == 2
    assert ("dark-mode", True) in [(feature["name"], feature["enabled"]) for feature in document["features"]]
    # The OpenFeature Python example and the Unleash Python example each print the flag's value.
    page_blocks = blocks(ROOT / "docs/getting-started/connect.md")
    python_outputs = [out for block, out in zip(page_blocks, run.outputs, strict=True) if block.language == "python"]
    assert [out.strip() for out in python_outputs] == ["True", "True"]


def test_stale_flags__examples__each_does_what_it_says(make_app, tmp_path):
    run = served_run(make_app, tmp_path, "docs/how-to/stale-flags.md")

    assert run.statuses() == [201, 200, 200, 200, 200, 200, 200, 200]
    created, found, tags, marked, stale, archived, archive, revived = (body for _, body in run.calls)
    assert json.loads(created)["tags"] == ["backend", "payments"] and json.loads(created)["type"] == "experiment"
    headers, _, found_body = found.replace("\r\n", "\n").partition("\n\n")
    assert "X-Total-Count: 1" in headers
    assert [flag["name"] for flag in json.loads(found_body)] == ["payments-retry"]
    assert json.loads(tags) == [{"tag": "backend", "flags": 1}, {"tag": "payments", "flags": 1}]
    assert json.loads(marked)["stale_reason"] == "marked"
    assert [flag["name"] for flag in json.loads(stale)] == ["payments-retry"]
    assert json.loads(archived)["archived_at"] is not None
    assert [flag["name"] for flag in json.loads(archive)] == ["payments-retry"]
    assert json.loads(revived)["archived_at"] is None


def test_tokens__example__creates_a_client_token(make_app, tmp_path):
    run = served_run(make_app, tmp_path, "docs/how-to/tokens-and-roles.md")

    assert run.statuses() == [201]
    assert run.json(0)["token"].startswith("ff_client_")


def test_usage__example__answers_the_flags_usage(make_app, tmp_path):
    run = served_run(make_app, tmp_path, "docs/how-to/usage.md", seed_demo=True)

    assert run.statuses()[-1] == 200
    answer = run.json(-1)
    assert answer["name"] == "dark-mode"
    assert set(answer["environments"]["production"]) == {
        "last_evaluated_at",
        "last_hour",
        "last_24_hours",
        "hours",
        "applications",
    }


def test_scheduled_changes__examples__schedule_list_and_cancel(make_app, tmp_path):
    run = served_run(make_app, tmp_path, "docs/how-to/scheduled-changes.md")

    assert run.statuses() == [201, 201, 201, 200, 200, 200]
    listed = run.json(3)
    assert [(s["state"], s.get("enabled"), s.get("targeting")) for s in listed] == [
        ("pending", True, None),
        ("pending", None, {"rules": [], "serve": "off"}),
    ]
    assert run.json(5)["state"] == "cancelled"


def test_import_export__examples__each_does_what_it_says(make_app, tmp_path):
    run = served_run(make_app, tmp_path, "docs/how-to/import-export.md")

    assert run.statuses() == [201] + [200] * 5
    _, copied, many, _, planned, imported = (body for _, body in run.calls)
    assert json.loads(copied)["environments"]["production"] is True
    assert json.loads(many) == {"updated": ["new-checkout"], "unchanged": []}
    assert json.loads((tmp_path / "flags.json").read_text())["flags"][0]["name"] == "new-checkout"
    assert json.loads(planned)["unchanged"] == ["new-checkout"]
    assert json.loads(imported)["dry_run"] is False


def test_migrate_from_unleash__example__maps_a_rollout_with_nothing_unmapped(make_app, tmp_path):
    run = served_run(make_app, tmp_path, "docs/how-to/migrate-from-unleash.md")

    assert run.statuses() == [200]
    assert run.json(0)["created"] == ["unleash-rollout"] and run.json(0)["unmapped"] == []


def test_segments__examples__a_widened_segment_widens_every_flag_naming_it(make_app, tmp_path):
    run = served_run(make_app, tmp_path, "docs/how-to/segments.md")

    assert run.statuses() == [201, 201, 200, 200, 200, 200]
    _segment, _flag, outside, widened, inside, history = (run.json(i) for i in range(6))
    assert (outside["value"], outside["reason"]) == (False, "DEFAULT")
    assert widened["version"] == 2
    assert (inside["value"], inside["reason"]) == (True, "TARGETING_MATCH")
    assert [event["action"] for event in history["events"]] == ["segment.updated", "flag.created"]
    assert history["events"][0]["flag_names"] == ["beta-checkout"]


def test_prerequisites__examples__each_does_what_it_says(make_app, tmp_path):
    run = served_run(make_app, tmp_path, "docs/how-to/prerequisites.md")

    assert run.statuses() == [201, 201, 201, 200, 200, 409, 200]
    segment, _gated, dependent, evaluated, satisfied, refused, archived = (run.json(i) for i in range(7))
    assert segment["name"] == "beta-users"
    assert dependent["targeting"]["production"]["prerequisites"] == [{"flag": "new-payments", "variants": ["on"]}]
    assert (evaluated["reason"], evaluated["metadata"]) == ("PREREQUISITE_FAILED", {"prerequisite": "new-payments"})
    assert satisfied["value"] is True
    assert refused["error"] == "flag_required"
    assert archived["archived_at"] is not None


def test_webhooks__examples__create_test_list_sign_and_delete(make_app, tmp_path):
    require_tool("curl")
    page = ROOT / "docs/how-to/webhooks.md"
    receiver = Receiver().start()
    replacements = {
        "https://hooks.example.com/feature-flags": receiver.url,
        "https://hooks.slack.com/services/T000/B000/XXXX": receiver.url,
    }
    last = len(blocks(page)) - 1

    def before_block(index: int) -> None:
        # The last block deletes the webhook: its test delivery must have arrived first.
        if index == last:
            wait_for(lambda: [r for r in receiver.received if r[0]["X-Webhook-Event"] == "ping"])

    app = make_app()
    try:
        with serving(app) as base:
            run = run_page(page, base, tmp_path, replacements, before_block)
    finally:
        receiver.stop()

    assert run.statuses() == [201, 201, 200, 202, 200, 204]
    assert [w["format"] for w in run.json(2)] == ["json", "slack"]
    # And the page's signature check accepts the ping it was sent, and nothing else
    headers, body = next(r for r in receiver.received if r[0]["X-Webhook-Event"] == "ping")
    namespace: dict = {}
    exec(compile(block_of("docs/how-to/webhooks.md", "python", "def signed_by"), "webhooks.md", "exec"), namespace)
    secret = re.search(r'"secret": "([^"]+)"', block_of("docs/how-to/webhooks.md", "sh", "/webhooks")).group(1)
    assert namespace["signed_by"](secret, body, headers["X-Webhook-Signature-256"]) is True
    assert namespace["signed_by"](secret, body + b" ", headers["X-Webhook-Signature-256"]) is False


def test_change_requests__example__refused_requested_listed_approved(make_app, tmp_path):
    require_tool("curl")
    app = make_app(approvals=("production",))
    with serving(app) as base:
        run = run_page(ROOT / "docs/how-to/change-requests.md", base, tmp_path)

    assert run.statuses() == [201, 201, 409, 201, 200, 200]
    _flag, _reviewer, refused, requested, listed, approved = (run.json(i) for i in range(6))
    assert refused["error"] == "change_request_required"
    assert requested["state"] == "open" and requested["environments"] == ["production"]
    assert [r["_id"] for r in listed["change_requests"]] == [requested["_id"]]
    assert approved["state"] == "applied" and approved["reviewed_by"] == "reviewer"
    admin = app.test_client()
    admin.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {ADMIN_TOKEN}"
    assert admin.get("/flags/new-checkout").json["environments"]["production"] is True


# --- Every other page ----------------------------------------------------------------------------------------------

HELD_TO_THEIR_TEXT = {
    "README.md",
    "docs/getting-started/install.md",
    "docs/getting-started/rollout.md",
    "docs/getting-started/connect.md",
    "docs/how-to/stale-flags.md",
    "docs/how-to/tokens-and-roles.md",
    "docs/how-to/usage.md",
    "docs/how-to/scheduled-changes.md",
    "docs/how-to/import-export.md",
    "docs/how-to/migrate-from-unleash.md",
    "docs/how-to/segments.md",
    "docs/how-to/prerequisites.md",
    "docs/how-to/webhooks.md",
    "docs/how-to/change-requests.md",
}
OTHER_PAGES = [page for page in pages() if blocks(page) and str(page.relative_to(ROOT)) not in HELD_TO_THEIR_TEXT]


@pytest.mark.parametrize("page", OTHER_PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_page__every_example__runs_and_answers_below_400(page: Path, make_app, tmp_path):
    require_tool("curl")
    app = make_app(seed_demo=True)
    with serving(app) as base:
        run = run_page(page, base, tmp_path)
    assert [call for call in run.calls if call[0] >= 400] == []


def test_pages__held_to_their_text__each_exists_with_examples():
    # A page renamed or emptied must not leave its strong checks behind, silently skipped.
    assert [page for page in sorted(HELD_TO_THEIR_TEXT) if not blocks(ROOT / page)] == []


def test_blocks__a_fence_marked_not_run__is_left_out(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```sh\necho one\n```\n\n<!-- not-run -->\n```sh\nmake run\n```\n\n```text\nnot code\n```\n")
    assert [block.code for block in blocks(page)] == ["echo one\n"]

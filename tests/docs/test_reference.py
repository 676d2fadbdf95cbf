"""The reference pages: each is what docs/reference/generate.py makes from the code now, and misses nothing it names."""

from __future__ import annotations

import ast
import re
import runpy
from collections.abc import Iterator
from pathlib import Path

import pytest

from feature_flags.config import Config
from feature_flags.metrics import AUTH_FAILURE_REASONS, FLAG_CHANGE_ACTIONS, WEBHOOK_OUTCOMES
from feature_flags.settings import SETTINGS
from tests.support import ROOT

REFERENCE = ROOT / "docs" / "reference"
GENERATOR = REFERENCE / "generate.py"
REGENERATE = "run `make reference` (.venv/bin/python -m docs.reference.generate) and commit the result"
PAGES = sorted(path.name for path in REFERENCE.iterdir() if path.suffix in {".md", ".json"})
# What the service is: the package, its entry point and gunicorn's settings, which read variables of their own.
SOURCES = [*sorted(ROOT.joinpath("feature_flags").rglob("*.py")), ROOT / "app.py", ROOT / "gunicorn.conf.py"]
ENVIRONMENT_VARIABLE = re.compile(r"(FF|GUNICORN|MONGO|PROMETHEUS)_[A-Z0-9_]+|HOST|PORT|LOG_LEVEL|FORWARDED_ALLOW_IPS")
METRIC_CLASSES = {"Counter", "Gauge", "Histogram", "Summary", "Info", "info"}
# A metric's name and help, as opposed to a log line's words (logger.info is called like the exporter's info()).
METRIC_NAME = re.compile(r"[a-z][a-z0-9_]*")


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    """Every reference file as the generator makes it from the code now."""
    return runpy.run_path(str(GENERATOR))["pages"]()


def nodes(path: Path) -> Iterator[ast.AST]:
    return ast.walk(ast.parse(path.read_text(), filename=str(path)))


def strings(node: ast.AST | None) -> Iterator[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value


def called(node: ast.Call) -> str | None:
    return node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)


def test_reference__generator__writes_exactly_the_committed_files(generated):
    assert sorted(generated) == PAGES, REGENERATE


@pytest.mark.parametrize("name", PAGES)
def test_reference__committed_page__is_what_the_code_makes_now(generated, name):
    # Given the page as committed, and as the generator makes it from the code now
    committed = (REFERENCE / name).read_text()

    # Then they are the same
    assert committed == generated.get(name), f"docs/reference/{name} is stale: {REGENERATE}"


def test_settings__every_variable_the_code_names__is_defined_and_no_other():
    # Given every string in the service's code that is a whole environment variable name, the definitions aside
    named = {
        text
        for path in SOURCES
        if path.name != "settings.py"
        for node in nodes(path)
        for text in strings(node)
        if ENVIRONMENT_VARIABLE.fullmatch(text)
    }

    # Then the definitions hold exactly those
    defined = [setting.name for setting in SETTINGS]
    assert len(defined) == len(set(defined))
    assert sorted(named - set(defined)) == [], "read by the code but not defined in feature_flags/settings.py"
    assert sorted(set(defined) - named) == [], "defined in feature_flags/settings.py but read nowhere"


def test_settings__defaults_read_from_an_empty_environment__are_the_config_defaults():
    assert Config.from_env({}) == Config()


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.name)
def test_settings__each__says_what_it_may_be(setting):
    if setting.low is not None or setting.high is not None:
        assert isinstance(setting.default, int) and setting.low <= setting.default <= setting.high
        assert setting.allowed is None
    else:
        assert isinstance(setting.default, bool) or setting.allowed
    assert setting.description and setting.group


def test_settings__page__lists_every_variable(generated):
    for setting in SETTINGS:
        assert f"### `{setting.name}`" in generated["settings.md"]


def test_metrics__every_metric_the_code_creates__is_documented(generated):
    # Given every metric the code creates (prometheus_client's classes, the exporter's info()), by the name exported
    created = {
        f"{text.removesuffix('_total')}_total" if called(node) == "Counter" else text
        for path in SOURCES
        for node in nodes(path)
        if isinstance(node, ast.Call) and called(node) in METRIC_CLASSES and len(node.args) >= 2
        for text in strings(node.args[0])
        if METRIC_NAME.fullmatch(text)
    }

    # Then each has its section (a parser that found none would pass vacuously)
    assert {"feature_flags_flag_changes_total", "flask_http_request_duration_seconds", "feature_flags_info"} <= created
    assert [name for name in sorted(created) if f"## `{name}`" not in generated["metrics.md"]] == []


def test_metrics__label_values_the_code_sets__are_the_closed_sets(generated):
    # Given every constant label value the code passes: to .labels(), and to the helpers that count for it
    values: dict[str, set[str]] = {"action": set(), "reason": set()}
    for path in SOURCES:
        for node in nodes(path):
            if not isinstance(node, ast.Call):
                continue
            if called(node) == "labels":
                for keyword in node.keywords:
                    values.setdefault(keyword.arg or "", set()).update(strings(keyword.value))
            elif called(node) == "_finish" and node.args:
                values["action"].update(strings(node.args[-1]))
            elif called(node) == "_fail" and node.args:
                values["reason"].update(strings(node.args[0]))

    # Then each is in its closed set, which the page lists
    assert values["action"] and values["action"] <= set(FLAG_CHANGE_ACTIONS)
    assert values["reason"] and values["reason"] <= set(AUTH_FAILURE_REASONS)
    assert set(values) == {"action", "reason"}
    for value in (*FLAG_CHANGE_ACTIONS, *AUTH_FAILURE_REASONS, *WEBHOOK_OUTCOMES):
        assert f"`{value}`" in generated["metrics.md"]


def test_errors__every_code_the_code_answers__is_listed(generated):
    # Given every error code in the code: a class's own code, and every {"error": "..."} body written by hand
    codes: set[str] = set()
    for path in SOURCES:
        for node in nodes(path):
            if isinstance(node, ast.ClassDef):
                for statement in node.body:
                    if isinstance(statement, ast.Assign) and [getattr(t, "id", None) for t in statement.targets] == [
                        "code"
                    ]:
                        codes.update(strings(statement.value))
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if key is not None and list(strings(key)) == ["error"]:
                        codes.update(strings(value))

    # Then the page lists each (a parser that found none would pass vacuously)
    assert {"flag_not_found", "internal_error", "invalid_context", "database_not_ready"} <= codes
    assert [code for code in sorted(codes) if f"- `{code}`" not in generated["errors.md"]] == []

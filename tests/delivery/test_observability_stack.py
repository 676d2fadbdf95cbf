"""The dashboards, alerts and log views checked against the real service, not against what we think it emits.

A real Prometheus (Debian's package) scrapes the app running under gunicorn; every PromQL expression of the
Grafana dashboard (except the cAdvisor ones, which need a kubelet) must return data, and every alert rule must
fire when its failure is made real: the database stopped, a pod that does not answer. The Kibana saved objects
are checked against log lines the running app really wrote, a real unhandled exception included.
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from pymongo import MongoClient

from tests.delivery.test_delivery import ROOT
from tests.delivery.test_stack import GunicornApp, wait_for
from tests.support import auth, free_port, require_tool

pytestmark = pytest.mark.stack
DASHBOARD = ROOT / "deploy" / "grafana" / "feature-flags.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
KIBANA = ROOT / "deploy" / "kibana" / "feature-flags.ndjson"
JOB = "feature-flags"


def dashboard_expressions() -> list[str]:
    """Return every PromQL expression of the dashboard's panels."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def alert_rules() -> list[dict[str, Any]]:
    """Return every alert rule of the rule file."""
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


class Prometheus:
    """A Prometheus server scraping the app (and one address where nothing answers) with the project's rules."""

    def __init__(self, directory: Path, targets: list[str]) -> None:
        self.binary = require_tool("prometheus")
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "prometheus.log"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": targets}]}],
        }
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen | None = None

    def start(self) -> Prometheus:
        """Start the server and wait until it is ready."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.directory / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(f"{self.url}/-/ready", self.process, self.log)
        return self

    def stop(self) -> None:
        """Stop the server."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)

    def query(self, expression: str) -> list[dict[str, Any]]:
        """Run an instant query; return its result vector (failing the test on a query error)."""
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": expression}, timeout=10).json()
        assert answer["status"] == "success", f"{expression}: {answer}"
        return answer["data"]["result"]

    def firing_or_pending(self) -> set[str]:
        """Return the names of the alerts that are pending or firing."""
        alerts = requests.get(f"{self.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        return {alert["labels"]["alertname"] for alert in alerts if alert["state"] in {"pending", "firing"}}


def has_number(result: list[dict[str, Any]]) -> bool:
    """Tell whether a query result holds at least one finite value."""
    return any(math.isfinite(float(sample["value"][1])) for sample in result)


def until(done: Callable[[], bool], drive: Callable[[], None], seconds: float) -> bool:
    """Drive traffic and check again until done() holds or time runs out; return the last answer."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        drive()
        if done():
            return True
        time.sleep(0.5)
    return done()


def healthy_traffic(app: GunicornApp, names: list[str]) -> None:
    """One round of the traffic a working deployment sees: reads, a change, a bad token, a probe, a 404."""
    name = f"obs-{uuid.uuid4().hex[:8]}"
    assert requests.post(f"{app.url}/flags", json={"name": name}, headers=auth(), timeout=5).status_code == 201
    names.append(name)
    assert requests.post(f"{app.url}/flags/{names[0]}/toggle", json={}, headers=auth(), timeout=5).status_code == 200
    for _ in range(5):
        assert requests.get(f"{app.url}/flags", headers=auth(), timeout=5).status_code == 200
    assert requests.get(f"{app.url}/flags", headers=auth("ff_wrong_token_000000"), timeout=5).status_code == 401
    assert requests.get(f"{app.url}/flags/no-such-flag", headers=auth(), timeout=5).status_code == 404
    assert requests.get(f"{app.url}/readyz", timeout=5).status_code == 200


def outage_traffic(app: GunicornApp) -> None:
    """One round of traffic while the database is down: writes and probes, all answered 503 after the timeout."""

    def write(_: int) -> int:
        name = f"outage-{uuid.uuid4().hex[:8]}"
        return requests.post(f"{app.url}/flags", json={"name": name}, headers=auth(), timeout=10).status_code

    def probe(_: int) -> int:
        return requests.get(f"{app.url}/readyz", timeout=10).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(write, range(4))) + list(pool.map(probe, range(2)))
    assert set(statuses) == {503}, statuses


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A temporary directory for the processes of one test."""
    directory = Path(tempfile.mkdtemp(prefix="ff-observability-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_grafana__dashboard__variables_defined_panels_laid_out():
    dashboard = json.loads(DASHBOARD.read_text())
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    used = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, f"{panel['title']} overflows the 24-column grid"
        for target in panel.get("targets", []):
            used |= set(re.findall(r"\$(\w+)", target["expr"])) - {"__rate_interval"}
            assert target["datasource"]["uid"] == "${datasource}"
    assert used <= defined, f"undefined variables: {used - defined}"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    titles = " ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for subject in ["request rate", "5xx rate", "5xx ratio", "p95", "flag changes", "auth failures",
                    "database errors", "cpu", "memory"]:  # fmt: skip
        assert subject in titles, f"no panel for {subject}"


def test_prometheus__promtool__rules_valid():
    promtool = require_tool("promtool")
    result = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_prometheus__promtool_unit_tests__thresholds_and_durations_hold():
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "test", "rules", "alerts.test.yaml"], cwd=ALERTS.parent, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_prometheus__dashboard_queries_and_alerts__data_from_the_real_app(scratch: Path, database_server):
    # Given: the app under gunicorn on its own database, scraped by Prometheus with the project's rules,
    # next to a target where nothing listens (a pod that is down)
    database = database_server()
    app = GunicornApp(scratch, database.uri, "observability", FF_DB_TIMEOUT_MS="600")
    prometheus = None
    try:
        app.start()
        dead = f"127.0.0.1:{free_port()}"
        prometheus = Prometheus(scratch, [f"127.0.0.1:{app.port}", dead]).start()
        names: list[str] = []

        # When: ordinary traffic flows, then every dashboard query (cAdvisor's aside) returns numbers
        queries = {
            expression: expression.replace("$job", JOB).replace("$__rate_interval", "30s")
            for expression in dashboard_expressions()
            if "container_" not in expression
        }
        assert len(queries) >= 10
        missing = dict(queries)

        def dashboard_complete() -> bool:
            for expression, query in list(missing.items()):
                if has_number(prometheus.query(query)):
                    del missing[expression]
            return not missing

        assert until(dashboard_complete, lambda: healthy_traffic(app, names), 40), f"no data: {list(missing)}"
        jobs = requests.get(
            f"{prometheus.url}/api/v1/label/job/values", params={"match[]": "feature_flags_info"}, timeout=5
        ).json()["data"]
        assert jobs == [JOB], "the dashboard's $job variable lists nothing"

        # When: the database goes away while requests and readiness probes keep coming
        database.stop()
        rules = {rule["alert"]: rule["expr"] for rule in alert_rules()}
        fired: dict[str, bool] = {}

        def all_fire() -> bool:
            for alert, expression in rules.items():
                fired[alert] = fired.get(alert) or bool(prometheus.query(expression))
            return all(fired.values()) and set(rules) <= prometheus.firing_or_pending()

        # Then: every alert expression returns data and Prometheus's rule engine holds each alert
        assert until(all_fire, lambda: outage_traffic(app), 60), (fired, prometheus.firing_or_pending())
        rule_groups = requests.get(f"{prometheus.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
        assert all(rule["health"] == "ok" for group in rule_groups for rule in group["rules"])
        down = prometheus.query(rules["FeatureFlagsTargetDown"])
        assert [sample["metric"]["instance"] for sample in down] == [dead]
    finally:
        if prometheus:
            prometheus.stop()
        app.stop()


# --- Kibana -------------------------------------------------------------------------------------------------------


def kibana_objects() -> list[dict[str, Any]]:
    """Return the saved objects of the ndjson file."""
    return [json.loads(line) for line in KIBANA.read_text().splitlines() if line.strip()]


def kql_clauses(query: str) -> list[tuple[str, str, str]]:
    """Split the simple KQL our saved searches use (clauses joined by `and`) into (field, operator, value)."""
    clauses = []
    for clause in re.split(r"\s+and\s+", query.strip()) if query.strip() else []:
        match = re.fullmatch(r'([\w.]+)\s*(:|>=|<=|>|<)\s*("?)(.*?)\3', clause.strip())
        assert match, f"unsupported KQL clause {clause!r}"
        clauses.append((match.group(1), match.group(2), match.group(4)))
    return clauses


def matches(line: dict[str, Any], clauses: list[tuple[str, str, str]]) -> bool:
    """Tell whether a log line satisfies every clause."""
    for field, operator, value in clauses:
        if field not in line or line[field] is None:
            return False
        actual = line[field]
        if operator == ":" and value != "*" and str(actual) != value:
            return False
        if operator in {">=", "<=", ">", "<"}:
            number, bound = float(actual), float(value)
            checks = {">=": number >= bound, "<=": number <= bound, ">": number > bound, "<": number < bound}
            if not checks[operator]:
                return False
    return True


def saved_views() -> list[tuple[str, str, set[str]]]:
    """Return (title, KQL query, fields used) for every saved search and visualization."""
    objects = {item["id"]: item for item in kibana_objects()}
    views = []
    for item in objects.values():
        attributes = item["attributes"]
        source = json.loads(attributes.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON", "{}"))
        query = source.get("query", {}).get("query", "")
        fields = set(attributes.get("columns", []))
        fields |= {field for field, _ in attributes.get("sort", [])}
        if item["type"] == "visualization":
            state = json.loads(attributes["visState"])
            fields |= {agg["params"]["field"] for agg in state["aggs"] if "field" in agg["params"]}
            if "savedSearchRefName" in attributes:
                search_id = next(ref["id"] for ref in item["references"] if ref["name"] == "search_0")
                search = objects[search_id]["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]
                query = json.loads(search)["query"]["query"]
        if item["type"] in {"search", "visualization"}:
            fields = {field.removesuffix(".keyword") for field in fields}
            views.append((attributes["title"], query, fields | {field for field, _, _ in kql_clauses(query)}))
    return views


def test_kibana__objects__reference_each_other_and_the_data_view():
    objects = kibana_objects()
    ids = {(item["type"], item["id"]) for item in objects}
    for item in objects:
        for reference in item.get("references", []):
            assert (reference["type"], reference["id"]) in ids, f"{item['id']} points at a missing object"
    data_view = next(item for item in objects if item["type"] == "index-pattern")
    assert data_view["attributes"]["timeFieldName"] == "time"
    titles = " ".join(item["attributes"]["title"] for item in objects)
    for subject in ["volume", "5xx", "exceptions", "by service"]:
        assert subject in titles


def test_kibana__every_field_used__present_in_real_log_lines(scratch: Path, database_server):
    # Given: the app under gunicorn over a database that can be told to fail a command
    database = database_server("--enable-test-commands")
    app = GunicornApp(scratch, database.uri, "kibana")
    try:
        app.start()
        # When: ordinary requests, a refused token, and a database error nobody expected (an unhandled exception)
        assert requests.post(f"{app.url}/flags", json={"name": "k1"}, headers=auth(), timeout=5).status_code == 201
        assert requests.get(f"{app.url}/flags", headers=auth(), timeout=5).status_code == 200
        assert requests.get(f"{app.url}/flags", headers=auth("ff_wrong_token_000000"), timeout=5).status_code == 401
        client = MongoClient(database.uri, serverSelectionTimeoutMS=5000)
        client.admin.command(
            {
                "configureFailPoint": "failCommand",
                "mode": "alwaysOn",
                "data": {"failCommands": ["insert", "update", "findAndModify"], "errorCode": 2},
            }
        )
        try:
            failed = requests.post(f"{app.url}/flags", json={"name": "k2"}, headers=auth(), timeout=10)
        finally:
            client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
            client.close()
        assert failed.status_code == 500 and failed.json()["error"] == "internal_error"
        time.sleep(0.3)
        lines = app.log_lines()

        # Then: the data view's time field is on every line, and each view finds lines carrying all its fields
        assert lines and all("time" in line for line in lines)
        for title, query, fields in saved_views():
            selected = [line for line in lines if matches(line, kql_clauses(query))]
            assert selected, f"{title}: no real log line matches {query!r}"
            for field in fields:
                assert any(field in line for line in selected), f"{title}: no line matching {query!r} has {field}"
    finally:
        app.stop()

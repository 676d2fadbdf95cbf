"""Delivery files checked without a Docker engine: the Dockerfile, compose file, workflows and nginx.conf.

Each is linted by the tool made for it (hadolint, the Compose and GitHub workflow JSON schemas, actionlint,
`nginx -t`), and the promises the documentation makes about them are read back from the files.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import image_bin, require_tool

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yaml"))
COMPOSE = ROOT / "docker-compose.local.yaml"
DOCKERFILE = ROOT / "Dockerfile"
NGINX_CONF = ROOT / "nginx.conf"
PINNED_ACTION = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def venv_tool(name: str) -> str:
    """Return a tool installed in this virtualenv (requirements-dev.txt), else from PATH via require_tool."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else require_tool(name)


def nginx_binary() -> str:
    """Return Debian's nginx; it lives in /usr/sbin, which a non-root PATH may lack."""
    return require_tool("nginx" if shutil.which("nginx") else "/usr/sbin/nginx")


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command, capturing its output as text."""
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, **kwargs)


def dockerfile_stages() -> dict[str, list[str]]:
    """Return the Dockerfile's instructions (continuation lines joined) by stage name."""
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    logical = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE)
        if match:
            current = stages.setdefault(match.group(1), [])
        current.append(line)
    return stages


def exec_form(instruction: str, keyword: str) -> list[str]:
    """Return the JSON (exec form) argument list of an instruction such as CMD [...]."""
    return json.loads(instruction[instruction.index(keyword) + len(keyword) :].strip())


def load_yaml(path: Path) -> dict:
    """Parse a YAML file."""
    return yaml.safe_load(path.read_text())


# --- Dockerfile ---------------------------------------------------------------------------------------------------


def test_dockerfile__hadolint__no_findings():
    result = run([venv_tool("hadolint"), str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile__runtime_stage__last_non_root_gunicorn_with_config():
    stages = dockerfile_stages()
    assert list(stages)[-1] == "runtime", "a plain `docker build .` must produce the API image"
    runtime = stages["runtime"]
    assert runtime[0].split()[1] == "${PYTHON_IMAGE}"
    assert "ARG PYTHON_IMAGE=python:3.12-slim" in DOCKERFILE.read_text()
    user = next(line for line in runtime if line.startswith("USER "))
    assert user.split()[1].split(":")[0] not in {"0", "root"}
    cmd = next(line for line in runtime if line.startswith("CMD "))
    assert exec_form(cmd, "CMD") == ["gunicorn", "-c", "gunicorn.conf.py", "app:app"]
    env = " ".join(line for line in runtime if line.startswith("ENV "))
    assert "PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus" in env
    assert any("mkdir -p /tmp/prometheus" in line and "chown app:app /tmp/prometheus" in line for line in runtime)


def test_dockerfile__healthcheck__python_against_healthz():
    runtime = dockerfile_stages()["runtime"]
    healthcheck = next(line for line in runtime if line.startswith("HEALTHCHECK "))
    command = exec_form(healthcheck, "CMD")
    assert command[0] == "python" and "/healthz" in command[-1]
    assert "curl" not in healthcheck and "wget" not in healthcheck


def test_dockerfile__labels__oci_version_revision_source_from_build_args():
    runtime = " ".join(dockerfile_stages()["runtime"])
    for label, arg in [("version", "VERSION"), ("revision", "REVISION"), ("source", "SOURCE"), ("created", "CREATED")]:
        assert f'org.opencontainers.image.{label}="${{{arg}}}"' in runtime
        assert f"ARG {arg}" in runtime


def test_dockerfile__builder__installs_runtime_requirements_only():
    builder = " ".join(dockerfile_stages()["builder"])
    assert "-r /tmp/requirements.txt" in builder
    assert "requirements-dev" not in DOCKERFILE.read_text()
    runtime_requirements = (ROOT / "requirements.txt").read_text().lower()
    assert "secantus" not in runtime_requirements, "the embedded database must not reach the production image"


def test_image_environment__requirements_alone__loads_the_worker_class_and_lacks_the_test_tools():
    # Given the environment the image builds, from requirements.txt alone (make builds it as the Dockerfile does)
    python = str(image_bin() / "python")

    # When gunicorn loads the image's worker class there, as it does before forking the workers
    loaded = run(
        [python, "-c", "from gunicorn.util import load_class; print(load_class(__import__('sys').argv[1]).__name__)",
         "feature_flags.server.JsonErrorGeventWorker"],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip

    # Then it loads (gevent's worker needs packaging, which only gunicorn's gevent extra brings)
    assert loaded.returncode == 0 and loaded.stdout.strip() == "JsonErrorGeventWorker", loaded.stderr
    # And nothing of the test environment is there to hide a missing runtime dependency
    for test_only in ("pytest", "secantus", "playwright"):
        assert run([python, "-c", f"import {test_only}"]).returncode != 0, f"{test_only} is in the image's environment"


def test_dockerignore__copied_paths_allowed_secrets_and_local_state_not():
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()]
    rules = [rule for rule in rules if not rule.startswith("#")]
    assert rules[0] == "**", "the context is an allow-list: everything not named is left out"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    copied = set()
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            copied.update(shlex.split(line)[1:-1])
    copied = {Path(path).name if path.startswith("/") else path for path in copied}
    assert copied <= allowed, f"COPY sources missing from .dockerignore: {copied - allowed}"
    assert not allowed & {".env", ".venv", "data", "tests", ".git"}


# --- Compose ----------------------------------------------------------------------------------------------------


def test_compose__compose_spec_schema__valid():
    result = run([venv_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose__networks__nginx_cannot_reach_database():
    services = load_yaml(COMPOSE)["services"]
    assert set(services["nginx"]["networks"]) == {"app-network"}
    assert set(services["app"]["networks"]) == {"app-network", "db-network"}
    assert set(services["mongodb"]["networks"]) == {"db-network"}
    assert "ports" not in services["mongodb"] and "ports" not in services["app"]
    assert services["nginx"]["ports"] == ["${HTTP_PORT:-80}:80"]


def test_compose__mongodb__mongo7_root_user_from_env_with_defaults_healthcheck_volume():
    compose = load_yaml(COMPOSE)
    mongodb = compose["services"]["mongodb"]
    assert mongodb["image"] == "mongo:7"
    assert re.fullmatch(r"\$\{MONGO_INITDB_ROOT_USERNAME:-.+\}", mongodb["environment"]["MONGO_INITDB_ROOT_USERNAME"])
    assert re.fullmatch(r"\$\{MONGO_INITDB_ROOT_PASSWORD:-.+\}", mongodb["environment"]["MONGO_INITDB_ROOT_PASSWORD"])
    assert "mongosh" in " ".join(mongodb["healthcheck"]["test"])
    assert "--replSet rs0" in mongodb["entrypoint"][-1]
    assert compose["services"]["app"]["environment"]["MONGO_REPLICA_SET_NAME"] == "rs0"
    assert mongodb["volumes"] == ["db-data:/data/db"] and "db-data" in compose["volumes"]
    assert compose["services"]["app"]["depends_on"]["mongodb"]["condition"] == "service_healthy"


def test_compose__images__app_and_nginx_built_from_the_dockerfile_stages():
    services = load_yaml(COMPOSE)["services"]
    stages = dockerfile_stages()
    assert services["app"]["build"]["target"] == "runtime"
    assert services["nginx"]["build"]["target"] == "web"
    web = " ".join(stages["web"])
    assert "COPY nginx.conf /etc/nginx/nginx.conf" in web
    assert "COPY --from=ui /srv/ui /usr/share/nginx/html" in web
    assert "flask --app app ui export /srv/ui" in " ".join(stages["ui"])


def test_env_example__every_compose_variable__listed():
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    listed = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line}
    listed = {name for name in listed if not name.startswith("#")}
    assert used == listed


# --- GitHub Actions -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_workflow__github_workflow_schema__valid(workflow: Path):
    result = run([venv_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(workflow)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows__actionlint__no_findings():
    # actionlint runs shellcheck on every `run:` script, silently skipping it when shellcheck is missing.
    require_tool("shellcheck")
    result = run([venv_tool("actionlint"), *map(str, WORKFLOWS)], cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows__the_four_expected__present():
    assert [path.name for path in WORKFLOWS] == ["cd.yaml", "ci.yaml", "docs.yaml", "s3-frontend-sync.yaml"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_workflow__permissions_concurrency_pins__least_privilege(workflow: Path):
    document = load_yaml(workflow)
    assert document["permissions"] == {}, "nothing is granted by default; each job asks for what it needs"
    assert document["concurrency"]["group"]
    for name, job in document["jobs"].items():
        assert "permissions" in job, f"job {name} has no permissions block"
        if "uses" in job:  # a reusable workflow: its own jobs carry the timeouts and steps
            assert job["uses"].startswith("./.github/workflows/"), f"job {name} calls an outside workflow"
            continue
        assert job.get("timeout-minutes"), f"job {name} has no timeout"
        for step in job["steps"]:
            if "uses" in step:
                assert PINNED_ACTION.match(step["uses"]), f"{step['uses']} is not pinned to a commit"


def test_ci__mongo7_service__mongo_uri_set_and_ci_run_used():
    job = load_yaml(ROOT / ".github/workflows/ci.yaml")["jobs"]["test"]
    assert job["services"]["mongodb"]["image"] == "mongo:7"
    assert job["env"]["MONGO_URI"] == "mongodb://mongodb:27017/"
    assert job["permissions"] == {"contents": "read"}
    assert any(step.get("run") == "bash .ci/run" for step in job["steps"])


def test_cd__branches_versions_registries__as_documented():
    document = load_yaml(ROOT / ".github/workflows/cd.yaml")
    # PyYAML reads the key `on` as True.
    assert document[True]["push"]["branches"] == ["dev", "staging", "main"]
    assert document["concurrency"]["cancel-in-progress"] is False
    jobs = document["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/ci.yaml", "cd runs exactly the pull-request checks"
    assert "workflow_call" in load_yaml(ROOT / ".github/workflows/ci.yaml")[True]
    script = jobs["version"]["steps"][-1]["run"]
    assert 'staging) version="rc-${short_sha}"' in script and 'dev) version="dev-${short_sha}"' in script
    image = jobs["image"]
    assert image["permissions"] == {"contents": "read", "id-token": "write", "packages": "write"}
    steps = {step["name"]: step for step in image["steps"]}
    assert steps["AWS credentials (OIDC)"]["with"]["role-to-assume"] == "${{ secrets.OIDC_AWS_ROLE_ARN }}"
    meta = steps["Image names and tags"]["with"]
    assert "${{ vars.ECR_REGISTRY }}/${{ vars.ECR_REPO }}" in meta["images"]
    assert "ghcr.io/${{ github.repository }}" in meta["images"]
    assert "type=raw,value=latest,enable=${{ github.ref == 'refs/heads/main' }}" in meta["tags"]
    assert "cache-from" in steps["Build and push"]["with"]
    # The UI image, for Kubernetes: GHCR only, same tags as the API image (the Kubernetes page names both).
    web_meta = steps["Web image names and tags"]["with"]
    assert web_meta["images"].strip() == "ghcr.io/${{ github.repository }}-web" and web_meta["tags"] == meta["tags"]
    web_build = steps["Build and push the web image"]["with"]
    assert web_build["target"] == "web" and web_build["push"] is True
    assert web_build["tags"] == "${{ steps.web-meta.outputs.tags }}"
    assert jobs["release"]["if"] == "github.ref == 'refs/heads/main'"
    assert jobs["release"]["permissions"] == {"contents": "write"}


def test_docs_workflow__strict_build_published_to_pages_on_main():
    document = load_yaml(ROOT / ".github/workflows/docs.yaml")
    assert document[True]["push"]["branches"] == ["main"]
    build, publish = document["jobs"]["build"], document["jobs"]["publish"]
    assert "python -m mkdocs build --strict --site-dir build/site" in [step.get("run") for step in build["steps"]]
    assert build["permissions"] == {"contents": "read", "pages": "read"}
    assert publish["permissions"] == {"pages": "write", "id-token": "write"} and publish["needs"] == "build"
    used = [step["uses"].split("@")[0] for job in (build, publish) for step in job["steps"] if "uses" in step]
    assert {"actions/configure-pages", "actions/upload-pages-artifact", "actions/deploy-pages"} <= set(used)


def test_s3_frontend_sync__exports_syncs_with_delete_and_invalidates():
    job = load_yaml(ROOT / ".github/workflows/s3-frontend-sync.yaml")["jobs"]["sync"]
    scripts = "\n".join(step.get("run", "") for step in job["steps"])
    assert "flask --app app ui export build/ui" in scripts
    assert 'aws s3 sync build/ui "${BUCKET_URL}" --delete' in scripts
    assert "aws cloudfront create-invalidation" in scripts
    assert job["permissions"] == {"contents": "read", "id-token": "write"}


# --- nginx ------------------------------------------------------------------------------------------------------


def test_nginx_conf__nginx_t__valid_with_only_the_upstream_host_substituted(tmp_path: Path):
    nginx = nginx_binary()
    text = NGINX_CONF.read_text()
    assert text.count("server app:5000;") == 1
    # Only the compose service name changes: it does not resolve outside the compose network.
    (tmp_path / "nginx.conf").write_text(text.replace("server app:5000;", "server 127.0.0.1:5000;"))
    result = run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")])
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def test_nginx_conf__body_limit_and_csp__match_the_app():
    from feature_flags.config import MAX_BODY_BYTES
    from feature_flags.web.hooks import CONTENT_SECURITY_POLICY

    text = NGINX_CONF.read_text()
    assert MAX_BODY_BYTES == 1024 * 1024 and "client_max_body_size 1m;" in text
    assert f'~^text/html "{CONTENT_SECURITY_POLICY}";' in text


# --- Documentation ------------------------------------------------------------------------------------------------


def docs_page(path: str) -> str:
    """Return the text of a documentation page, by its path under docs/."""
    return (ROOT / "docs" / path).read_text()


def test_docs__secrets_and_variables_table__matches_the_workflows():
    used = set()
    for workflow in WORKFLOWS:
        used |= set(re.findall(r"\$\{\{\s*(?:secrets|vars)\.([A-Z0-9_]+)", workflow.read_text()))
    documented = set(
        re.findall(
            r"^\| `([A-Z0-9_]+)` \| (?:secret|variable|automatic)", docs_page("how-to/continuous-delivery.md"), re.M
        )
    )
    assert used == documented


def test_docs__gunicorn_settings__each_in_the_settings_reference_the_compose_page_links():
    read = set(re.findall(r'_int\("([A-Z_]+)"', (ROOT / "gunicorn.conf.py").read_text()))
    assert read, "gunicorn.conf.py reads no settings this test can find"
    reference = docs_page("reference/settings.md")
    assert [name for name in sorted(read) if f"`{name}`" not in reference] == []
    assert "../reference/settings.md#under-gunicorn-the-image" in docs_page("how-to/docker-compose.md")


def run_version_step(repo: Path, branch: str) -> tuple[int, dict[str, str]]:
    """Run cd.yaml's version script in a git repository; return its exit code and its step outputs."""
    steps = load_yaml(ROOT / ".github/workflows/cd.yaml")["jobs"]["version"]["steps"]
    script = next(step["run"] for step in steps if step.get("id") == "version")
    sha = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    outputs = repo / "outputs.txt"
    outputs.write_text("")
    env = {"PATH": "/usr/bin:/bin", "BRANCH": branch, "GITHUB_SHA": sha, "GITHUB_OUTPUT": str(outputs),
           "GITHUB_STEP_SUMMARY": str(repo / "summary.md")}  # fmt: skip
    result = run(["bash", "-c", script], cwd=repo, env=env)
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    return result.returncode, values


def git_repo(path: Path, history: list[tuple[str, str | None]]) -> Path:
    """Make a repository with one commit per (message, tag or None)."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    run(["git", "init", "-q", str(path)])
    for number, (message, tag) in enumerate(history):
        (path / "file.txt").write_text(str(number))
        run(["git", "add", "file.txt"], cwd=path)
        assert run([*git, "commit", "-q", "-m", message], cwd=path).returncode == 0
        if tag:
            run(["git", "tag", tag], cwd=path)
    return path


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([("first", None)], "0.1.0"),
        ([("start", "v1.2.3"), ("fix: a bug", None)], "1.2.4"),
        ([("start", "v1.2.3"), ("fix: a bug", None), ("feat(ui): a panel", None)], "1.3.0"),
        ([("start", "v1.2.3"), ("feat!: new flag model", None)], "2.0.0"),
        ([("start", "v1.2.3"), ("refactor: x\n\nBREAKING CHANGE: the list is paged", None)], "2.0.0"),
        ([("start", "v1.2.9"), ("older", "v1.10.0"), ("fix: y", None)], "1.10.1"),
        ([("start", "v1.2.3"), ("fix: released already", "v1.2.4")], "1.2.4"),
    ],
    ids=["first-release", "patch", "minor", "major-bang", "major-footer", "numeric-order", "re-run"],
)
def test_cd_version__main__semver_bumped_from_last_tag(tmp_path: Path, history, expected: str):
    code, outputs = run_version_step(git_repo(tmp_path / "repo", history), "main")
    assert code == 0
    assert outputs["version"] == expected


@pytest.mark.parametrize(("branch", "prefix"), [("staging", "rc-"), ("dev", "dev-")])
def test_cd_version__staging_and_dev__prefixed_short_sha(tmp_path: Path, branch: str, prefix: str):
    repo = git_repo(tmp_path / "repo", [("start", "v1.0.0"), ("feat: x", None)])
    code, outputs = run_version_step(repo, branch)
    sha = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    assert code == 0
    assert outputs["version"] == f"{prefix}{sha[:7]}"


def test_cd_version__other_branch__refused(tmp_path: Path):
    code, outputs = run_version_step(git_repo(tmp_path / "repo", [("start", None)]), "feature-x")
    assert code != 0 and "version" not in outputs


def test_s3_frontend_sync__export_step__writes_the_ui_without_a_database(tmp_path: Path):
    step = next(
        step for step in load_yaml(ROOT / ".github/workflows/s3-frontend-sync.yaml")["jobs"]["sync"]["steps"]
        if step["name"] == "Export the UI"
    )  # fmt: skip
    script = step["run"].replace("build/ui", str(tmp_path / "ui"))
    # The workflow installs requirements.txt alone, as the image's environment is built.
    env = {**step["env"], "API_BASE": "", "PATH": f"{image_bin()}{os.pathsep}/usr/bin:/bin"}
    result = run(["bash", "-c", script], cwd=ROOT, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "ui" / "index.html").read_text().lstrip().lower().startswith("<!doctype html>")


def test_dockerfile__ui_stage_export__writes_the_ui_without_a_database(tmp_path: Path):
    command = next(line for line in dockerfile_stages()["ui"] if line.startswith("RUN "))[len("RUN ") :]
    command = command.replace("/opt/venv/bin/", f"{image_bin()}/").replace("/srv/ui", str(tmp_path))
    result = run(["bash", "-c", command], cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "index.html").exists() and any(tmp_path.rglob("*.js"))

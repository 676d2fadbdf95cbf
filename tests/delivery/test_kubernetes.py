"""The Kubernetes manifests (deploy/kubernetes), checked without a cluster.

Each overlay is rendered with `kubectl kustomize`, and every object of a built-in kind is validated against the
Kubernetes 1.32 API schema (PyPI kubernetes-validate, strict: unknown fields fail). The operators' kinds have no
schema there, so their structure is checked here. Then what the manifests promise is compared with its one source:
the app's URL map for the Ingress, the Dockerfile and the config for ports, user, probes and variables, the rule file
for the PrometheusRule.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import runpy
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from feature_flags.config import MAX_BODY_BYTES
from feature_flags.settings import setting
from tests.delivery.test_delivery import DOCKERFILE, NGINX_CONF, dockerfile_stages, docs_page, load_yaml
from tests.support import require_tool

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAYS = ["development", "production"]
KUBERNETES_VERSION = "1.32.0"
API_SERVICE = "feature-flags-api"
WEB_SERVICE = "feature-flags-web"
EVENT_STREAM_PATH = "/ofrep/v1/flag-changes"
# The issue's API prefixes, routed before the app has all of them, so the UI never answers a future API path.
API_PREFIXES = [
    "/flags",
    "/tokens",
    "/audit",
    "/ofrep",
    "/segments",
    "/environments",
    "/webhooks",
    "/export",
    "/import",
]
# Rules deliberately not sent to the API through the Ingress: the UI's own (the web image serves the exported copy),
# the probes (the kubelet calls the pods) and /metrics (Prometheus scrapes the pods; it must not be public).
NOT_ROUTED_TO_API = {"static", "ui.index", "ui.asset", "health.healthz", "health.readyz", "prometheus_metrics"}
CUSTOM_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity"),
}
IMAGES = {"api": "ghcr.io/example/feature-flags", "web": "ghcr.io/example/feature-flags-web"}


@functools.cache
def _render(overlay: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    kubectl = require_tool("kubectl")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES / "overlays" / overlay)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    documents = [doc for doc in yaml.safe_load_all(result.stdout) if doc] if result.returncode == 0 else []
    return result, documents


def rendered(overlay: str) -> list[dict]:
    """Return the objects `kubectl kustomize` renders for an overlay (kubectl is required in CI)."""
    result, documents = _render(overlay)
    assert result.returncode == 0, result.stderr
    return documents


def find(documents: list[dict], kind: str, name: str | None = None) -> dict:
    """Return the one object of a kind (and name) in a rendering."""
    found = [doc for doc in documents if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def api_container(documents: list[dict]) -> dict:
    """Return the API Deployment's container."""
    return find(documents, "Deployment", API_SERVICE)["spec"]["template"]["spec"]["containers"][0]


def backend_for(path: str, ingresses: list[dict]) -> str:
    """Return the Service an Ingress controller sends a request path to: the longest matching path wins."""
    best: tuple[int, str] | None = None
    for ingress in ingresses:
        for rule in ingress["spec"]["rules"]:
            for entry in rule["http"]["paths"]:
                prefix, kind = entry["path"], entry["pathType"]
                if kind == "Exact":
                    matches = path == prefix
                else:  # Prefix: whole path elements, so /flags matches /flags/x but not /flagsx
                    matches = prefix == "/" or path == prefix or path.startswith(prefix.rstrip("/") + "/")
                if matches and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), entry["backend"]["service"]["name"])
    assert best is not None, f"no Ingress path matches {path}"
    return best[1]


def example_path(rule: str) -> str:
    """Turn a URL rule such as /flags/<ident>/toggle into a concrete path."""
    return re.sub(r"<[^>]+>", "x", rule)


def dockerfile_env() -> dict[str, str]:
    """Return the ENV values of the runtime stage."""
    text = " ".join(line for line in dockerfile_stages()["runtime"] if line.startswith("ENV "))
    return dict(re.findall(r"([A-Z_]+)=(\S+)", text))


def variables_the_service_reads() -> set[str]:
    """Return every environment variable feature_flags/config.py, gunicorn.conf.py or the metrics read."""
    config = (ROOT / "feature_flags" / "config.py").read_text()
    gunicorn = (ROOT / "gunicorn.conf.py").read_text()
    names = set(re.findall(r'env(?:\.get\(|, )"([A-Z_]+)"', config))
    names |= set(re.findall(r'(?:os\.environ\.get\(|_int\()"([A-Z_]+)"', gunicorn))
    names |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', (ROOT / "feature_flags" / "metrics.py").read_text()))
    return names


# --- Rendering and schemas ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay__kubectl_kustomize__renders_the_service(overlay: str):
    kinds = {doc["kind"] for doc in rendered(overlay)}
    assert {"Namespace", "Deployment", "Service", "Ingress", "ConfigMap", "HorizontalPodAutoscaler",
            "PodDisruptionBudget", "NetworkPolicy"} <= kinds  # fmt: skip
    namespaces = {doc["metadata"].get("namespace") for doc in rendered(overlay) if doc["kind"] != "Namespace"}
    assert namespaces == {find(rendered(overlay), "Namespace")["metadata"]["name"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay__every_object__valid_against_the_kubernetes_schema_or_a_known_custom_kind(overlay: str):
    unknown = []
    for doc in rendered(overlay):
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            continue  # no schema in kubernetes-validate; checked by the tests below
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            unknown.append(f"{doc['apiVersion']} {doc['kind']}")
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {error.message} at {list(error.path)}")
    assert not unknown, f"kinds with neither a schema nor a structure check: {unknown}"


def test_validator__unknown_field__refused():
    # The schema check is only worth something if a typo fails it.
    deployment = find(rendered("development"), "Deployment", API_SERVICE)
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_development__custom_kinds__none_so_a_plain_cluster_takes_it():
    assert not [doc["kind"] for doc in rendered("development") if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS]


# --- Ingress against the app's URL map ----------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress__every_api_route_the_app_registers__sent_to_the_api(app, overlay: str):
    ingresses = [doc for doc in rendered(overlay) if doc["kind"] == "Ingress"]
    for rule in app.url_map.iter_rules():
        backend = backend_for(example_path(rule.rule), ingresses)
        if rule.endpoint in NOT_ROUTED_TO_API:
            assert backend == WEB_SERVICE, f"{rule.rule} ({rule.endpoint}) should reach the UI, not {backend}"
        else:
            assert backend == API_SERVICE, f"{rule.rule} ({rule.endpoint}) is not routed to the API"


def test_nginx_conf__every_api_route_the_app_registers__proxied_to_the_api(app):
    # The compose file's nginx stands where the Ingress does: a route it does not proxy is the UI's 404 there.
    config = NGINX_CONF.read_text()
    api_locations = [
        re.compile(pattern)
        for pattern in re.findall(
            r"location ~ (\S+) \{\n\s+limit_req zone=api[^}]*proxy_pass http://feature_flags_api", config
        )
    ]
    exact = set(re.findall(r"location = (\S+) \{\n[^}]*proxy_pass http://feature_flags_api", config))
    assert api_locations, "no API location found in nginx.conf"
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_ROUTED_TO_API:
            continue
        path = example_path(rule.rule)
        proxied = path in exact or any(location.match(path) for location in api_locations)
        assert proxied, f"{rule.rule} ({rule.endpoint}) is not proxied to the API by nginx.conf"


def test_ingress__issue_prefixes_and_event_stream__to_the_api_the_rest_to_the_ui():
    ingresses = [doc for doc in rendered("production") if doc["kind"] == "Ingress"]
    for prefix in [*API_PREFIXES, EVENT_STREAM_PATH]:
        assert backend_for(prefix, ingresses) == API_SERVICE
        assert backend_for(f"{prefix}/anything", ingresses) == API_SERVICE
    for path in ["/", "/index.html", "/assets/0123abcd/app.js", "/metrics", "/flagship"]:
        assert backend_for(path, ingresses) == WEB_SERVICE
    # The UI's nginx answers /metrics with 404, so the Ingress never exposes it.
    assert "location = /metrics {\n            return 404;" in NGINX_CONF.read_text()


def test_ingress__event_stream__unbuffered_with_long_timeouts_and_api_limits_match_the_app():
    documents = rendered("production")
    events = find(documents, "Ingress", "feature-flags-events")["metadata"]["annotations"]
    assert events["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(events["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(events["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    api = find(documents, "Ingress", "feature-flags")["metadata"]["annotations"]
    assert api["nginx.ingress.kubernetes.io/proxy-body-size"] == f"{MAX_BODY_BYTES // (1024 * 1024)}m"
    for ingress in (doc for doc in documents if doc["kind"] == "Ingress"):
        assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]


# --- The API Deployment against the Dockerfile and the config ---------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_deployment__port_user_and_filesystem__as_the_image_has_them(overlay: str):
    documents = rendered(overlay)
    pod = find(documents, "Deployment", API_SERVICE)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    runtime = dockerfile_stages()["runtime"]
    user = next(line for line in runtime if line.startswith("USER ")).split()[1]
    assert f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}" == user
    assert pod["securityContext"]["runAsNonRoot"] is True
    expose = next(line for line in runtime if line.startswith("EXPOSE ")).split()[1]
    assert container["ports"] == [{"name": "http", "containerPort": int(expose)}]
    assert dockerfile_env()["PORT"] == expose and dockerfile_env()["HOST"] == "0.0.0.0"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for path in ["/tmp", dockerfile_env()["PROMETHEUS_MULTIPROC_DIR"]]:
        assert "emptyDir" in volumes[mounts[path]], f"{path} must be a writable emptyDir"
    assert container["image"].rsplit(":", 1)[0] == IMAGES["api"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_deployment__probes__healthz_readyz_on_the_container_port(app, overlay: str):
    container = api_container(rendered(overlay))
    endpoints = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    probes = {name: container[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert endpoints[probes["livenessProbe"]["path"]] == "health.healthz"
    assert endpoints[probes["startupProbe"]["path"]] == "health.healthz"
    assert endpoints[probes["readinessProbe"]["path"]] == "health.readyz"
    assert {probe["port"] for probe in probes.values()} == {"http"}
    # /readyz waits for the database for up to FF_DB_TIMEOUT_MS (1 s) plus the driver's overshoot.
    assert container["readinessProbe"]["timeoutSeconds"] >= 2


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_deployment__grace_period__outlasts_the_pre_stop_pause_and_gunicorns_graceful_timeout(overlay: str):
    documents = rendered(overlay)
    pod = find(documents, "Deployment", API_SERVICE)["spec"]["template"]["spec"]
    settings = config_map(documents)["data"]
    default = setting("GUNICORN_GRACEFUL_TIMEOUT").default
    graceful = int(settings.get("GUNICORN_GRACEFUL_TIMEOUT", default))
    pause = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pause + graceful


def config_map(documents: list[dict]) -> dict:
    """Return the API's settings ConfigMap (its name carries kustomize's hash)."""
    maps = [doc for doc in documents if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith(
        "feature-flags-config-")]  # fmt: skip
    assert len(maps) == 1
    return maps[0]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_deployment__every_variable__one_the_service_reads_with_a_valid_value(overlay: str):
    from feature_flags.config import Config

    documents = rendered(overlay)
    container = api_container(documents)
    settings_map = config_map(documents)
    settings = settings_map["data"]
    assert [source["configMapRef"]["name"] for source in container["envFrom"]] == [settings_map["metadata"]["name"]]
    names = set(settings) | {variable["name"] for variable in container["env"]}
    assert names <= variables_the_service_reads(), f"not read by the service: {names - variables_the_service_reads()}"
    # The same values the service will see start it (Config refuses a bad one with the variable's name).
    config = Config.from_env({**settings, "MONGO_URI": "mongodb://db:27017/"})
    assert config.trusted_proxies == 1, "the ingress controller is one proxy in front of the pods"
    secrets = {variable["name"]: variable["valueFrom"]["secretKeyRef"] for variable in container["env"]}
    assert set(secrets) == {"FF_ADMIN_TOKEN", "MONGO_URI"}


def test_api_deployment__replicas_left_to_the_autoscaler_spread_and_disruption_budget():
    documents = rendered("production")
    deployment = find(documents, "Deployment", API_SERVICE)
    labels = deployment["spec"]["selector"]["matchLabels"]
    assert "replicas" not in deployment["spec"]
    autoscaler = find(documents, "HorizontalPodAutoscaler", API_SERVICE)
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == API_SERVICE and autoscaler["spec"]["minReplicas"] >= 2
    assert find(documents, "PodDisruptionBudget", API_SERVICE)["spec"]["selector"]["matchLabels"] == labels
    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {constraint["topologyKey"] for constraint in spread} == {"topology.kubernetes.io/zone",
                                                                    "kubernetes.io/hostname"}  # fmt: skip
    assert all(constraint["labelSelector"]["matchLabels"] == labels for constraint in spread)
    assert "cpu" in api_container(documents)["resources"]["requests"]


# --- Network policies and MongoDB ---------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies__only_the_ingress_and_prometheus_reach_the_api_which_reaches_mongodb(overlay: str):
    documents = rendered(overlay)
    api_labels = find(documents, "Deployment", API_SERVICE)["spec"]["template"]["metadata"]["labels"]
    policies = [doc for doc in documents if doc["kind"] == "NetworkPolicy"
                and doc["spec"]["podSelector"]["matchLabels"] == api_labels]  # fmt: skip
    rules = [rule for policy in policies for rule in policy["spec"].get("ingress", [])]
    sources = {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
               for rule in rules for peer in rule["from"]}  # fmt: skip
    assert sources == ({"ingress-nginx", "monitoring"} if overlay == "production" else {"ingress-nginx"})
    egress = find(documents, "NetworkPolicy", API_SERVICE)["spec"]["egress"]
    database = next(rule for rule in egress if rule["ports"] == [{"port": 27017}])
    database_labels = database["to"][0]["podSelector"]["matchLabels"]
    if overlay == "development":
        pod_labels = find(documents, "StatefulSet", "mongodb")["spec"]["template"]["metadata"]["labels"]
    else:
        stateful_set = find(documents, "MongoDBCommunity")["spec"]["statefulSet"]["spec"]
        pod_labels = stateful_set["template"]["metadata"]["labels"]
    assert database_labels.items() <= pod_labels.items(), "the API could not reach its database"


def test_development__mongo_uri__names_the_statefulsets_replica_set_member():
    documents = rendered("development")
    secret_name = next(v for v in api_container(documents)["env"] if v["name"] == "MONGO_URI")["valueFrom"]
    secret = find(documents, "Secret", secret_name["secretKeyRef"]["name"])
    uri = base64.b64decode(secret["data"]["MONGO_URI"]).decode()
    stateful_set = find(documents, "StatefulSet", "mongodb")
    command = stateful_set["spec"]["template"]["spec"]["containers"][0]["command"]
    replica_set = command[command.index("--replSet") + 1]
    member = f"{stateful_set['metadata']['name']}-0.{stateful_set['spec']['serviceName']}:27017"
    assert uri == f"mongodb://{member}/?replicaSet={replica_set}"
    assert f"host: '{member}'" in " ".join(stateful_set["spec"]["template"]["spec"]["containers"][0][
        "readinessProbe"]["exec"]["command"])  # fmt: skip
    assert find(documents, "Service", "mongodb")["spec"]["publishNotReadyAddresses"] is True
    # An empty FF_ADMIN_TOKEN: the first start creates a token and logs it once.
    assert secret["data"]["FF_ADMIN_TOKEN"] == ""


def test_production__mongodb_community__replica_set_whose_connection_secret_the_api_reads():
    documents = rendered("production")
    mongodb = find(documents, "MongoDBCommunity")
    spec = mongodb["spec"]
    assert spec["type"] == "ReplicaSet" and spec["members"] >= 3 and re.fullmatch(r"\d+\.\d+\.\d+", spec["version"])
    assert spec["security"]["authentication"]["modes"] == ["SCRAM"]
    (user,) = spec["users"]
    assert {"name", "db", "passwordSecretRef", "roles", "scramCredentialsSecretName"} <= set(user)
    assert {"name": "readWrite", "db": config_map(documents)["data"]["MONGO_DB"]} in user["roles"]
    reference = next(v for v in api_container(documents)["env"] if v["name"] == "MONGO_URI")["valueFrom"]
    assert reference["secretKeyRef"] == {"name": user["connectionStringSecretName"], "key": "connectionString.standard"}


# --- Observability ------------------------------------------------------------------------------------------------


def test_prometheus_rule__committed_file__what_make_k8s_rules_writes_from_alerts_yaml():
    generator = runpy.run_path(str(KUBERNETES / "generate_prometheus_rule.py"))
    source = ROOT / "deploy" / "prometheus" / "alerts.yaml"
    expected = generator["prometheus_rule"](source.read_text())
    assert generator["TARGET"].read_text() == expected, "stale: run `make k8s-rules`"
    rule = find(rendered("production"), "PrometheusRule")
    assert rule["spec"] == load_yaml(source)


def test_service_monitor__scrapes_the_api_service_under_the_job_the_alerts_expect():
    documents = rendered("production")
    monitor = find(documents, "ServiceMonitor")["spec"]
    service = find(documents, "Service", API_SERVICE)
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]} and endpoint["path"] == "/metrics"
    job = service["metadata"]["labels"][monitor["jobLabel"]]
    jobs = set(re.findall(r'job="([^"]+)"', (ROOT / "deploy" / "prometheus" / "alerts.yaml").read_text()))
    assert jobs == {job}


def test_grafana_dashboard__config_map_for_the_sidecar__the_same_json():
    dashboard = find(rendered("production"), "ConfigMap", "feature-flags-grafana-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    source = (ROOT / "deploy" / "grafana" / "feature-flags.json").read_text()
    assert dashboard["data"] == {"feature-flags.json": source}


def test_argocd_application__points_at_the_production_overlay_and_its_namespace():
    application = load_yaml(KUBERNETES / "argocd" / "application.yaml")
    assert (application["apiVersion"], application["kind"]) == ("argoproj.io/v1alpha1", "Application")
    spec = application["spec"]
    assert spec["source"]["path"] == "deploy/kubernetes/overlays/production"
    assert (ROOT / spec["source"]["path"] / "kustomization.yaml").exists()
    assert spec["destination"]["namespace"] == find(rendered("production"), "Namespace")["metadata"]["name"]
    assert spec["source"]["repoURL"].removesuffix(".git") == re.search(r"ARG SOURCE=(\S+)", DOCKERFILE.read_text())[1]
    assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


# --- Images and docs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images__the_names_cd_pushes_and_the_docs_state(overlay: str):
    documents = rendered(overlay)
    used = {container["image"].rsplit(":", 1)[0]
            for doc in documents if doc["kind"] == "Deployment"
            for container in doc["spec"]["template"]["spec"]["containers"]}  # fmt: skip
    assert used == set(IMAGES.values())
    section = docs_page("how-to/kubernetes.md")
    for image in IMAGES.values():
        assert f"`{image}`" in section
    owner_and_name = re.search(r"ARG SOURCE=https://github.com/(\S+)", DOCKERFILE.read_text())[1]
    assert IMAGES["api"] == f"ghcr.io/{owner_and_name}"


def test_docs__deploy_to_kubernetes__commands_name_files_that_exist():
    section = docs_page("how-to/kubernetes.md")
    paths = set(re.findall(r"deploy/kubernetes/[\w./-]+", section))
    assert paths, "the section names no manifests"
    for path in paths:
        assert (ROOT / path.rstrip(".")).exists(), f"the Kubernetes page names {path}, which does not exist"
    for overlay in OVERLAYS:
        assert f"kubectl apply -k deploy/kubernetes/overlays/{overlay}" in section
    assert EVENT_STREAM_PATH in section


def test_mongodb__every_deployment_we_ship__reaps_abandoned_transactions_within_seconds():
    # A killed writer's transaction holds its flag until the server reaps it (60 s by default on mongod)
    development = find(rendered("development"), "StatefulSet", "mongodb")["spec"]["template"]["spec"]["containers"][0]
    assert "transactionLifetimeLimitSeconds=10" in development["command"]
    community = find(rendered("production"), "MongoDBCommunity")
    assert community["spec"]["additionalMongodConfig"]["setParameter.transactionLifetimeLimitSeconds"] == 10
    compose = load_yaml(ROOT / "docker-compose.local.yaml")["services"]["mongodb"]["entrypoint"]
    assert "--setParameter transactionLifetimeLimitSeconds=10" in " ".join(compose)

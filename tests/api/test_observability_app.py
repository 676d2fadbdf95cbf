"""What operators see: JSON logs, Prometheus metrics, probes, security headers, OpenAPI."""

from __future__ import annotations

import json
import re

import pytest

from feature_flags.flags.models import FLAG_NAME_PATTERN
from feature_flags.logging_setup import redact
from tests.support import ADMIN_TOKEN, auth


def log_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_logs__one_json_object_per_request_with_request_fields(client, capsys):
    client.get("/flags", headers={"X-Request-ID": "trace-123"})
    lines = log_lines(capsys.readouterr().out)
    access = [line for line in lines if line["logger"] == "feature_flags.access"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "trace-123"
    assert line["method"] == "GET" and line["path"] == "/flags" and line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert {"time", "level", "logger", "message", "service", "client"} <= set(line)
    assert line["service"] == "feature-flags"


def test_logs__request_id_made_when_absent_or_unsafe(client):
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"}).headers["X-Request-ID"]
    assert unsafe != "bad id <script>" and len(unsafe) == 32


def test_logs__exception__type_message_and_stack_trace(app, client, capsys):
    @app.get("/explode-for-test")
    def explode():
        raise RuntimeError("kaboom")

    response = client.get("/explode-for-test")
    assert response.status_code == 500 and response.json["error"] == "internal_error"
    errors = [line for line in log_lines(capsys.readouterr().out) if line["level"] == "ERROR"]
    assert errors[0]["exc_type"] == "RuntimeError"
    assert errors[0]["exc_message"] == "kaboom"
    assert "Traceback" in errors[0]["stack_trace"]
    assert "kaboom" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("Invalid HTTP Header: 'X-API-Key k3Jd9QmZ7xPv2LwT'", "Invalid HTTP Header: '[redacted]'", "k3Jd9QmZ7xPv2LwT"),
        ("Invalid HTTP request line: 'GET /?key=s3cret HTTP/1.1'", "request line: '[redacted]'", "s3cret"),
        ("auth: Bearer eyJhbGciOi.payload.sig failed", "Bearer [redacted] failed", "eyJhbGciOi"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Basic [redacted]", "dXNlcjpwYXNzd29yZA"),
        ("leaked ff_client_Zq8Vt3mK9pW2xL7n here", "ff_client_[redacted] here", "Zq8Vt3mK9pW2xL7n"),
        ("token created for the basic plan", "token created for the basic plan", "[redacted]"),
    ],
)
def test_redact__credentials_replaced__ordinary_words_kept(text, kept, gone):
    assert kept in redact(text) and gone not in redact(text)


def test_logs__configured_admin_token__never_written(make_app, capsys):
    # Given: an admin token without the service's prefix, so only its exact value can find it
    plain = "Zq8Vt3mK9pW2xL7nR4sB"
    app = make_app(admin_token=plain)

    # When: something logs it (a message, and an exception's text)
    app.logger.warning("saw %s in a header", plain)
    try:
        raise ValueError(f"bad {plain} and {ADMIN_TOKEN}")
    except ValueError:
        app.logger.exception("failed")

    # Then: neither line carries it
    out = capsys.readouterr().out
    assert "saw [redacted] in a header" in out and plain not in out and ADMIN_TOKEN not in out


def test_metrics__requests_by_endpoint_status_and_latency_histogram(client, anonymous):
    client.post("/flags", json={"name": "m"})
    client.get("/flags/m")
    client.get("/flags/missing")
    anonymous.get("/flags")
    text = client.get("/metrics").get_data(as_text=True)
    # Per-endpoint counts come from the histogram's _count, which carries the route.
    count = "flask_http_request_duration_seconds_count"
    assert f'{count}{{method="GET",status="404",url_rule="/flags/<ident>"}} 1.0' in text
    assert f'{count}{{method="GET",status="200",url_rule="/flags/<ident>"}} 1.0' in text
    assert 'flask_http_request_total{method="GET",status="401"} 1.0' in text
    assert 'flask_http_request_duration_seconds_bucket{le="0.005",method="POST",status="201",url_rule="/flags"}' in text
    assert 'feature_flags_info{version="' in text
    assert 'feature_flags_auth_failures_total{reason="missing"} 1.0' in text
    assert 'feature_flags_flag_changes_total{action="created"} 1.0' in text


def test_metrics__token_configured__required(make_app):
    client = make_app(metrics_token="scrape-secret-123").test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=auth("scrape-secret-123")).status_code == 200


def test_headers__every_response_nosniff_and_html_strict_csp(client):
    api = client.get("/flags")
    assert api.headers["X-Content-Type-Options"] == "nosniff"
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_cors__off_by_default(client):
    response = client.get("/flags", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors__listed_origin_allowed_others_not(make_app):
    client = make_app(cors_origins=("https://admin.example.com",)).test_client()
    preflight = client.options("/flags", headers={"Origin": "https://admin.example.com",
                                                   "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://admin.example.com"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    other = client.get("/flags", headers={"Origin": "https://evil.example", **auth()})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_openapi__documents_every_api_route_with_schemas(client, app):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path, methods in {
        "/flags": {"get", "post"},
        "/flags/{ident}": {"get", "put", "delete"},
        "/flags/{ident}/toggle": {"post"},
        "/flags/{ident}/history": {"get"},
        "/tokens": {"get", "post"},
        "/tokens/{token_id}": {"delete"},
        "/audit": {"get"},
        "/healthz": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
    create = document["components"]["schemas"]["FlagCreate"]
    assert create["properties"]["name"]["pattern"] == FLAG_NAME_PATTERN
    assert create["properties"]["description"]["maxLength"] == 1000
    assert create["additionalProperties"] is False
    assert paths["/flags"]["get"]["parameters"][0]["schema"]["enum"] == ["development", "staging", "production"]
    assert paths["/healthz"]["get"]["security"] == []
    environments = ["development", "staging", "production"]
    assert create["properties"]["environments"]["propertyNames"] == {"enum": environments}
    toggle = document["components"]["schemas"]["ToggleRequest"]["properties"]["environment"]
    assert toggle["anyOf"][0]["enum"] == environments
    assert "x-environment" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes__healthy_database__200(client, path):
    assert client.get(path).status_code == 200


def test_logs__behind_trusted_proxy__client_is_forwarded_address(make_app, capsys):
    app = make_app(trusted_proxies=1)
    app.test_client().get("/healthz", headers={"X-Forwarded-For": "203.0.113.7"})
    access = [line for line in log_lines(capsys.readouterr().out) if line["logger"] == "feature_flags.access"]
    assert access[-1]["client"] == "203.0.113.7"


def test_logs__no_trusted_proxy__forwarded_header_ignored(client, capsys):
    client.get("/healthz", headers={"X-Forwarded-For": "203.0.113.7"})
    access = [line for line in log_lines(capsys.readouterr().out) if line["logger"] == "feature_flags.access"]
    assert access[-1]["client"] == "127.0.0.1"


def _label_values(text: str, label: str) -> set[str]:
    return set(re.findall(rf'{label}="([^"]*)"', text))


def test_metrics__made_up_methods_and_paths__labels_stay_a_closed_set(client, anonymous):
    # Given a first scrape after one request of each kind
    anonymous.open("/flags", method="X0")
    anonymous.get("/no/such/path/0")
    lines_before = len(client.get("/metrics").get_data(as_text=True).splitlines())

    # When hundreds of requests with made-up methods and paths arrive, without a token
    for i in range(1, 300):
        assert anonymous.open("/flags", method=f"X{i}").status_code == 405
        assert anonymous.get(f"/no/such/path/{i}").status_code == 404

    # Then the metrics did not grow, and every label value is one the app defines
    text = client.get("/metrics").get_data(as_text=True)
    assert len(text.splitlines()) == lines_before
    assert _label_values(text, "method") <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert 'flask_http_request_total{method="other",status="405"} 300.0' in text
    rules = {rule.rule for rule in client.application.url_map.iter_rules()}
    assert _label_values(text, "url_rule") <= rules | {"unmatched"}
    assert 'url_rule="unmatched"' in text

"""Access control: who may read, who may change, and what a refusal looks like."""

from __future__ import annotations

import json
import time

import pytest

from feature_flags.cache import FRESHNESS_SECONDS
from tests.support import ADMIN_TOKEN, auth

PROTECTED = [
    ("get", "/flags"),
    ("post", "/flags"),
    ("get", "/flags/existing"),
    ("put", "/flags/existing"),
    ("delete", "/flags/existing"),
    ("post", "/flags/existing/toggle"),
    ("get", "/flags/existing/history"),
    ("get", "/flags/existing/usage"),
    ("get", "/tokens"),
    ("post", "/tokens"),
    ("delete", "/tokens/0123456789abcdef01234567"),
    ("get", "/audit"),
]


@pytest.fixture
def existing(client):
    assert client.post("/flags", json={"name": "existing"}).status_code == 201


def make_token(client, name="app", role="client", environment="production") -> dict:
    body = {"name": name, "role": role} | ({"environment": environment} if role == "client" else {})
    response = client.post("/tokens", json=body)
    assert response.status_code == 201, response.json
    return response.json


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer ff_admin_wrong"}, {"Authorization": "Basic YWRtaW46YWRtaW4="},
     {"Authorization": "Bearer "}, {"X-API-Key": "nope"}],
    ids=["none", "unknown", "basic", "empty", "unknown-api-key"],
)  # fmt: skip
def test_protected__no_or_bad_token__401_with_challenge_and_nothing_changed(
    anonymous, client, existing, method, path, headers
):
    response = getattr(anonymous, method)(path, json={"name": "sneaky"}, headers=headers)
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert [f["name"] for f in client.get("/flags").json] == ["existing"]


def test_unauthorized__missing_and_existing_flag__same_answer(anonymous, existing):
    # A 401 must not reveal whether a flag exists.
    present = anonymous.get("/flags/existing")
    missing = anonymous.get("/flags/does-not-exist")
    assert present.status_code == missing.status_code == 401
    assert present.json == missing.json


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json"])
def test_open_endpoints__no_token__answer(anonymous, path):
    assert anonymous.get(path).status_code == 200


def test_client_token__reads_its_environment(client, anonymous, existing):
    client.post("/flags/existing/toggle", json={"environment": "production"})
    secret = make_token(client)["token"]
    listed = anonymous.get("/flags", headers=auth(secret))
    assert listed.status_code == 200
    assert listed.json[0]["enabled"] is True  # its own environment is the default
    assert anonymous.get("/flags/existing", headers=auth(secret)).status_code == 200
    assert anonymous.get("/flags?environment=production", headers=auth(secret)).status_code == 200


def test_client_token__other_environment__403(client, anonymous, existing):
    secret = make_token(client)["token"]
    response = anonymous.get("/flags?environment=staging", headers=auth(secret))
    assert response.status_code == 403 and response.json["error"] == "forbidden"


def test_client_token__accepted_as_x_api_key(client, anonymous, existing):
    secret = make_token(client)["token"]
    assert anonymous.get("/flags", headers={"X-API-Key": secret}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/flags", {"name": "new"}),
        ("put", "/flags/existing", {"description": "x"}),
        ("delete", "/flags/existing", None),
        ("post", "/flags/existing/toggle", {"environment": "production"}),
        ("get", "/tokens", None),
        ("post", "/tokens", {"name": "escalate", "role": "admin"}),
        ("get", "/audit", None),
        ("get", "/flags/existing/history", None),
    ],
)
def test_client_token__writes_and_token_admin__403_and_nothing_changed(client, anonymous, existing, method, path, body):
    secret = make_token(client)["token"]
    before = client.get("/flags/existing").json
    response = getattr(anonymous, method)(path, json=body, headers=auth(secret))
    assert response.status_code == 403
    assert response.json["error"] == "forbidden"
    assert client.get("/flags/existing").json == before
    assert [t["name"] for t in client.get("/tokens").json] == ["app"]


def test_admin_token_from_api__can_write(client, anonymous):
    secret = make_token(client, "ops", role="admin")["token"]
    response = anonymous.post("/flags", json={"name": "by-ops"}, headers=auth(secret))
    assert response.status_code == 201
    assert response.json["created_by"] == "ops"


def test_revoked_token__401_at_once_here_and_within_a_second_on_another_instance(client, anonymous, make_app, existing):
    # Given a token that works on two instances over one database
    token = make_token(client)
    other = make_app().test_client()
    assert anonymous.get("/flags", headers=auth(token["token"])).status_code == 200
    assert other.get("/flags", headers=auth(token["token"])).status_code == 200

    # When it is revoked on the first
    assert client.delete(f"/tokens/{token['id']}").status_code == 204

    # Then this instance refuses it at once, and the other within the one-second bound flags have
    assert anonymous.get("/flags", headers=auth(token["token"])).status_code == 401
    deadline = time.monotonic() + FRESHNESS_SECONDS
    while other.get("/flags", headers=auth(token["token"])).status_code != 401:
        assert time.monotonic() < deadline, "still accepted on the other instance after a second"
        time.sleep(0.02)


def test_auth_off__every_request_is_admin_and_start_warns(make_app, capsys):
    app = make_app(auth_enabled=False)
    logged = capsys.readouterr().out
    assert "FF_AUTH is off" in logged
    response = app.test_client().post("/flags", json={"name": "open"})
    assert response.status_code == 201
    assert response.json["created_by"] == "anonymous"


def test_auth__default_config__on():
    from feature_flags.config import Config

    assert Config.from_env({}).auth_enabled is True


def test_bootstrap_admin_token_from_environment__works(anonymous):
    assert anonymous.get("/flags", headers=auth(ADMIN_TOKEN)).status_code == 200


def test_client_token__reads__see_only_its_environments_state_and_targeting(client, anonymous, existing):
    # Given a flag with rules in staging and production, on in staging only
    rule = {"when": [{"attribute": "email", "op": "ends_with", "values": ["@qa.example.com"]}], "serve": "on"}
    targeting = {"staging": {"rules": [rule], "serve": "off"}, "production": {"serve": "on"}}
    assert client.put("/flags/existing", json={"targeting": targeting}).status_code == 200
    client.post("/flags/existing/toggle", json={"environment": "staging"})
    secret = make_token(client)["token"]

    # When a production token reads the list and the flag
    listed = anonymous.get("/flags", headers=auth(secret)).json[0]
    single = anonymous.get("/flags/existing", headers=auth(secret))

    # Then neither carries staging's switch or rules
    for flag in (listed, single.json):
        assert flag["environments"] == {"production": False}
        assert flag["targeting"] == {"production": {"rules": [], "serve": "on"}}
        assert "qa.example.com" not in json.dumps(flag)
    # And the scoped answer has a tag of its own, still good for If-None-Match
    admin_tag = client.get("/flags/existing").headers["ETag"]
    assert single.headers["ETag"] != admin_tag
    again = anonymous.get("/flags/existing", headers={**auth(secret), "If-None-Match": single.headers["ETag"]})
    assert again.status_code == 304
    # While an admin still sees every environment
    assert set(client.get("/flags/existing").json["targeting"]) == {"staging", "production"}


def test_wrong_tokens__past_the_limit__429_for_any_credential_from_that_address_on_every_instance(make_app, caplog):
    # Given: two instances over one database, five failures a minute allowed per address
    one, two = make_app(auth_failure_limit="5/minute"), make_app(auth_failure_limit="5/minute")
    attacker, other = one.test_client(), one.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.9"

    # When: one address sends wrong tokens, then the right one
    wrong = [attacker.get("/flags", headers=auth(f"ff_wrong_{i:020d}")) for i in range(8)]
    right = attacker.get("/flags", headers=auth())

    # Then: 401 until the limit, then 429 with Retry-After, even with the right token
    assert [answer.status_code for answer in wrong] == [401] * 5 + [429] * 3
    assert wrong[5].json["error"] == "too_many_requests"
    assert 1 <= int(wrong[5].headers["Retry-After"]) <= 60
    assert right.status_code == 429
    # And one log line says so, not one per attempt
    assert [r.getMessage() for r in caplog.records].count("authentication throttled") == 1
    # And another address is not held up, while the other instance refuses this one at its first failure
    assert other.get("/flags", headers=auth()).status_code == 200
    assert two.test_client().get("/flags", headers=auth("ff_wrong_again_000000000")).status_code == 429
    assert two.test_client().get("/flags", headers=auth()).status_code == 429


def test_right_tokens__any_number__never_counted(make_app):
    # Given: one failure a minute allowed
    client = make_app(auth_failure_limit="1/minute").test_client()

    # When: many requests with a good token
    answers = [client.get("/flags", headers=auth()).status_code for _ in range(50)]

    # Then: none is refused, and one wrong token still gets a plain 401
    assert answers == [200] * 50
    assert client.get("/flags", headers=auth("ff_wrong_00000000000000000")).status_code == 401

"""Tokens: created once with their secret, stored only as a hash, listed without it, revocable."""

from __future__ import annotations

import re
import time

import pytest
from pymongo import MongoClient

from feature_flags.tokens.service import FIRST_START_TOKEN_NAME, hash_secret
from tests.support import auth


def test_create__client_token__201_with_secret_shown_once(client):
    response = client.post("/tokens", json={"name": "checkout-service", "role": "client", "environment": "production"})
    assert response.status_code == 201
    body = response.json
    assert set(body) == {"id", "name", "role", "environment", "created_at", "created_by", "last_used_at", "token"}
    assert body["role"] == "client" and body["environment"] == "production"
    assert re.fullmatch(r"ff_client_[A-Za-z0-9_-]{32}", body["token"])  # 24 random bytes = 192 bits
    assert response.headers["Cache-Control"] == "no-store"


def test_create__admin_token__prefixed_ff_admin(client):
    response = client.post("/tokens", json={"name": "ops", "role": "admin"})
    assert response.status_code == 201 and response.json["token"].startswith("ff_admin_")
    assert response.json["environment"] is None


def test_create__two_tokens__different_secrets(client):
    first = client.post("/tokens", json={"name": "a", "role": "admin"}).json["token"]
    second = client.post("/tokens", json={"name": "b", "role": "admin"}).json["token"]
    assert first != second


def test_list__never_shows_secret_or_hash(client):
    secret = client.post("/tokens", json={"name": "ci", "role": "client", "environment": "staging"}).json["token"]
    response = client.get("/tokens")
    assert response.status_code == 200
    assert [t["name"] for t in response.json] == ["ci"]
    assert "token" not in response.json[0] and "hash" not in response.json[0]
    assert secret not in response.get_data(as_text=True)
    assert hash_secret(secret) not in response.get_data(as_text=True)


def test_storage__only_the_hash_is_kept(client, config):
    secret = client.post("/tokens", json={"name": "ci", "role": "admin"}).json["token"]
    database = MongoClient(config.mongo_uri)[config.mongo_db]
    stored = database.tokens.find_one({"name": "ci"})
    assert stored["hash"] == hash_secret(secret)
    assert secret not in str(stored)
    assert secret not in str(list(database.audit.find()))


def test_create__taken_name__409(client):
    client.post("/tokens", json={"name": "ci", "role": "admin"})
    response = client.post("/tokens", json={"name": "ci", "role": "client", "environment": "staging"})
    assert response.status_code == 409 and response.json["error"] == "token_name_taken"
    assert len(client.get("/tokens").json) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "role": "client"},
        {"name": "x", "role": "admin", "environment": "production"},
        {"name": "x", "role": "client", "environment": "prod"},
        {"name": "x", "role": "root"},
        {"name": "", "role": "admin"},
        {"name": "x" * 101, "role": "admin"},
        {"name": "x", "role": "admin", "token": "ff_admin_chosen-by-caller"},
        {"role": "admin"},
    ],
)
def test_create__invalid__400_and_nothing_created(client, body):
    response = client.post("/tokens", json=body)
    assert response.status_code == 400 and response.json["error"] == "validation_error"
    assert client.get("/tokens").json == []


def test_use__records_last_used_time(client, anonymous):
    token = client.post("/tokens", json={"name": "ci", "role": "client", "environment": "staging"}).json
    assert client.get("/tokens").json[0]["last_used_at"] is None
    anonymous.get("/flags", headers=auth(token["token"]))
    # Stamped in the background, off the request path: within moments, not within the request.
    deadline = time.monotonic() + 5
    while client.get("/tokens").json[0]["last_used_at"] is None:
        assert time.monotonic() < deadline, "last use never stamped"
        time.sleep(0.02)


def test_revoke__unknown_or_malformed_id__404(client):
    assert client.delete("/tokens/0123456789abcdef01234567").status_code == 404
    assert client.delete("/tokens/not-an-id").status_code == 404


def test_cli__create_list_revoke__same_work_as_api(app, anonymous):
    runner = app.test_cli_runner()
    created = runner.invoke(
        args=["tokens", "create", "--name", "ci", "--role", "client", "--environment", "production"]
    )
    assert created.exit_code == 0, created.output
    secret = re.search(r"token: (ff_client_\S+)", created.output).group(1)
    token_id = created.output.split("\t", 1)[0]
    assert anonymous.get("/flags", headers=auth(secret)).status_code == 200

    listed = runner.invoke(args=["tokens", "list"])
    assert "ci\tclient\tproduction" in listed.output and secret not in listed.output

    revoked = runner.invoke(args=["tokens", "revoke", token_id])
    assert revoked.exit_code == 0
    assert anonymous.get("/flags", headers=auth(secret)).status_code == 401


def test_cli__client_without_environment__fails_with_message(app):
    result = app.test_cli_runner().invoke(args=["tokens", "create", "--name", "ci", "--role", "client"])
    assert result.exit_code != 0
    assert "environment" in str(result.exception) + result.output


def test_first_start__no_token_configured__admin_token_printed_once_and_works(make_app, capsys):
    # Given no FF_ADMIN_TOKEN and an empty database, the first start prints a working admin token
    first = make_app(admin_token=None)
    captured = capsys.readouterr()
    secret = re.search(r"(ff_admin_\S+)", captured.err).group(1)
    assert secret not in captured.out  # the console banner, not a log line
    response = first.test_client().get("/tokens", headers=auth(secret))
    assert response.status_code == 200
    assert [t["name"] for t in response.json] == [FIRST_START_TOKEN_NAME]

    # When it starts again (a restart, or another worker), nothing more is printed or created
    second = make_app(admin_token=None)
    again = capsys.readouterr()
    assert "ff_admin_" not in again.err + again.out
    assert len(second.test_client().get("/tokens", headers=auth(secret)).json) == 1


def test_first_start__admin_token_configured__nothing_printed(make_app, capsys):
    make_app()
    assert "ff_admin_" not in capsys.readouterr().err


def test_secrets__absent_from_every_log_line(client, anonymous, capsys):
    # Given a token created, used, failed with and revoked
    token = client.post("/tokens", json={"name": "ci", "role": "client", "environment": "staging"}).json
    anonymous.get("/flags", headers=auth(token["token"]))
    anonymous.get("/flags", headers=auth(token["token"] + "x"))
    anonymous.post("/flags", json={"name": "x"}, headers=auth(token["token"]))
    client.delete(f"/tokens/{token['id']}")
    anonymous.get("/flags", headers=auth(token["token"]))

    # Then the logs mention the failures but never a secret
    logged = capsys.readouterr().out
    assert "authentication failed" in logged
    assert token["token"] not in logged
    assert token["token"][:20] not in logged
    assert "test-bootstrap-token" not in logged

"""Settings from the environment: typed, defaulted, and refused with a message naming the variable."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from feature_flags.config import Config, ConfigError
from tests.support import ADMIN_TOKEN, free_port

ROOT = Path(__file__).resolve().parents[2]


def test_defaults__empty_environment__newcomer_settings():
    config = Config.from_env({})
    assert config.mongo_uri is None and config.mongo_db == "feature_flags"
    assert config.environments == ("development", "staging", "production")
    assert config.default_environment == "staging"
    assert (config.host, config.port) == ("127.0.0.1", 5000)
    assert config.seed_demo is True and config.auth_enabled is True
    assert config.data_dir == Path("data")
    assert config.db_timeout_ms == 1000  # with the driver's overshoot, requests still fail within 2 s


def test_values__read_and_typed():
    config = Config.from_env({
        "MONGO_URI": "mongodb://db:27017/?replicaSet=rs0", "MONGO_DB": "flags", "FF_ENVIRONMENTS": "dev, live",
        "FF_SEED_DEMO": "false", "PORT": "8080", "HOST": "0.0.0.0", "FF_DATA_DIR": "/var/lib/ff",
        "FF_CORS_ORIGINS": "https://a.example,https://b.example", "LOG_LEVEL": "debug", "FF_AUTH": "off",
    })  # fmt: skip
    assert config.mongo_uri == "mongodb://db:27017/?replicaSet=rs0" and config.mongo_db == "flags"
    assert config.environments == ("dev", "live") and config.default_environment == "dev"
    assert config.seed_demo is False and config.port == 8080 and config.host == "0.0.0.0"
    assert config.cors_origins == ("https://a.example", "https://b.example")
    assert config.log_level == "DEBUG" and config.auth_enabled is False


def test_seed_variables__build_mongo_uri_when_absent():
    config = Config.from_env({
        "MONGO_HOST": "mongodb", "MONGO_INITDB_ROOT_USERNAME": "root", "MONGO_INITDB_ROOT_PASSWORD": "p@ss:word",
        "MONGO_IS_REPLICA_SET": "true",
    })  # fmt: skip
    assert config.mongo_uri == "mongodb://root:p%40ss%3Aword@mongodb:27017/?authSource=admin&replicaSet=rs0"


def test_seed_variables__host_only__plain_uri():
    assert Config.from_env({"MONGO_HOST": "db:27018"}).mongo_uri == "mongodb://db:27018/"


def test_mongo_uri__wins_over_seed_variables():
    config = Config.from_env({"MONGO_URI": "mongodb://a/", "MONGO_HOST": "b"})
    assert config.mongo_uri == "mongodb://a/"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("FF_SEED_DEMO", "maybe"),
        ("FF_ENVIRONMENTS", "prod,$bad"),
        ("FF_ENVIRONMENTS", "a,a"),
        ("FF_ENVIRONMENTS", " , "),
        ("MONGO_URI", "postgres://x"),
        ("MONGO_DB", "a.b"),
        ("MONGO_HOST", "db/evil"),
        ("MONGO_IS_REPLICA_SET", "perhaps"),
        ("FF_AUTH", "sometimes"),
        ("FF_ADMIN_TOKEN", "short"),
        ("FF_ADMIN_TOKEN", "ff_admin_0123456789abcdef\n"),
        ("FF_ADMIN_TOKEN", " ff_admin_0123456789abcdef"),
        ("FF_ADMIN_TOKEN", "ff_admin_0123\t456789abcdef"),
        ("FF_ADMIN_TOKEN", "ff_admin_0123456789abcdéf"),
        ("FF_ADMIN_TOKEN", "a" * 32),
        ("FF_ADMIN_TOKEN", "abababababababababab"),
        ("FF_ADMIN_TOKEN", "abcdeabcdeabcdeabcde"),
        ("FF_CORS_ORIGINS", "*"),
        ("FF_STREAM_SECRET", "too-short"),
        ("FF_STREAM_HEARTBEAT_SECONDS", "0"),
        ("FF_STREAM_TICKET_SECONDS", "5"),
        ("LOG_LEVEL", "LOUD"),
        ("FF_DB_TIMEOUT_MS", "0"),
        ("FF_USAGE_TRACKING", "sometimes"),
        ("FF_USAGE_FLUSH_SECONDS", "0"),
        ("FF_USAGE_FLUSH_SECONDS", "11"),
        ("FF_USAGE_FLUSH_SECONDS", "2.5"),
        ("FF_SCHEDULER", "sometimes"),
        ("FF_WEBHOOKS", "sometimes"),
        ("FF_WEBHOOK_POLL_MS", "10"),
        ("FF_WEBHOOK_POLL_MS", "half a second"),
        ("FF_SCHEDULER_POLL_MS", "50"),
        ("FF_SCHEDULER_POLL_MS", "5000"),
        ("FF_SCHEDULE_LEASE_SECONDS", "1"),
        ("FF_MAX_FLAGS", "0"),
        ("FF_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8,not-a-network"),
        ("FF_MAX_FLAGS", "100001"),
    ],
)
def test_bad_value__config_error_names_the_variable(variable, value):
    with pytest.raises(ConfigError, match=variable):
        Config.from_env({variable: value})


@pytest.mark.parametrize(
    "token",
    [
        "ff_admin_test-bootstrap-token-0123456789",
        "0123456789abcdef",
        "abcdefabcdefabcd",
        "f3a9c2e7b1d04568aa9e3c7f1b2d4e6f",
    ],
)
def test_admin_token__random_enough__accepted(token):
    assert Config.from_env({"FF_ADMIN_TOKEN": token}).admin_token == token


@pytest.mark.parametrize(
    "token", ["ff_admin_secret-value-0123456789\n", "s3cr3t s3cr3t-v4lu3-xyzw", "zzzzzzzzzzzzzzzzzzzz"]
)
def test_admin_token__refused__message_names_variable_not_value(token):
    with pytest.raises(ConfigError) as refused:
        Config.from_env({"FF_ADMIN_TOKEN": token})
    message = str(refused.value)
    assert message.startswith("FF_ADMIN_TOKEN ") and "\n" not in message
    assert token.strip() not in message


def test_start__bad_value__one_line_message_and_exit_code(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        env={"PATH": "/usr/bin:/bin", "PORT": "eighty", "FF_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["configuration error: PORT must be a whole number, got 'eighty'"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"FF_DATA_DIR": "/var/lib/ff"}, "/var/lib/ff"),
        ({"MONGO_URI": "mongodb://app:s3cret@db-0:27017,db-1:27017/?replicaSet=rs0"}, "MongoDB db-0:27017,db-1:27017"),
        (
            {"MONGO_URI": "mongodb+srv://app:s3cret@cluster.example.net/", "MONGO_DB": "ff"},
            "MongoDB cluster.example.net",
        ),
    ],
    ids=["embedded", "replica-set", "srv"],
)
def test_data_location__each_kind__readable_without_credentials(env, expected):
    location = Config.from_env(env).data_location
    assert location.startswith(expected)
    assert "s3cret" not in location and "app:" not in location


def test_start__python_app_py__logs_the_url_to_open_and_the_data_folder(tmp_path):
    # Given the development server started as `make run` starts it, on a free port and an empty data folder
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "PORT": str(port), "FF_DATA_DIR": str(tmp_path / "data"), "FF_SEED_DEMO": "false",
           "FF_ADMIN_TOKEN": ADMIN_TOKEN}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        # When it has started
        lines = []
        for line in process.stdout:
            lines.append(json.loads(line))
            if "url" in lines[-1]:
                break
        started = lines[-1]
        # Then one line names the URL and the data folder, and the URL answers
        assert started["url"] == f"http://127.0.0.1:{port}/"
        assert started["data"] == str((tmp_path / "data").resolve())
        assert started["message"] == f"open http://127.0.0.1:{port}/ (data: {tmp_path / 'data'})"
        deadline = time.monotonic() + 30
        while True:
            try:
                assert requests.get(f"{started['url']}healthz", timeout=2).status_code == 200
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the URL the start-up named never answered"
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(20)


def test_usage_settings__defaults_and_values__read_as_typed():
    # Given no usage settings, then both of them set
    default = Config.from_env({})
    chosen = Config.from_env({"FF_USAGE_TRACKING": "false", "FF_USAGE_FLUSH_SECONDS": "1"})

    # Then counting is on with a 10 s flush by default, and the variables change both
    assert (default.usage_tracking, default.usage_flush_seconds) == (True, 10)
    assert (chosen.usage_tracking, chosen.usage_flush_seconds) == (False, 1)


def test_scheduler_settings__defaults_and_values__read_as_typed():
    # Given no scheduler settings, then each of them set
    default = Config.from_env({})
    chosen = Config.from_env({"FF_SCHEDULER": "off", "FF_SCHEDULER_POLL_MS": "250", "FF_SCHEDULE_LEASE_SECONDS": "60"})

    # Then the scheduler runs, looking every second with a 30 s lease, by default; the variables change each
    assert (default.scheduler, default.scheduler_poll_seconds, default.schedule_lease_seconds) == (True, 1.0, 30)
    assert (chosen.scheduler, chosen.scheduler_poll_seconds, chosen.schedule_lease_seconds) == (False, 0.25, 60)


def test_webhook_settings__defaults_and_values__read_as_typed():
    # Given no webhook settings, then each of them set
    default = Config.from_env({})
    chosen = Config.from_env({"FF_WEBHOOKS": "false", "FF_WEBHOOK_POLL_MS": "2000"})

    # Then delivery runs, looking every half second, by default; the variables change both
    assert (default.webhooks, default.webhook_poll_seconds) == (True, 0.5)
    assert (chosen.webhooks, chosen.webhook_poll_seconds) == (False, 2.0)

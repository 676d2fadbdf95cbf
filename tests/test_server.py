"""gunicorn as the image runs it, reached directly (as Kubernetes' probes reach a pod): hostile clients and faults.

Every test talks to a real gunicorn started with the Dockerfile's CMD over raw sockets, where a client library
would tidy up what a hostile client sends.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.test_delivery import ROOT
from tests.test_stack import GunicornApp, dockerfile_command


@pytest.mark.parametrize(
    "token",
    [
        "short",
        "ff_admin_0123456789abcdef\n",
        "aaaaaaaaaaaaaaaaaaaaaaaa",
    ],
)
def test_bad_admin_token__gunicorn__exits_at_once_with_one_line_and_no_worker(tmp_path, token: str):
    # Given: the image's command with an admin token the service refuses
    env = {**GunicornApp(tmp_path, "mongodb://127.0.0.1:9/", "unused").env, "FF_ADMIN_TOKEN": token}
    started = time.monotonic()
    process = subprocess.Popen(dockerfile_command(), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"gunicorn kept running with a bad FF_ADMIN_TOKEN:\n{stdout.decode()[-2000:]}")
    # Then: it stops within seconds, before any worker, with one line naming the variable
    assert process.returncode != 0
    assert time.monotonic() - started < 15
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration error: FF_ADMIN_TOKEN "), lines
    assert token.strip() not in lines[0] or len(token.strip()) < 8  # the message never repeats a usable secret
    assert b"Booting worker" not in stdout + stderr

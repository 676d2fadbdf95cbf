"""The baseline: a bare Flask app returning constant JSON, the framework's ceiling under the same server."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response

app = Flask(__name__)
# The exact bytes the service answers with, written by bench/run.py, so only the work differs.
_LIST = Path(os.environ["BENCH_LIST_FILE"]).read_bytes()
_ONE = Path(os.environ["BENCH_ONE_FILE"]).read_bytes()


@app.get("/list")
def constant_list() -> Response:
    """Return the 50-flag list's bytes."""
    return Response(_LIST, mimetype="application/json")


@app.route("/one", methods=["GET", "POST"])
def constant_one() -> Response:
    """Return one flag's bytes."""
    return Response(_ONE, mimetype="application/json")

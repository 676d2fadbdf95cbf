"""The admin UI's modules type-check: tsc (npm typescript, pinned by tests/browser/typecheck/package-lock.json) reads
their JSDoc types under jsconfig.json, so a misspelt property or a wrong argument count fails here, not in a browser.

jsconfig.json sits at the top of the project rather than in static/, which is served and exported file by file.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from feature_flags import PROJECT_ROOT
from tests.support import npm_installed, require_tool

TYPECHECK_SOURCE = Path(__file__).parent / "typecheck"
TYPECHECK_BUILD = PROJECT_ROOT / "build" / "typecheck"
CONFIG = PROJECT_ROOT / "jsconfig.json"


def test_admin_ui_modules__tsc_check_js__no_type_errors() -> None:
    # Given typescript installed from the pinned lock file
    node = require_tool("node")
    build = npm_installed(TYPECHECK_SOURCE, TYPECHECK_BUILD, ("package.json", "package-lock.json"))
    tsc = build / "node_modules" / "typescript" / "bin" / "tsc"

    # When it checks every module the config includes
    result = subprocess.run(
        [node, str(tsc), "--project", str(CONFIG), "--pretty", "false"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    # Then it finds nothing to report
    assert result.returncode == 0, f"tsc --project jsconfig.json found type errors:\n{result.stdout}{result.stderr}"

"""The package's shape: no import cycle, errors free of the web and metrics, pymongo only under storage/."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

PACKAGE = ROOT / "feature_flags"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def top_level_imports(name: str) -> set[str]:
    """The project modules a module imports when it is loaded (not inside functions or TYPE_CHECKING)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    statements = list(ast.parse(path.read_text()).body)
    while statements:
        node = statements.pop()
        if isinstance(node, ast.If) and not _is_type_checking(node):
            statements += node.body + node.orelse
        elif isinstance(node, ast.Try):
            statements += node.body
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {module for module in found if module in MODULES and module != name}


def test_package__no_import_cycle():
    # Given every module's load-time imports within the package
    graph = {name: top_level_imports(name) for name in MODULES}

    # Then following them never leads back to where it started
    cycles: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
    # And the check sees real edges (a parser that found nothing would pass vacuously)
    assert "feature_flags.storage" in graph["feature_flags.cache.flag_cache"]


@pytest.mark.parametrize("forbidden", ["flask", "werkzeug", "feature_flags.metrics", "feature_flags.extensions"])
def test_errors__imports_neither_the_web_nor_metrics(forbidden):
    tree = ast.parse((PACKAGE / "errors.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    relative = {
        f"feature_flags.{node.module}" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level
    }
    assert not any(name == forbidden or name.startswith(f"{forbidden}.") for name in imported | relative)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("feature_flags/flags/routes.py", False), ("feature_flags/cache/flag_cache.py", False),
     ("feature_flags/storage/flags.py", True)],
)  # fmt: skip
@pytest.mark.parametrize(
    "statement", ["import pymongo\n", "from pymongo.errors import PyMongoError\n", "import bson\n"]
)
def test_ruff__pymongo_outside_storage__refused(path, allowed, statement):
    ruff = Path(sys.executable).with_name("ruff")
    checked = subprocess.run(
        [str(ruff), "check", "--select", "TID251", "--stdin-filename", path, "-"],
        input=statement + "\n__all__ = ['pymongo', 'bson', 'PyMongoError']\n",
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (checked.returncode == 0) is allowed, checked.stdout
    if not allowed:
        assert "TID251" in checked.stdout and "storage" in checked.stdout

"""The documentation site builds strictly, every page is in its navigation, and the README stays short."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# Written by the reference generator; the contributor pages are where layout and test paths belong.
CONTRIBUTOR_PAGES = {"contributing.md", "performance.md"}
GENERATED = "reference/"
README_LIMIT = 8500


class KeepTags(yaml.SafeLoader):
    """A YAML loader that reads mkdocs.yml's `!!python/name:` tags as plain text instead of importing them."""


KeepTags.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: suffix)


def nav_pages(entries) -> list[str]:
    """Return every page path mkdocs.yml's navigation names, depth first."""
    found = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        found += nav_pages(value) if isinstance(value, list) else [value]
    return found


def user_pages() -> list[Path]:
    """Return the pages written for people using the service (not contributors, not generated)."""
    return [
        page
        for page in sorted(DOCS.rglob("*.md"))
        if page.relative_to(DOCS).as_posix() not in CONTRIBUTOR_PAGES
        and not page.relative_to(DOCS).as_posix().startswith(GENERATED)
    ]


def test_site__strict_build__succeeds(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def test_site__every_page__is_in_the_navigation():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=KeepTags)
    named = nav_pages(config["nav"])
    pages = sorted(page.relative_to(DOCS).as_posix() for page in DOCS.rglob("*.md"))
    assert sorted(set(pages) - set(named)) == []
    assert sorted(set(named) - set(pages)) == []
    assert len(named) == len(set(named)), "a page is in the navigation twice"


def test_readme__size__at_most_about_8_kb():
    assert len((ROOT / "README.md").read_bytes()) <= README_LIMIT


def test_user_pages__name__no_javascript_modules_or_test_files():
    named = {
        page.relative_to(ROOT).as_posix(): re.findall(r"static/js/\S*|\btests/\S*|\b[\w-]+\.js\b|\btest_\w+\.py", text)
        for page in [ROOT / "README.md", *user_pages()]
        if (text := page.read_text())
    }
    assert {page: found for page, found in named.items() if found} == {}


def test_readme__links_into_the_site__name_pages_that_exist():
    text = (ROOT / "README.md").read_text()
    linked = re.findall(r"\]\((docs/[^)#]+\.md)", text)
    assert linked, "the README links to no documentation page"
    assert [path for path in linked if not (ROOT / path).is_file()] == []

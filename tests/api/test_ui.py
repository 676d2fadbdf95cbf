"""The admin page as HTML: what Flask serves at /, the versioned assets, and `flask ui export`."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from feature_flags import PROJECT_ROOT
from feature_flags.ui import asset_version, static_csp
from feature_flags.web.hooks import CONTENT_SECURITY_POLICY


class PageParts(HTMLParser):
    """Collect what the CSP cares about: scripts, style elements and attributes, and where assets come from."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.style_elements = 0
        self.style_attributes: list[str] = []
        self.handler_attributes: list[str] = []
        self.asset_urls: list[str] = []
        self.tabs: list[str] = []
        self.meta: dict[str, str] = {}
        self.body: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes)
        if tag == "style":
            self.style_elements += 1
        if "style" in attributes:
            self.style_attributes.append(tag)
        self.handler_attributes += [name for name in attributes if name.startswith("on")]
        for name in ("src", "href"):
            if attributes.get(name) and "assets/" in (attributes[name] or ""):
                self.asset_urls.append(attributes[name] or "")
        if attributes.get("role") == "tab":
            self.tabs.append(attributes.get("data-environment") or "")
        if tag == "meta" and attributes.get("http-equiv"):
            self.meta[attributes["http-equiv"] or ""] = attributes.get("content") or ""
        if tag == "body":
            self.body = attributes


def parse_page(html: str) -> PageParts:
    parts = PageParts()
    parts.feed(html)
    return parts


def test_index__get__serves_page_under_strict_csp(anonymous):
    # When
    response = anonymous.get("/")

    # Then
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    page = parse_page(response.get_data(as_text=True))
    assert page.scripts, "the page loads its scripts"
    assert all(script.get("src") for script in page.scripts), "no inline script: the CSP would block it"
    assert page.style_elements == 0
    assert page.style_attributes == []
    assert page.handler_attributes == []


def test_index__configured_environments__one_column_each(make_app):
    # Given
    app = make_app(environments=("dev", "eu-prod"))

    # When
    html = app.test_client().get("/").get_data(as_text=True)

    # Then
    page = parse_page(html)
    assert page.body["data-environments"] == "dev,eu-prod"
    assert '<th scope="col" data-environment="dev">Dev</th>' in html
    assert '<th scope="col" data-environment="eu-prod">Eu prod</th>' in html
    assert '<option value="eu-prod">Eu prod</option>' in html


def test_assets__current_version__served_with_long_cache_and_module_type(anonymous, app):
    # Given
    page = parse_page(anonymous.get("/").get_data(as_text=True))
    version = asset_version(Path(app.static_folder))
    module = next(script["src"] for script in page.scripts if script.get("type") == "module")

    # When
    response = anonymous.get(module)
    imported = anonymous.get(f"/assets/{version}/js/api.js")

    # Then
    assert module == f"/assets/{version}/js/main.js"
    assert response.status_code == 200
    assert response.mimetype in {"text/javascript", "application/javascript"}
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert imported.status_code == 200, "modules imported by relative URL resolve under the same version"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_assets__older_version__served_but_not_cached(anonymous):
    # When
    response = anonymous.get("/assets/000000000000/css/app.css")

    # Then
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert "max-age=0" in response.headers["Cache-Control"]


@pytest.mark.parametrize("path", ["/assets/x/../../feature_flags/config.py", "/assets/x/missing.js"])
def test_assets__outside_folder_or_missing__not_found(anonymous, path):
    # When
    response = anonymous.get(path)

    # Then
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_assets__changed_file__changes_version(tmp_path):
    # Given
    (tmp_path / "a.js").write_text("one")
    before = asset_version(tmp_path)

    # When
    (tmp_path / "a.js").write_text("two, longer")

    # Then
    assert asset_version(tmp_path) != before


def test_scripts__any__never_parse_data_as_markup():
    # Flag text is data: the page builds DOM with createElement and textContent, never from HTML strings.
    forbidden = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|eval\(")
    sources = sorted((PROJECT_ROOT / "static").rglob("*.js"))

    assert sources
    for source in sources:
        assert not forbidden.search(source.read_text()), source.name


def test_export__api_base_url__writes_page_and_assets(app, tmp_path):
    # When
    result = app.test_cli_runner().invoke(
        args=["ui", "export", str(tmp_path / "site"), "--api-base", "https://api.example.com/"]
    )

    # Then
    assert result.exit_code == 0, result.output
    site = tmp_path / "site"
    html = (site / "index.html").read_text()
    page = parse_page(html)
    version = asset_version(Path(app.static_folder))
    assert f"assets/{version}/js/main.js" in page.asset_urls
    for url in page.asset_urls:
        assert not url.startswith("/"), "relative URLs work under any prefix of a bucket"
        assert (site / url).is_file(), url
    assert (site / "assets" / version / "js" / "api.js").is_file()
    assert page.body["data-api-base"] == "https://api.example.com"
    csp = page.meta["Content-Security-Policy"]
    assert "connect-src 'self' https://api.example.com" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors" not in csp
    assert all(script.get("src") for script in page.scripts)


def test_export__same_templates_as_served_page__only_delivery_details_differ(app, anonymous, tmp_path):
    # Given
    served = anonymous.get("/").get_data(as_text=True)

    # When
    result = app.test_cli_runner().invoke(args=["ui", "export", str(tmp_path)])

    # Then: apart from the CSP (a header when served, a <meta> when exported) and relative asset URLs, identical.
    assert result.exit_code == 0, result.output
    exported = (tmp_path / "index.html").read_text()
    delivery_only = ('<meta http-equiv="Content-Security-Policy"', '<meta name="referrer"')
    exported_lines = [line for line in _lines(exported) if not line.startswith(delivery_only)]
    assert len(exported_lines) == len(_lines(exported)) - 2
    assert [line.replace('"assets/', '"/assets/') for line in exported_lines] == _lines(served)


def _lines(html: str) -> list[str]:
    return [line.strip() for line in html.splitlines() if line.strip()]


def test_export__run_twice__keeps_only_current_assets(app, tmp_path):
    # Given
    stale = tmp_path / "assets" / "0123456789ab"
    stale.mkdir(parents=True)
    (stale / "old.js").write_text("old")

    # When
    result = app.test_cli_runner().invoke(args=["ui", "export", str(tmp_path)])

    # Then
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "assets").iterdir()] == [asset_version(Path(app.static_folder))]


@pytest.mark.parametrize("api_base", ["ftp://example.com", "example.com", "https://example.com/?x=1"])
def test_export__bad_api_base__refused_with_message(app, tmp_path, api_base):
    # When
    result = app.test_cli_runner().invoke(args=["ui", "export", str(tmp_path), "--api-base", api_base])

    # Then
    assert result.exit_code == 2
    assert "--api-base" in result.output
    assert not (tmp_path / "index.html").exists()


@pytest.mark.parametrize(
    ("api_base", "connect_src"),
    [
        ("", "connect-src 'self';"),
        ("/api", "connect-src 'self';"),
        ("http://127.0.0.1:9", "connect-src 'self' http://127.0.0.1:9;"),
    ],
)
def test_static_csp__api_base__allows_only_that_origin(api_base, connect_src):
    assert connect_src in static_csp(api_base) + ";"

"""The browser tests' fixtures: a fresh browser profile and page per test, watched for what no test should accept,
and the API over HTTP with the admin token, for making changes elsewhere and reading the outcome back.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page

from tests.support import ADMIN_TOKEN, auth


class PageWatch:
    """What a page did that no test should accept: script errors, CSP violations, alert/confirm dialogs."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def attach(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on("console", self._console)
        page.on("dialog", self._dialog)

    def _console(self, message) -> None:
        text = message.text
        if "Content Security Policy" in text or text.startswith("Refused to"):
            self.problems.append(f"CSP: {text}")

    def _dialog(self, dialog) -> None:
        self.problems.append(f"browser dialog ({dialog.type}): {dialog.message}")
        dialog.dismiss()


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def context(browser: Browser, watch: PageWatch) -> Iterator[BrowserContext]:
    """A fresh browser profile: empty sessionStorage and localStorage."""
    made = browser.new_context(viewport={"width": 1100, "height": 800}, color_scheme="light")
    made.on("page", watch.attach)
    yield made
    made.close()
    assert watch.problems == []


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def no_polling(monkeypatch):
    """The page polls once in ten minutes: whatever it sees sooner came over the event stream."""
    monkeypatch.setattr("feature_flags.ui.POLL_INTERVAL_MS", 600_000)


class Api:
    """The flags API over HTTP, with the admin token: how tests make changes elsewhere and read state back."""

    def __init__(self, base: str, token: str = ADMIN_TOKEN) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers.update(auth(token))

    def create(self, name: str, description: str = "", **environments: bool) -> dict:
        response = self.session.post(
            f"{self.base}/flags", json={"name": name, "description": description, "environments": environments}
        )
        assert response.status_code == 201, response.text
        return response.json()

    def flag(self, ident: str) -> requests.Response:
        return self.session.get(f"{self.base}/flags/{ident}")

    def state(self, ident: str) -> dict[str, bool]:
        response = self.flag(ident)
        assert response.status_code == 200, response.text
        return response.json()["environments"]

    def toggle(self, ident: str, environment: str) -> dict:
        response = self.session.post(f"{self.base}/flags/{ident}/toggle", json={"environment": environment})
        assert response.status_code == 200, response.text
        return response.json()

    def update(self, ident: str, **fields) -> dict:
        response = self.session.put(f"{self.base}/flags/{ident}", json=fields)
        assert response.status_code == 200, response.text
        return response.json()

    def client_token(self, environment: str) -> str:
        response = self.session.post(
            f"{self.base}/tokens", json={"name": f"reader-{environment}", "role": "client", "environment": environment}
        )
        assert response.status_code == 201, response.text
        return response.json()["token"]


@pytest.fixture
def api(live_server: str) -> Api:
    return Api(live_server)


def row_action(page: Page, flag: str, action: str) -> None:
    """Choose Edit, History or Delete from a flag's row menu in the flags table, as a person clicking would."""
    page.get_by_role("button", name=f"Actions for {flag}").click()
    page.get_by_role("menu", name=f"Actions for {flag}").get_by_role("menuitem", name=action).click()

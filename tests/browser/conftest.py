"""Fixtures every browser test file uses: a watched page in a fresh profile, and the API beside it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.test_ui_browser import Api, PageWatch


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
def api(live_server: str) -> Api:
    return Api(live_server)

"""The README shows every screen of the admin UI in both themes, from pictures that exist."""

from __future__ import annotations

import re

from feature_flags import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()
PICTURES = re.findall(r"!\[[^\]]*\]\((docs/screenshots/[^)]+\.png)\)", README)
# Every screen the router offers (static/js/main.js registers them), and the dialogs of the flags table.
SCREENS = ["sign-in", "flags", "new-flag", "history", "delete", "flag-page", "tokens", "audit", "segments", "webhooks"]
SCREENS += ["transfer", "segment-editor"]


def test_readme__screenshot_links__each_picture_in_the_repository():
    assert PICTURES
    assert [path for path in PICTURES if not (PROJECT_ROOT / path).is_file()] == []


def test_readme__every_screen__shown_in_light_and_dark():
    shown = {(match[1], match[2]) for match in (re.match(r"docs/screenshots/(.+)-(light|dark)", p) for p in PICTURES)}
    missing = [(screen, theme) for screen in SCREENS for theme in ("light", "dark") if (screen, theme) not in shown]
    assert missing == []

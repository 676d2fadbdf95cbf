"""The admin UI's page shows every screen in both themes, from pictures that exist."""

from __future__ import annotations

import re

from feature_flags import PROJECT_ROOT

PAGE = PROJECT_ROOT / "docs" / "how-to" / "admin-ui.md"
# Each picture as the page links it (relative to the page), with the theme Material shows it in.
PICTURES = re.findall(r"!\[[^\]]*\]\(([^)#]+\.png)#only-(light|dark)\)", PAGE.read_text())
# Every screen the router offers, and the dialogs of the flags table.
SCREENS = ["sign-in", "flags", "new-flag", "history", "delete", "flag-page", "tokens", "audit", "segments", "webhooks"]
SCREENS += ["transfer", "segment-editor"]


def test_admin_ui_page__screenshot_links__each_picture_in_the_repository():
    assert PICTURES
    assert [path for path, _ in PICTURES if not (PAGE.parent / path).resolve().is_file()] == []


def test_admin_ui_page__every_screen__shown_in_light_and_dark():
    shown = set()
    for path, theme in PICTURES:
        name = re.match(r"(.+)-(light|dark)", path.rpartition("/")[2])
        # A picture is shown in the theme it was taken in, never the other.
        assert name[2] == theme, path
        shown.add((name[1], theme))
    missing = [(screen, theme) for screen in SCREENS for theme in ("light", "dark") if (screen, theme) not in shown]
    assert missing == []

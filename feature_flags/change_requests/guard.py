"""The check every direct write makes: a change reaching an approval environment goes through a change request."""

from __future__ import annotations

from collections.abc import Collection

from flask import current_app

from ..errors import ChangeRequestRequired


def needing_approval(touched: Collection[str]) -> tuple[str, ...]:
    """The environments of `touched` where FF_APPROVALS asks for a change request."""
    approvals = current_app.config["FF"].approvals
    return tuple(environment for environment in approvals if environment in touched)


def refuse_unapproved(touched: Collection[str], instead: str = "POST it to /change-requests") -> None:
    """Raise ChangeRequestRequired (409) if the change reaches an environment that needs approval."""
    gated = needing_approval(touched)
    if gated:
        raise ChangeRequestRequired(
            f"Changes in {', '.join(gated)} need approval: {instead}.",
            environments=list(gated),
            change_requests="/change-requests",
        )

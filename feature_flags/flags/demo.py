"""The demo flags a new installation starts with, so the UI and the examples have something to show."""

from __future__ import annotations

import logging

from flask import Flask

from ..errors import FlagNameTaken
from ..extensions import get_store
from . import service

logger = logging.getLogger(__name__)

DEMO_FLAGS = (
    {
        "name": "new-checkout",
        "description": "The redesigned checkout flow",
        "environments": {"development": True, "staging": True},
        "tags": ["checkout"],
    },
    {
        "name": "dark-mode",
        "description": "Offer the dark theme to users",
        "environments": {"development": True, "staging": True, "production": True},
        "tags": ["ui"],
    },
    {
        "name": "beta-dashboard",
        "description": "The new analytics dashboard for beta customers",
        "environments": {"development": True},
        "tags": ["analytics"],
        "type": "permission",
    },
    {
        "name": "search-v2",
        "description": "Search backed by the new index",
        "environments": {"development": True},
        "tags": ["search"],
        "type": "experiment",
    },
    {
        "name": "recommendations",
        "description": "Personalised recommendations on the home page",
        "environments": {"development": True, "staging": True},
        "tags": ["home"],
        "type": "experiment",
    },
    {
        "name": "maintenance-banner",
        "description": "Show the planned-maintenance banner",
        "environments": {},
        "tags": ["ui"],
        "type": "operational",
    },
)


def seed_demo_flags(app: Flask) -> int:
    """Create the demo flags on the first start of an empty database, once ever; return how many."""
    store = get_store(app)
    if store.count_flags() > 0 or not store.claim_once("demo-flags-seeded"):
        return 0
    created = 0
    for flag in DEMO_FLAGS:
        environments = {k: v for k, v in flag["environments"].items() if k in store.environments}
        try:
            service.create({**flag, "environments": environments}, actor="demo", app=app)
            created += 1
        except FlagNameTaken:
            pass
    logger.info("demo flags created", extra={"count": created})
    return created

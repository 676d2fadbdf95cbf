"""Moving flags in and out as a whole: export, import (ours and Unleash's) and copying between environments."""

from __future__ import annotations

import logging

from flask import Flask

from ..audit import actions
from ..config import ConfigError
from ..errors import ApiError, FlagNameTaken
from ..extensions import get_store
from .cli import register_cli
from .document import FORMAT, read_document, validated_document
from .routes import bp
from .service import apply_plan, plan_contents

__all__ = ["bootstrap_import", "bp", "init_app"]

logger = logging.getLogger(__name__)
IMPORT_FILE_KEY = "feature_flags.import_file"


def init_app(app: Flask) -> None:
    """Register `flask flags export|import`; read and validate FF_IMPORT_FILE now, so a bad one stops the start."""
    register_cli(app)
    path = app.config["FF"].import_file
    if path is None:
        return
    try:
        contents = validated_document(read_document(path), app.config["FF"].environments)
    except ValueError as error:
        raise ConfigError(f"FF_IMPORT_FILE: {error}") from None
    except ApiError as error:
        raise ConfigError(f"FF_IMPORT_FILE: {path}: {error.message}") from None
    app.extensions[IMPORT_FILE_KEY] = contents


def bootstrap_import(app: Flask) -> int:
    """Apply FF_IMPORT_FILE if the database has no flags (part of database preparation); return how many."""
    contents = app.extensions.get(IMPORT_FILE_KEY)
    store = get_store(app)
    if contents is None or store.count_flags() > 0:
        return 0
    plan = plan_contents(app, contents, "upsert", current=[])
    summary = {
        "action": actions.FLAGS_IMPORTED,
        "before": None,
        "after": {"format": FORMAT, "mode": "upsert", "created": len(plan.created), "updated": 0, "removed": 0},
    }
    try:
        apply_plan(app, plan, "import-file", summary=summary)
    except FlagNameTaken:
        # Another instance starting at the same time imported it first; the batch left nothing of ours.
        return 0
    logger.info("flags imported from FF_IMPORT_FILE", extra={"count": len(plan.created)})
    return len(plan.created)

"""The embedded database for trying the service without MongoDB: SecantusDB in this process."""

from __future__ import annotations

import atexit
import logging
from pathlib import Path

from ..config import ConfigError

logger = logging.getLogger(__name__)


def start_embedded_database(data_dir: Path) -> tuple[str, object]:
    """Start SecantusDB on a free loopback port over data_dir; return its URI and the server."""
    try:
        # Imported only here: it is a development dependency, never needed when MONGO_URI is set.
        from secantus import SecantusDBServer
    except ImportError:
        raise ConfigError(
            "MONGO_URI is not set and the embedded database is not installed: "
            "set MONGO_URI, or pip install -r requirements-dev.txt"
        ) from None
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        server = SecantusDBServer(host="127.0.0.1", port=0, storage_path=str(data_dir), enable_test_commands=False)
        server.start()
    except Exception as error:
        if "busy" not in str(error).lower():
            raise
        # One process owns a data folder: usually `make run` is still running while a CLI command starts.
        raise ConfigError(
            f"the embedded database in {data_dir} is in use by another process; "
            "stop the running service first, or set MONGO_URI to share a MongoDB"
        ) from None
    atexit.register(server.stop)
    logger.info("embedded database started", extra={"data_dir": str(data_dir.resolve())})
    return server.uri, server

"""The highest flags revision written through any process of this host, shared through a small mmap'd file."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class SharedRevision:
    """The highest flags revision written through any process of this host, in an 8-byte shared file.

    Gunicorn's workers are separate processes: one that reads right after another wrote compares this
    with the revision its snapshot reflects, and catches up first if it is behind (read-your-writes for
    the whole instance, not only the worker that wrote).
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None
        self._map: mmap.mmap | None = None
        self._warned = False

    def _mapped(self, create: bool) -> mmap.mmap | None:
        if self._map is None:
            try:
                if create:
                    self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(self._path, os.O_RDWR | (os.O_CREAT if create else 0), 0o600)
            except OSError as error:
                if create and not self._warned:
                    self._warned = True
                    logger.warning(
                        "cannot share the flags revision between workers; they catch up within the freshness bound",
                        extra={"path": str(self._path), "error": str(error)},
                    )
                return None
            if os.fstat(fd).st_size < 8:
                os.ftruncate(fd, 8)
            self._fd, self._map = fd, mmap.mmap(fd, 8)
        return self._map

    def read(self) -> int:
        """Return the highest revision published (0 if none yet)."""
        mapped = self._mapped(create=False)
        return struct.unpack_from("<q", mapped)[0] if mapped is not None else 0

    def publish(self, revision: int) -> None:
        """Raise the shared revision to revision (never lower it); a host that cannot share does nothing."""
        self._update(lambda current: max(current, revision))

    def lower_to(self, revision: int) -> None:
        """Bring a revision left by an earlier database (restored, or in memory and restarted) back down."""
        self._update(lambda current: min(current, revision))

    def _update(self, new_value: Callable[[int], int]) -> None:
        mapped = self._mapped(create=True)
        if mapped is None:
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            struct.pack_into("<q", mapped, 0, new_value(struct.unpack_from("<q", mapped)[0]))
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


def shared_revision_path(config: Any) -> Path:
    """Where this host's processes serving one database share their latest write's revision."""
    # Hashed: the URI may carry a password, and the name must be a plain file name.
    source = f"{config.mongo_uri or f'embedded:{Path(config.data_dir).resolve()}'}|{config.mongo_db}"
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / "feature-flags" / f"revision-{digest}"

"""When each token was last used: noted in memory on the request path, stamped in the database by a thread."""

from __future__ import annotations

import logging
import threading
import time

from ..errors import DatabaseUnavailable
from ..process import current_pid
from ..storage import Store, StoreClosed
from ..storage.tokens import LAST_USED_EVERY_SECONDS

logger = logging.getLogger(__name__)

# Created at import, before any fork; held only while a stamping thread starts.
_START_LOCK = threading.Lock()


class TokenUse:
    """One process's note of which tokens it served, and the thread that stamps them at most once a minute each."""

    def __init__(self, store: Store, every_seconds: float = LAST_USED_EVERY_SECONDS) -> None:
        self._store = store
        self.every_seconds = every_seconds
        self._pid: int | None = None
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        # token id -> time.monotonic() of this process's last stamp: a busy client costs a write a minute.
        self._stamped: dict[str, float] = {}
        self._pending: set[str] = set()

    def note(self, token_id: str) -> None:
        """Note that a request used this token; the database hears of it from the thread, not this request."""
        now = time.monotonic()
        if now - self._stamped.get(token_id, -self.every_seconds) < self.every_seconds:
            return
        if self._pid != current_pid():
            self._start()
        with self._lock:
            self._stamped[token_id] = now
            self._pending.add(token_id)
        self._wake.set()

    def stamp(self) -> None:
        """Write the pending stamps now; raise DatabaseUnavailable, keeping them for the next try."""
        with self._lock:
            pending, self._pending = self._pending, set()
        if not pending:
            return
        try:
            self._store.touch_tokens(sorted(pending))
        except DatabaseUnavailable:
            with self._lock:
                self._pending |= pending
            raise

    def _start(self) -> None:
        pid = current_pid()
        with _START_LOCK:
            if self._pid == pid:
                return
            if self._pid is not None:
                # A forked child: the parent's thread stayed behind, and its lock may have been held.
                self._reset()
            threading.Thread(target=self._run, name="token-use", daemon=True).start()
            self._pid = pid

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                self.stamp()
            except StoreClosed:
                return
            except DatabaseUnavailable:
                # A stamp is a convenience: it waits for the database without a word per request.
                time.sleep(1.0)
                self._wake.set()
            except Exception:
                logger.exception("could not stamp token use")

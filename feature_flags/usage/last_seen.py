"""When each flag was last evaluated, per environment: one process's copy of flag_usage, refreshed in the background.

List answers are memoised on `generation`, so it changes only when a refresh changed what is held, and a
refresh happens only in the flusher thread, never on a request.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..storage import Store

# Stamps are ordered by the server's clock, but one written just before a read can become visible just after:
# each incremental read starts this far before the newest stamp already read (re-reading is harmless).
READ_OVERLAP = timedelta(seconds=5)


class LastSeen:
    """Flag id -> environment -> when it was last evaluated, as the database held it at the last refresh."""

    def __init__(self) -> None:
        # Swapped whole, so a reader sees the generation and the stamps of one refresh.
        self._state: tuple[int, dict[str, dict[str, datetime]]] = (0, {})
        self._read_up_to: datetime | None = None

    @property
    def generation(self) -> int:
        """A number that changes whenever what this holds changes (and only then)."""
        return self._state[0]

    def of(self, flag_id: str) -> dict[str, datetime]:
        """Return when each environment last evaluated the flag (a copy); an environment that never did is absent."""
        return dict(self._state[1].get(flag_id, ()))

    def refresh(self, store: Store) -> bool:
        """Read what changed in the database since the last refresh (everything the first time); say if anything did."""
        since = None if self._read_up_to is None else self._read_up_to - READ_OVERLAP
        rows = store.last_evaluated_since(since)
        generation, held = self._state
        # Held dicts are never changed in place: a refresh replaces a flag's whole entry.
        changed: dict[str, dict[str, datetime]] = {}
        for row in rows:
            current = changed.get(row["flag_id"]) or held.get(row["flag_id"], {})
            stamps = row["last_evaluated_at"].items()
            newer = {env: when for env, when in stamps if env not in current or when > current[env]}
            if newer:
                changed[row["flag_id"]] = {**current, **newer}
        if rows:
            newest = rows[-1]["updated_at"]
            self._read_up_to = newest if self._read_up_to is None else max(self._read_up_to, newest)
        if not changed:
            return False
        self._state = (generation + 1, {**held, **changed})
        return True

"""Counting evaluations in memory, and adding the counts to the database from a background thread.

The request path only takes a lock and increments a dict entry. Every flush interval (10 s at most) the thread
swaps the pending counts out and writes them in one bulk write per collection (storage/usage.py), so the
database sees one update per flag touched, however many evaluations there were.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import DatabaseUnavailable
from ..flags.models import ATTRIBUTE_PATTERN
from ..process import current_pid
from ..storage import Store, StoreClosed
from .last_seen import LastSeen

logger = logging.getLogger(__name__)

SECONDS_PER_HOUR = 3600
# How long a shutdown waits for a flush the thread has already begun, before writing what is left itself.
STOP_WAIT_SECONDS = 5.0
# Created at import, before any fork; held only while a flusher thread starts.
_START_LOCK = threading.Lock()

# Attribute names (environment, name) held between flushes; names past this many wait for the next interval.
MAX_PENDING_ATTRIBUTE_NAMES = 1000
_ATTRIBUTE_NAME = re.compile(ATTRIBUTE_PATTERN)

# (flag id, environment, variant, hour number since the epoch) -> evaluations
Counts = dict[tuple[str, str, str, int], int]
# (flag id, environment) -> time.time() of its latest evaluation
Stamps = dict[tuple[str, str], float]


def _moment(seconds: float) -> datetime:
    """Return a time.time() value as a UTC datetime at the millisecond precision MongoDB stores."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class Batch:
    """Counts swapped out for one write, numbered so that sending it again after a lost answer adds it once."""

    sequence: int
    counts: dict[tuple[str, datetime], dict[str, dict[str, int]]]
    last_seen: dict[str, dict[str, datetime]]

    @classmethod
    def of(cls, sequence: int, counts: Counts, stamps: Stamps) -> Batch:
        """Shape pending counts as storage takes them: by flag and hour, then environment and variant."""
        by_bucket: dict[tuple[str, datetime], dict[str, dict[str, int]]] = {}
        for (flag_id, environment, variant, hour), n in counts.items():
            bucket = by_bucket.setdefault((flag_id, _moment(hour * SECONDS_PER_HOUR)), {})
            bucket.setdefault(environment, {})[variant] = n
        last_seen: dict[str, dict[str, datetime]] = {}
        for (flag_id, environment), seconds in stamps.items():
            last_seen.setdefault(flag_id, {})[environment] = _moment(seconds)
        return cls(sequence, by_bucket, last_seen)


class UsageRecorder:
    """One process's evaluation counts and the thread that flushes them (and refreshes LastSeen)."""

    def __init__(
        self,
        store: Store,
        last_seen: LastSeen,
        evaluations: dict[tuple[str, str], Any],
        enabled: bool = True,
        flush_seconds: float = 10.0,
    ) -> None:
        self._store = store
        self._last_seen = last_seen
        self._evaluations = evaluations
        self.enabled = enabled
        self.flush_seconds = flush_seconds
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stopping = threading.Event()
        self._counts: Counts = {}
        self._stamps: Stamps = {}
        self._attributes: dict[tuple[str, str], int] = {}
        # A batch whose write failed: sent again, unchanged, before anything newer.
        self._unsent: Batch | None = None
        # Names this process's batches in the buckets; a forked child is another writer.
        self._writer = uuid.uuid4().hex
        self._sequence = 0
        self._failing = False

    # -- the request path --------------------------------------------------------------------

    def _counting(self) -> bool:
        """Whether this recorder counts; the first count in a process (a forked worker) starts its flusher."""
        if not self.enabled:
            return False
        if self._pid != current_pid():
            self.start()
        return True

    def _add_names(self, environment: str, names: Iterable[str]) -> None:
        # Under self._lock. A client may send new names with every request: past the bound they wait, and only
        # names a rule could use are counted.
        pending = self._attributes
        for name in names:
            key = (environment, name)
            if key in pending:
                pending[key] += 1
            elif len(pending) < MAX_PENDING_ATTRIBUTE_NAMES and _ATTRIBUTE_NAME.match(name):
                pending[key] = 1

    def count(
        self, flag_id: str, environment: str, variant: str | None, reason: str, names: Iterable[str] = ()
    ) -> None:
        """Count one evaluation, and the attribute names its context carried (the rule editor offers the frequent
        ones); variant None (it failed) counts in the metric only, under its reason."""
        if not self._counting():
            return
        child = self._evaluations.get((environment, reason))
        if child is not None:
            child.inc()
        now = time.time()
        key = (flag_id, environment, variant, int(now // SECONDS_PER_HOUR))
        with self._lock:
            self._add_names(environment, names)
            if variant is not None:
                self._counts[key] = self._counts.get(key, 0) + 1
                self._stamps[(flag_id, environment)] = now

    def count_many(
        self, environment: str, outcomes: Iterable[tuple[str, str | None, str]], names: Iterable[str] = ()
    ) -> None:
        """Count a bulk evaluation's (flag id, variant, reason) outcomes, and its context's attribute names, under
        one lock."""
        if not self._counting():
            return
        now = time.time()
        hour = int(now // SECONDS_PER_HOUR)
        reasons: dict[str, int] = {}
        with self._lock:
            self._add_names(environment, names)
            counts, stamps = self._counts, self._stamps
            for flag_id, variant, reason in outcomes:
                reasons[reason] = reasons.get(reason, 0) + 1
                if variant is not None:
                    key = (flag_id, environment, variant, hour)
                    counts[key] = counts.get(key, 0) + 1
                    stamps[(flag_id, environment)] = now
        for reason, n in reasons.items():
            child = self._evaluations.get((environment, reason))
            if child is not None:
                child.inc(n)

    def count_reported(self, environment: str, reported: Iterable[tuple[str, str, int]]) -> None:
        """Count (flag id, variant, n) evaluations an application made itself and reported (an SDK's metrics).

        They go into the usage counts as the service's own do, not into the evaluations metric, which measures
        this service's work.
        """
        if not self._counting():
            return
        now = time.time()
        hour = int(now // SECONDS_PER_HOUR)
        with self._lock:
            for flag_id, variant, n in reported:
                key = (flag_id, environment, variant, hour)
                self._counts[key] = self._counts.get(key, 0) + n
                self._stamps[(flag_id, environment)] = now

    # -- writing -----------------------------------------------------------------------------

    def flush(self) -> None:
        """Write what was counted since the last flush; raise DatabaseUnavailable, keeping it for the next."""
        with self._flush_lock:
            self._flush_attributes()
            # Twice at most: a batch left from a failed flush first, then what was counted meanwhile.
            for _ in range(2):
                if self._unsent is None:
                    with self._lock:
                        counts, self._counts = self._counts, {}
                        stamps, self._stamps = self._stamps, {}
                    if not counts:
                        return
                    self._sequence += 1
                    self._unsent = Batch.of(self._sequence, counts, stamps)
                batch = self._unsent
                self._store.add_usage(batch.counts, batch.last_seen, self._writer, batch.sequence)
                self._unsent = None

    def _flush_attributes(self) -> None:
        with self._lock:
            attributes, self._attributes = self._attributes, {}
        try:
            self._store.note_context_attributes(attributes)
        except DatabaseUnavailable:
            # Kept for the next flush, within the bound: the names rank suggestions, nothing more.
            with self._lock:
                for key, n in attributes.items():
                    if key in self._attributes or len(self._attributes) < MAX_PENDING_ATTRIBUTE_NAMES:
                        self._attributes[key] = self._attributes.get(key, 0) + n

    def pending(self) -> int:
        """Return how many evaluations are counted here and not yet written."""
        with self._lock:
            waiting = sum(self._counts.values())
        unsent = self._unsent
        if unsent is not None:
            waiting += sum(n for bucket in unsent.counts.values() for v in bucket.values() for n in v.values())
        return waiting

    # -- the background thread ---------------------------------------------------------------

    def start(self) -> None:
        """Start the flusher in this process if it is not running (after a fork, say: the thread stays behind)."""
        pid = current_pid()
        if self._pid == pid:
            return
        with _START_LOCK:
            if self._pid == pid:
                return
            if self._pid is not None:
                # A forked child: the parent writes its own counts, and the parent's locks may have been held.
                self._reset()
            self._thread = threading.Thread(target=self._run, name="usage-flusher", daemon=True)
            self._thread.start()
            self._pid = pid

    def close(self) -> None:
        """Stop the flusher and write what is still counted (graceful shutdown); a failure is logged, not raised."""
        if self._pid != current_pid():
            return  # nothing was counted in this process
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_WAIT_SECONDS)
        try:
            self.flush()
        except (DatabaseUnavailable, StoreClosed):
            logger.warning("usage counts could not be written at shutdown", extra={"evaluations": self.pending()})

    def _run(self) -> None:
        """Refresh LastSeen, then every flush interval: flush, refresh. Ends with close() or a closed store."""
        try:
            self._refresh()
            while not self._stopping.wait(self.flush_seconds):
                self._flush_logged()
                self._refresh()
        except StoreClosed:
            return

    def _flush_logged(self) -> None:
        if not self.enabled:
            return
        try:
            self.flush()
        except DatabaseUnavailable:
            # Said once per outage; the counts wait in memory and go with the first flush that succeeds.
            if not self._failing:
                logger.warning(
                    "usage counts not written; kept for the next flush", extra={"evaluations": self.pending()}
                )
            self._failing = True
            return
        except StoreClosed:
            raise
        except Exception:
            logger.exception("usage flush failed; kept for the next flush")
            return
        self._failing = False

    def _refresh(self) -> None:
        try:
            self._last_seen.refresh(self._store)
        except DatabaseUnavailable:
            pass  # the next interval tries again; what is held stays served
        except StoreClosed:
            raise
        except Exception:
            logger.exception("could not refresh when flags were last evaluated")

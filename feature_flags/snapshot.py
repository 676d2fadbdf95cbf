"""The flags in memory: every read path (lists, single flags, evaluation) is served from a snapshot.

Each process keeps one immutable Snapshot and replaces it as flags change. A background thread, started
lazily on first use (so after gunicorn forks, never at import), follows a MongoDB change stream; where the
deployment has none, or while it is lost, it polls a revision counter every flag write bumps. A snapshot
not confirmed fresh within FRESHNESS_SECONDS is checked against the database before it is served, so a lost
stream or database never means stale answers for longer than that.

Read-your-writes: a process applies its own writes at once, and publishes the revision each write reached
in a small file shared by the host's processes (SharedRevision); another worker of the same instance that
is behind it waits for its stream to deliver the change (milliseconds), or re-reads, before answering.
Without a writable temporary directory the sharing is off and other workers catch up within the bound.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from .errors import DatabaseUnavailable, FlagNotFound
from .extensions import get_store
from .repository import ChangesLost, ChangesUnsupported, Store, StoreClosed

logger = logging.getLogger(__name__)

CACHE_KEY = "feature_flags.flag_cache"
# The promise: a change made anywhere is served everywhere within this bound.
FRESHNESS_SECONDS = 1.0
POLL_SECONDS = 0.25
# How long a read waits for its stream to deliver another worker's write (normally milliseconds) before asking
# the database itself. Short: if the database has just gone, this wait and the database timeout add up, and
# together they must stay within the 2 seconds in which a request answers 503.
CATCH_UP_SECONDS = 0.25
# How often a process without change streams tries to open one again (a standalone that became a replica set).
RETRY_STREAM_SECONDS = 30.0
# After losing a stream (database restart), how soon to try again; polling covers the gap.
RECOVER_STREAM_SECONDS = 1.0
# Changes remembered for re-applying after a full read that overlapped them (a 10,000-flag read takes seconds).
CHANGES_KEPT = 10000
# Requests queued behind a failed freshness check fail with it rather than each waiting out the timeout.
FAILURE_MEMORY_SECONDS = 0.5
# Created at import, before any fork; held only while a follower thread starts.
_START_LOCK = threading.Lock()


class Snapshot:
    """Every flag at one moment, indexed by id and by name; derived answers are memoised per snapshot."""

    def __init__(self, by_id: dict[str, dict[str, Any]]) -> None:
        self.by_id = by_id
        self.by_name = {flag["name"]: flag for flag in by_id.values()}
        self._memo: dict[Any, Any] = {}

    @cached_property
    def ordered(self) -> list[dict[str, Any]]:
        """The flags sorted by name."""
        return sorted(self.by_id.values(), key=lambda flag: flag["name"])

    def find(self, ident: str) -> dict[str, Any]:
        """Return the flag with this id or name, or raise FlagNotFound."""
        flag = self.by_id.get(ident) or self.by_name.get(ident)
        if flag is None:
            raise FlagNotFound()
        return flag

    def memo(self, key: Any, build: Callable[[], Any]) -> Any:
        """Return build()'s result, computed once per snapshot and key (a list body and its ETag, say)."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = build()
            return value


def _newer(incoming: dict[str, Any], existing: dict[str, Any] | None) -> bool:
    return existing is None or incoming["version"] > existing["version"]


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


class FlagCache:
    """One process's view of the flags, kept fresh from the database."""

    def __init__(self, store: Store, shared: SharedRevision | None = None) -> None:
        self._store = store
        self._shared = shared
        self._snapshot: Snapshot | None = None
        # The flags revision the snapshot reflects at least (-1: none yet).
        self._revision = -1
        self._verified_at = 0.0
        self._failed_at = -FAILURE_MEMORY_SECONDS
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._verify_lock = threading.Lock()
        self._caught_up = threading.Condition(self._lock)
        # Every change applied since start, numbered, so a full read that overlapped them can re-apply them.
        self._changes: list[tuple[int, str, Any]] = []
        self._change_seq = 0
        self.mode = "idle"
        if shared is not None:
            store.revision_listeners.append(shared.publish)

    # -- what the routes use -----------------------------------------------------------------

    @property
    def loaded(self) -> Snapshot | None:
        """The snapshot held now, however old, without checking anything (None before the first load)."""
        return self._snapshot

    def get(self) -> Snapshot:
        """Return a snapshot no older than the freshness bound that includes every write made through this host.

        Raise DatabaseUnavailable if none can be had.
        """
        self._ensure_following()
        wanted = self._shared.read() if self._shared is not None else -1
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() - self._verified_at <= FRESHNESS_SECONDS:
            if self._revision >= wanted:
                return snapshot
            if self.mode == "change_stream":
                # Another worker here just wrote: the change is on its way down our stream, milliseconds away.
                with self._caught_up:
                    self._caught_up.wait_for(lambda: self._revision >= wanted, timeout=CATCH_UP_SECONDS)
                if self._revision >= wanted and self._snapshot is not None:
                    return self._snapshot
        return self._verify_now(wanted)

    def written(self, flag: dict[str, Any]) -> None:
        """Apply a flag this process just wrote, so its next read sees it."""
        self._apply_changes([("upsert", flag)])

    def deleted(self, flag_id: str) -> None:
        """Drop a flag this process just deleted."""
        self._apply_changes([("delete", flag_id)])

    # -- keeping the snapshot ----------------------------------------------------------------

    @staticmethod
    def _applied(snapshot: Snapshot, changes: list[tuple[str, Any]]) -> Snapshot:
        by_id = dict(snapshot.by_id)
        changed = False
        for kind, payload in changes:
            if kind == "upsert" and _newer(payload, by_id.get(payload["_id"])):
                by_id[payload["_id"]] = payload
                changed = True
            elif kind == "delete" and payload in by_id:
                del by_id[payload]
                changed = True
        return Snapshot(by_id) if changed else snapshot

    def _apply_changes(self, changes: list[tuple[str, Any]]) -> None:
        """Apply changes in order (from the stream or this process's writes); a revision marker comes last."""
        with self._lock:
            for kind, payload in changes:
                self._change_seq += 1
                self._changes.append((self._change_seq, kind, payload))
            del self._changes[:-CHANGES_KEPT]
            if self._snapshot is not None:
                self._snapshot = self._applied(self._snapshot, changes)
                revisions = [payload for kind, payload in changes if kind == "revision"]
                if revisions:
                    self._revision = max(self._revision, *revisions)
                    self._caught_up.notify_all()

    def _reload(self) -> Snapshot:
        """Read every flag and replace the snapshot, re-applying the changes that arrived meanwhile."""
        with self._lock:
            started_seq = self._change_seq
        revision = self._store.flags_revision()
        # The revision is read first: a write landing during the read bumps it past this value, so it is read again.
        flags = self._store.load_flags()
        with self._lock:
            later = [(kind, payload) for seq, kind, payload in self._changes if seq > started_seq]
            self._snapshot = self._applied(Snapshot({flag["_id"]: flag for flag in flags}), later)
            self._revision = max([revision] + [payload for kind, payload in later if kind == "revision"])
            self._verified_at = time.monotonic()
            self._caught_up.notify_all()
            return self._snapshot

    def _verify_now(self, wanted: int = -1) -> Snapshot:
        """Check the revision in the request's own time; reload if anything changed."""
        # One request thread checks while the others wait for its answer, rather than all reading every flag.
        with self._verify_lock:
            snapshot = self._snapshot
            fresh = time.monotonic() - self._verified_at <= FRESHNESS_SECONDS
            if snapshot is not None and fresh and self._revision >= wanted:
                return snapshot
            if time.monotonic() - self._failed_at < FAILURE_MEMORY_SECONDS:
                # The check that just failed for the request before this one would fail again: answer at once.
                raise DatabaseUnavailable()
            try:
                revision = self._store.flags_revision()
                if self._shared is not None and wanted > revision:
                    # Nothing the database holds was written after this: a stale value from a database that
                    # has since been replaced. Lower it, or every read would wait for a revision never coming.
                    self._shared.lower_to(revision)
                # An unchanged revision means no flag was written since the snapshot's full read. The snapshot held
                # now, not the one read above: the stream may have applied a change (and its revision) meanwhile.
                if snapshot is not None and revision == self._revision:
                    self._verified_at = time.monotonic()
                    return self._snapshot
                return self._reload()
            except ChangesLost:
                self._failed_at = time.monotonic()
                raise DatabaseUnavailable() from None

    # -- the follower thread -----------------------------------------------------------------

    def _ensure_following(self) -> None:
        pid = os.getpid()
        if self._pid == pid:
            return
        with _START_LOCK:
            if self._pid == pid:
                return
            if self._pid is not None:
                # A forked child: the parent's thread did not come along, and its lock may have been held.
                self._lock = threading.Lock()
                self._verify_lock = threading.Lock()
                self._caught_up = threading.Condition(self._lock)
                self._verified_at = 0.0
            self._thread = threading.Thread(target=self._follow, name="flag-cache", daemon=True)
            self._thread.start()
            self._pid = pid

    def _follow(self) -> None:
        """Follow changes until the store is closed: change stream when possible, polling otherwise."""
        try:
            while True:
                try:
                    changes = self._store.watch_flags()
                except ChangesUnsupported:
                    self.mode = "polling"
                    self._poll(RETRY_STREAM_SECONDS)
                    continue
                except ChangesLost:
                    self._lost()
                    continue
                try:
                    self._stream(changes)
                except ChangesLost as error:
                    logger.warning("flag change stream lost; polling until it is back", extra={"error": str(error)})
                    self._lost()
                finally:
                    changes.close()
        except StoreClosed:
            return
        except Exception:
            # A bug here must not leave the process serving stale flags: reads verify on their own until
            # the next request starts a new follower.
            logger.exception("flag cache follower stopped")
            self._verified_at = 0.0
            self._pid = None

    def _stream(self, changes: Any) -> None:
        # Opened before the full read, so nothing written in between is missed.
        self._reload()
        self.mode = "change_stream"
        while True:
            batch = changes.next_changes()
            if any(kind == "reload" for kind, _ in batch):
                self._reload()
            elif batch:
                self._apply_changes(batch)
            self._verified_at = time.monotonic()

    def _lost(self) -> None:
        self.mode = "polling"
        # Nothing vouches for the snapshot now; until polling does, reads check for themselves.
        self._verified_at = 0.0
        self._poll(RECOVER_STREAM_SECONDS)

    def _poll(self, seconds: float) -> None:
        """Compare the revision every POLL_SECONDS for a while, reloading when it moved.

        Each period starts with a full read, the backstop for a revision bump lost to a failure.
        """
        deadline = time.monotonic() + seconds
        force = True
        while time.monotonic() < deadline:
            try:
                revision = self._store.flags_revision()
                if force or revision != self._revision or self._snapshot is None:
                    self._reload()
                    force = False
                else:
                    self._verified_at = time.monotonic()
            except (ChangesLost, DatabaseUnavailable):
                self._verified_at = 0.0
            time.sleep(POLL_SECONDS)


def to_json(value: Any) -> str:
    """Serialise as jsonify does outside debug mode (compact, ISO 8601 times), for bodies built ahead of time."""
    return current_app.json.dumps(value, separators=(",", ":")) + "\n"


def warm_up(app: Flask) -> None:
    """Load the flags and start following changes now, in this process (gunicorn's post_worker_init, say).

    Otherwise a new worker's first requests wait while it reads every flag (seconds at 10,000 flags).
    A database that does not answer is logged, not raised: the first request will try again. An app
    without a flag cache (the bench's bare baseline under the same gunicorn.conf.py) has nothing to load.
    """
    if CACHE_KEY not in getattr(app, "extensions", {}):
        return
    try:
        flag_cache(app).get()
    except DatabaseUnavailable:
        logger.warning("could not load the flags at worker start; the first request will")


def shared_revision_path(config: Any) -> Path:
    """Where this host's processes serving one database share their latest write's revision."""
    # Hashed: the URI may carry a password, and the name must be a plain file name.
    source = f"{config.mongo_uri or f'embedded:{Path(config.data_dir).resolve()}'}|{config.mongo_db}"
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / "feature-flags" / f"revision-{digest}"


def init_app(app: Flask) -> None:
    """Give the app its flag cache; nothing is read or started until the first request needs it."""
    shared = SharedRevision(shared_revision_path(app.config["FF"]))
    app.extensions[CACHE_KEY] = FlagCache(get_store(app), shared)


def flag_cache(app: Flask | None = None) -> FlagCache:
    """Return the app's flag cache."""
    return (app or current_app).extensions[CACHE_KEY]


def current_snapshot(app: Flask | None = None) -> Snapshot:
    """Return the flags as they are now (within the freshness bound)."""
    return flag_cache(app).get()

"""The flags in memory: every read path (lists, single flags, segments, evaluation) is served from a snapshot.

Segments are held and followed exactly as flags are (same stream, same revision counter), since changing one
changes what the flags using it serve. So are API tokens (their hashes), so no request waits on the database to
learn who is calling, and a revoked token stops working within the same bound as a flag change.

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

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import DatabaseUnavailable
from ..process import current_pid
from ..storage import ChangesLost, ChangesUnsupported, Store, StoreClosed
from ..storage.tokens import HELD_FIELDS as HELD_TOKEN_FIELDS
from .shared_revision import SharedRevision
from .siblings import Siblings
from .snapshot import Snapshot, newer

logger = logging.getLogger(__name__)

# The promise: a change made anywhere is served everywhere within this bound.
FRESHNESS_SECONDS = 1.0
POLL_SECONDS = 0.25
# How often a process following a change stream checks that the stream keeps up with the database's revision.
STREAM_CHECK_SECONDS = 1.0
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


class FlagCache:
    """One process's view of the flags, kept fresh from the database."""

    def __init__(self, store: Store, shared: SharedRevision | None = None, siblings_at: Path | None = None) -> None:
        self._store = store
        self._shared = shared
        # The host's other processes, told of this one's writes directly (their streams are slower).
        self._siblings = Siblings(siblings_at, self._apply_changes) if siblings_at is not None else None
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
        # Called (without arguments, outside the lock) after the snapshot was replaced by a different one.
        self._listeners: list[Callable[[], None]] = []
        self.mode = "idle"

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

    def recent(self) -> Snapshot:
        """Return the snapshot as loaded while it is within the freshness bound, else get()'s.

        For the thousands of streams one change wakes at once: that change is what woke them, so get()'s wait for
        a write made elsewhere on this host would only queue each of them on the cache's lock in turn.
        """
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() - self._verified_at <= FRESHNESS_SECONDS:
            return snapshot
        return self.get()

    def confirmed(self) -> Snapshot:
        """Return the snapshot after asking the database for its revision now, whatever the freshness bound says.

        For a client that heard of a change (an event stream's etag) this process may not have applied yet.
        """
        self._ensure_following()
        self._verified_at = 0.0
        return self._verify_now()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call listener after every change of the snapshot; it reads `loaded` itself, so it always sees the latest."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:
                # A listener's bug must not stop the follower, nor fail the write that changed the snapshot.
                logger.exception("flag cache listener failed")

    def written(self, flag: dict[str, Any], revision: int | None) -> None:
        """Apply a flag this process just wrote, so its next read sees it, and tell the host's other processes."""
        self._apply_own([("upsert", flag)], revision)

    def deleted(self, flag_id: str, revision: int | None) -> None:
        """Drop a flag this process just deleted, and tell the host's other processes."""
        self._apply_own([("delete", flag_id)], revision)

    def written_many(
        self,
        flags: list[dict[str, Any]],
        deleted_ids: list[str],
        revision: int | None,
        segments: list[dict[str, Any]] | None = None,
        deleted_segment_ids: list[str] | None = None,
    ) -> None:
        """Apply a batch this process just wrote (an import) in one step, and tell the host's other processes."""
        # Segments first, as the batch wrote them: no snapshot holds a flag naming a segment it lacks.
        changes: list[tuple[str, Any]] = [("segment", segment) for segment in segments or ()]
        changes += [("segment_delete", segment_id) for segment_id in deleted_segment_ids or ()]
        changes += [("upsert", flag) for flag in flags] + [("delete", flag_id) for flag_id in deleted_ids]
        self._apply_own(changes, revision)

    def segment_written(self, segment: dict[str, Any], revision: int | None) -> None:
        """Apply a segment this process just wrote, and tell the host's other processes."""
        self._apply_own([("segment", segment)], revision)

    def segment_deleted(self, segment_id: str, revision: int | None) -> None:
        """Drop a segment this process just deleted, and tell the host's other processes."""
        self._apply_own([("segment_delete", segment_id)], revision)

    def token_written(self, token: dict[str, Any], revision: int | None) -> None:
        """Hold a token this process just created, so it works here at once, and tell the host's other processes."""
        held = {"_id": token["_id"], **{key: token.get(key) for key in HELD_TOKEN_FIELDS}}
        self._apply_own([("token", held)], revision)

    def token_deleted(self, token_id: str, revision: int | None) -> None:
        """Drop a token this process just revoked, so it stops working here at once; tell the host's others."""
        self._apply_own([("token_delete", token_id)], revision)

    def _apply_own(self, changes: list[tuple[str, Any]], revision: int | None) -> None:
        """Apply this process's own write, and tell the host's others: the revision it reached through the shared
        file (for read-your-writes), and the change itself to their sockets (so their streams' clients hear at once)."""
        self._apply_changes(changes)
        if revision is None:
            return
        if self._shared is not None:
            self._shared.publish(revision)
        if self._siblings is not None:
            self._siblings.tell([*changes, ("revision", revision)])

    # -- keeping the snapshot ----------------------------------------------------------------

    @staticmethod
    def _applied(snapshot: Snapshot, changes: list[tuple[str, Any]]) -> Snapshot:
        by_id = dict(snapshot.by_id)
        segments = dict(snapshot.segments)
        tokens = dict(snapshot.tokens)
        changed = tokens_changed = False
        changed_flags: set[str] = set()
        for kind, payload in changes:
            if kind == "token":
                tokens_changed |= tokens.get(payload["_id"]) != payload
                tokens[payload["_id"]] = payload
                continue
            if kind == "token_delete":
                tokens_changed |= tokens.pop(payload, None) is not None
                continue
            held = segments if kind in {"segment", "segment_delete"} else by_id
            if kind in {"upsert", "segment"} and newer(payload, held.get(payload["_id"])):
                held[payload["_id"]] = payload
                changed = True
                if kind == "upsert":
                    changed_flags.add(payload["_id"])
            elif kind in {"delete", "segment_delete"} and payload in held:
                del held[payload]
                changed = True
                if kind == "delete":
                    changed_flags.add(payload)
        if changed:
            return Snapshot(by_id, segments, tokens, base=snapshot, changed=changed_flags)
        return snapshot.with_tokens(tokens) if tokens_changed else snapshot

    def _apply_changes(self, changes: list[tuple[str, Any]]) -> None:
        """Apply changes in order (from the stream or this process's writes); a revision marker comes last."""
        with self._lock:
            for kind, payload in changes:
                self._change_seq += 1
                self._changes.append((self._change_seq, kind, payload))
            del self._changes[:-CHANGES_KEPT]
            held = self._snapshot
            if held is not None:
                self._snapshot = self._applied(held, changes)
                revisions = [payload for kind, payload in changes if kind == "revision"]
                if revisions:
                    self._revision = max(self._revision, *revisions)
                    self._caught_up.notify_all()
            changed = self._snapshot is not held
        if changed:
            self._notify()

    def _reload(self) -> Snapshot:
        """Read every flag and replace the snapshot, re-applying the changes that arrived meanwhile."""
        with self._lock:
            started_seq = self._change_seq
        revision = self._store.flags_revision()
        # The revision is read first: a write landing during the read bumps it past this value, so it is read again.
        flags = self._store.load_flags()
        segments = self._store.load_segments()
        tokens = self._store.load_tokens()
        with self._lock:
            later = [(kind, payload) for seq, kind, payload in self._changes if seq > started_seq]
            loaded = Snapshot(
                {flag["_id"]: flag for flag in flags},
                {segment["_id"]: segment for segment in segments},
                {token["_id"]: token for token in tokens},
            )
            self._snapshot = self._applied(loaded, later)
            self._revision = max([revision] + [payload for kind, payload in later if kind == "revision"])
            self._verified_at = time.monotonic()
            self._caught_up.notify_all()
            snapshot = self._snapshot
        self._notify()
        return snapshot

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
        pid = current_pid()
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
            if self._siblings is not None:
                self._siblings.start()
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
            # The app is done with its database (a test's app, a process ending): so is its socket.
            if self._siblings is not None:
                self._siblings.close()
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
        checked_at, behind = time.monotonic(), -1
        while True:
            batch = changes.next_changes()
            if any(kind == "reload" for kind, _ in batch):
                self._reload()
            elif batch:
                self._apply_changes(batch)
            if time.monotonic() - checked_at >= STREAM_CHECK_SECONDS:
                # A stream that stays open yet never delivers a change (seen with the embedded database, just after
                # a worker started) would keep a stale snapshot looking fresh: once a second the revision is
                # compared, and a lag that outlasts the next look is healed by a full read.
                checked_at, behind = time.monotonic(), self._behind(behind)
            self._verified_at = time.monotonic()

    def _behind(self, seen_ahead: int) -> int:
        """Reload if the database was already ahead at the last look and the stream has not caught up since.

        Return the database's revision while it is ahead of this process, else -1.
        """
        revision = self._store.flags_revision()
        if revision <= self._revision:
            return -1
        if 0 <= seen_ahead <= revision and self._revision < seen_ahead:
            logger.warning("flag change stream fell behind the database; reading everything again")
            self._reload()
            return -1
        return revision

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

"""Change notices per environment: a configuration ETag each environment's answers depend on, and a wake-up call.

The ETag hashes what evaluation reads in that environment (each served flag's rules for it, every segment), so it
is the same on every worker and instance holding the same flags, and a change elsewhere (another environment's
toggle, a description) leaves it alone. Segments are not per environment: a segment change moves every
environment's ETag that it changes.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from .flag_cache import FlagCache
from .snapshot import Snapshot

# What changes no answer: bookkeeping, and the words people read. Everything else counts, so a field added later
# moves the ETag (an event too many) rather than being missed (an event too few).
UNEVALUATED = frozenset(
    {"_id", "version", "created_at", "updated_at", "created_by", "updated_by", "description", "tags", "type"}
    | {"marked_stale", "recent_events", "last_evaluated_at"}
)
# Per environment, within a flag.
PER_ENVIRONMENT = ("environments", "targeting")
# The state that moves with any change a person could see (the admin UI's): every flag's version in every
# environment, descriptions and tags included, archived flags too, every segment and every token.
ALL_CHANGES = "*"


@dataclass(frozen=True)
class ConfigState:
    """An environment's configuration as this process holds it, and the event that fires when it next changes."""

    etag: str
    last_modified: int
    changed: threading.Event


def _digest(document: dict[str, Any]) -> bytes:
    return hashlib.blake2b(json.dumps(document, sort_keys=True, default=str).encode(), digest_size=16).digest()


def _everything(snapshot: Snapshot) -> str:
    # Tokens change without a new snapshot of flags (Snapshot.with_tokens keeps the memos): they are hashed apart.
    flags_and_segments = snapshot.memo(("all-changes",), lambda: _flags_and_segments(snapshot))
    hashed = hashlib.blake2b(flags_and_segments, digest_size=16)
    for token_id in sorted(snapshot.tokens):
        hashed.update(f"{token_id};".encode())
    return hashed.hexdigest()


def _flags_and_segments(snapshot: Snapshot) -> bytes:
    hashed = hashlib.blake2b(digest_size=16)
    for flag_id in sorted(snapshot.by_id):
        hashed.update(f"{flag_id}:{snapshot.by_id[flag_id]['version']};".encode())
    for segment in snapshot.ordered_segments:
        hashed.update(_digest(segment))
    return hashed.digest()


class ChangeNotices:
    """Per-environment configuration ETags of one process's flag cache, and an event per environment to wait on."""

    def __init__(self, cache: FlagCache, environments: tuple[str, ...]) -> None:
        self._cache = cache
        self._environments = environments
        self._lock = threading.Lock()
        self._states: dict[str, ConfigState] = {}
        self._seen: Snapshot | None = None
        # Each flag's digests by (id, version): a change re-hashes only the flags it touched.
        self._flag_digests: dict[tuple[str, int], dict[str, bytes]] = {}
        cache.add_listener(self._changed)

    def state(self, environment: str) -> ConfigState:
        """Return the environment's (or ALL_CHANGES') state now (loading the flags if this process has none yet)."""
        if self._seen is None or self._seen is not self._cache.loaded:
            self._cache.get()
            self._changed()
        return self._states[environment]

    def peek(self, environment: str) -> ConfigState:
        """Return the environment's state as last computed, without checking the cache (after one state() call)."""
        return self._states[environment]

    def wake_all(self) -> None:
        """Wake everything waiting on a change (a stopping worker ends its streams this way)."""
        with self._lock:
            events = [state.changed for state in self._states.values()]
        for event in events:
            event.set()

    def etags(self, snapshot: Snapshot) -> dict[str, str]:
        """Return every environment's configuration ETag for a snapshot, computed once per snapshot."""
        return snapshot.memo(("config-etags", self._environments), lambda: self._compute(snapshot))

    def _compute(self, snapshot: Snapshot) -> dict[str, str]:
        with self._lock:
            previous, digests = self._flag_digests, {}
            for flag in snapshot.served:
                key = (flag["_id"], flag["version"])
                digests[key] = previous.get(key) or self._flag_digest(flag)
            self._flag_digests = digests
        segments = b"".join(
            _digest({k: v for k, v in segment.items() if k not in UNEVALUATED}) for segment in snapshot.ordered_segments
        )
        etags = {}
        for environment in self._environments:
            hashed = hashlib.blake2b(segments, digest_size=16)
            for flag in snapshot.served:
                hashed.update(digests[(flag["_id"], flag["version"])][environment])
            etags[environment] = hashed.hexdigest()
        return etags

    def _flag_digest(self, flag: dict[str, Any]) -> dict[str, bytes]:
        shared = {k: v for k, v in flag.items() if k not in UNEVALUATED and k not in PER_ENVIRONMENT}
        return {
            environment: _digest(
                {**shared, **{field: (flag.get(field) or {}).get(environment) for field in PER_ENVIRONMENT}}
            )
            for environment in self._environments
        }

    def _changed(self) -> None:
        # The cache's latest snapshot, not one handed over: two writers' calls may arrive out of order.
        snapshot = self._cache.loaded
        if snapshot is None:
            return
        etags = {**self.etags(snapshot), ALL_CHANGES: _everything(snapshot)}
        fired = []
        with self._lock:
            # Seen already, or replaced since: the call of whoever replaced it brings the newer one.
            stale = self._seen is not None and snapshot is not self._cache.loaded
            if snapshot is self._seen or stale:
                return
            self._seen = snapshot
            now = int(time.time())
            for environment, etag in etags.items():
                held = self._states.get(environment)
                if held is None or held.etag != etag:
                    self._states[environment] = ConfigState(etag, now, threading.Event())
                    if held is not None:
                        fired.append(held.changed)
        for event in fired:
            event.set()

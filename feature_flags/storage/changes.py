"""Watching the flags change: a change stream in the project's terms, and the revision counter writes bump."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

import pymongo
from pymongo import ReturnDocument
from pymongo.errors import InvalidOperation, OperationFailure, PyMongoError

from ..errors import DatabaseUnavailable
from .client import StoreClosed, translated_errors

if TYPE_CHECKING:
    from .store import Store

logger = logging.getLogger(__name__)

# The meta document whose counter every flag write bumps, so a reader can tell cheaply whether anything changed.
FLAGS_REVISION_ID = "flags-revision"
# How long one wait on the change stream blocks before it reports "nothing new", proving the stream alive.
CHANGE_WAIT_MS = 200
FULL_READ_TIMEOUT_SECONDS = 30


class ChangesLost(Exception):
    """The change stream or the database went away; whoever follows changes must catch up another way."""


class ChangesUnsupported(ChangesLost):
    """The deployment has no change streams (a standalone server)."""


@contextmanager
def translated_changes() -> Iterator[None]:
    try:
        yield
    except InvalidOperation as error:
        raise StoreClosed(str(error)) from None
    except (PyMongoError, DatabaseUnavailable) as error:
        raise ChangesLost(str(error)) from error


class FlagChanges:
    """A change stream over the flags, in the project's terms.

    Changes are ("upsert", flag), ("delete", id), ("segment", segment), ("segment_delete", id), ("token", token),
    ("token_delete", id), ("revision", n)
    when the flags revision reached n (every change it counts came before it in the stream), and ("reload", None)
    when only a full read will do.
    """

    def __init__(self, store: Store, stream: Any) -> None:
        self._store = store
        self._stream = stream

    def next_changes(self) -> list[tuple[str, Any]]:
        """Wait up to CHANGE_WAIT_MS for changes and return them (often none); raise ChangesLost if the stream is."""
        changes: list[tuple[str, Any]] = []
        with translated_changes():
            while True:
                event = self._stream.try_next()
                if event is None:
                    if not self._stream.alive:
                        raise ChangesLost("the change stream was closed by the server")
                    return changes
                kind = event["operationType"]
                collection = event.get("ns", {}).get("coll")
                segment = collection == self._store._segments.name
                if collection == self._store._tokens.name:
                    changes += _token_change(event, self._store._token_out)
                elif collection == self._store._meta.name:
                    revision = _revision_of(event)
                    if revision is not None:
                        changes.append(("revision", revision))
                elif kind in {"insert", "update", "replace"}:
                    document = event.get("fullDocument")
                    # No document: it was deleted since, and its delete event follows.
                    if document is None:
                        pass
                    elif segment:
                        changes.append(("segment", self._store._segment_out(document)))
                    else:
                        changes.append(("upsert", self._store._flag_out(document)))
                elif kind == "delete":
                    changes.append(("segment_delete" if segment else "delete", str(event["documentKey"]["_id"])))
                else:
                    # drop, rename, dropDatabase, invalidate: start again from a full read.
                    changes.append(("reload", None))
                    return changes
                if len(changes) >= 1000:
                    return changes

    def close(self) -> None:
        """Close the stream, ignoring a database that is already gone."""
        with suppress(PyMongoError):
            self._stream.close()


def _token_change(event: dict[str, Any], held: Callable[[dict[str, Any]], dict[str, Any]]) -> list[tuple[str, Any]]:
    """A token created or revoked; its last-use stamps are not changes anyone follows."""
    kind = event["operationType"]
    if kind in {"insert", "replace"} and event.get("fullDocument"):
        return [("token", held(event["fullDocument"]))]
    if kind == "delete":
        return [("token_delete", str(event["documentKey"]["_id"]))]
    return []


def _revision_of(event: dict[str, Any]) -> int | None:
    """Return the flags revision an event on the meta collection set, or None if it is about something else."""
    if event.get("documentKey", {}).get("_id") != FLAGS_REVISION_ID:
        return None
    # The value this very update wrote, not the looked-up document, which may already be later than the
    # flag changes the stream has delivered so far.
    updated = (event.get("updateDescription") or {}).get("updatedFields") or {}
    if "n" in updated:
        return int(updated["n"])
    if event["operationType"] in {"insert", "replace"} and event.get("fullDocument"):
        return int(event["fullDocument"].get("n", 0))
    return None


class ChangeFeed:
    """The flags revision and the change stream, for whoever keeps a copy of the flags (the flag cache)."""

    def _bump_flags_revision(self) -> int | None:
        """Tell followers without a change stream that flags changed; called after the change is committed.

        Outside the change's transaction on purpose: inside, every pair of concurrent flag writes would
        conflict on this one document. After the commit, a follower that sees the new revision reads the
        change. A failure here must not fail a write that already happened; followers also re-read
        everything periodically, which covers a bump lost that way.
        """
        try:
            with translated_errors():
                document = self._meta.find_one_and_update(
                    {"_id": FLAGS_REVISION_ID}, {"$inc": {"n": 1}}, upsert=True, return_document=ReturnDocument.AFTER
                )
        except (DatabaseUnavailable, PyMongoError):
            logger.warning("could not bump the flags revision after a write")
            return None
        # None: the first bump raced another on a database that answers the loser with nothing.
        return int(document["n"]) if document is not None else None

    def flags_revision(self) -> int:
        """Return the flags revision: it grows with every flag write, so an unchanged value means no change."""
        with translated_changes():
            document = self._meta.find_one({"_id": FLAGS_REVISION_ID})
        return int(document["n"]) if document else 0

    def load_flags(self) -> list[dict[str, Any]]:
        """Return every flag, for a full read by a change follower (raises ChangesLost, not DatabaseUnavailable)."""
        # The client's timeout bounds a cursor's whole life; reading 10,000 flags can take longer than that.
        with translated_changes(), pymongo.timeout(FULL_READ_TIMEOUT_SECONDS):
            return [self._flag_out(d) for d in self._flags.find({}, {"recent_events": 0}, batch_size=1000)]

    def watch_flags(self) -> FlagChanges:
        """Open a change stream on flags, segments and tokens; raise ChangesUnsupported where there are none."""
        with translated_changes():
            try:
                # The flags, segments, tokens and the revision counter, in one stream: a revision event follows
                # the changes it counts. Of tokens only creation and revocation: a last-use stamp is no change.
                watched = [self._flags.name, self._segments.name, self._meta.name]
                tokens = {"ns.coll": self._tokens.name, "operationType": {"$in": ["insert", "replace", "delete"]}}
                stream = self.db.watch(
                    [{"$match": {"$or": [{"ns.coll": {"$in": watched}}, tokens]}}],
                    full_document="updateLookup",
                    max_await_time_ms=CHANGE_WAIT_MS,
                )
            except OperationFailure as error:
                # Standalone servers refuse $changeStream (code 40573); some say so only in words.
                if error.code in {40573, 40324, 115} or "replica set" in str(error).lower():
                    raise ChangesUnsupported(str(error)) from None
                raise
        return FlagChanges(self, stream)

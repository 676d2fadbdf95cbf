"""The host's other processes serving the same database, told of each write at once over local datagram sockets.

A worker that wrote applies the change itself at once; the others learn of it from their database change stream,
which on a loaded host (and with the embedded database) can take hundreds of milliseconds, and every event stream
those workers hold waits as long. So each process also sends what it wrote (the changed flags, segments and
tokens, and the revision reached) to its siblings' sockets in a directory only this user can enter; each applies
it as its stream would (by version, so the stream delivering the same change later changes nothing). A batch too
large for one datagram is left to the streams. Without a writable temporary directory nothing is sent, and the
streams carry every change as before.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import pickle
import socket
import stat
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# A datagram larger than this is not sent (Linux's default socket buffers take about 200 KB).
MAX_DATAGRAM_BYTES = 160 * 1024


class Siblings:
    """This process's socket among the host's processes serving one database, and how to tell them of a write."""

    def __init__(self, directory: Path, apply: Callable[[list[tuple[str, Any]]], None]) -> None:
        self._directory = directory
        self._apply = apply
        self._socket: socket.socket | None = None
        self._sender: socket.socket | None = None
        self._path: Path | None = None
        self._warned = False

    def start(self) -> None:
        """Bind this process's socket and receive in a thread of its own (after any fork)."""
        self.close()
        try:
            self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            _check_private(self._directory)
            path = self._directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
            receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            receiver.bind(str(path))
            # A sibling whose buffer is full must never hold up the request that wrote.
            sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sender.setblocking(False)
        except OSError as error:
            self._warn(error)
            return
        self._socket, self._sender, self._path = receiver, sender, path
        threading.Thread(target=self._receive, args=(receiver,), name="flag-siblings", daemon=True).start()

    def close(self) -> None:
        """Stop receiving and remove this process's socket."""
        receiver, sender, path = self._socket, self._sender, self._path
        self._socket = self._sender = self._path = None
        for opened in (receiver, sender):
            if opened is not None:
                with contextlib.suppress(OSError):
                    opened.close()
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()

    def tell(self, changes: list[tuple[str, Any]]) -> None:
        """Send changes (ending with the revision they reached) to every sibling; never raises."""
        if self._path is None:
            return
        data = pickle.dumps(changes, protocol=pickle.HIGHEST_PROTOCOL)
        if len(data) > MAX_DATAGRAM_BYTES:
            return  # the siblings' change streams carry it
        try:
            peers = [entry for entry in self._directory.iterdir() if entry != self._path]
        except OSError:
            return
        sender = self._sender
        if sender is None:
            return  # closed meanwhile
        for peer in peers:
            try:
                sender.sendto(data, str(peer))
            except OSError as error:
                if error.errno in (errno.ECONNREFUSED, errno.ENOENT):
                    # A process that ended without removing its socket.
                    with contextlib.suppress(OSError):
                        peer.unlink()
                # A full buffer (EAGAIN) or anything else: that sibling's stream brings the change.

    def _receive(self, receiver: socket.socket) -> None:
        while True:
            try:
                data = receiver.recv(MAX_DATAGRAM_BYTES + 1)
            except OSError:
                return  # closed
            try:
                # Only processes of this user can reach the socket (its directory is theirs alone).
                changes = pickle.loads(data)
                self._apply(changes)
            except Exception:
                logger.exception("could not apply a sibling's change; the change stream brings it")

    def _warn(self, error: OSError) -> None:
        if not self._warned:
            self._warned = True
            logger.warning(
                "cannot tell this host's other workers of changes directly; their change streams do",
                extra={"path": str(self._directory), "error": str(error)},
            )


def _check_private(directory: Path) -> None:
    """Refuse a directory someone else made or can enter: whoever can write to these sockets is trusted."""
    status = directory.lstat()
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid() or status.st_mode & 0o077:
        raise OSError(errno.EPERM, "not a directory of this user's alone", str(directory))


def siblings_directory(revision_path: Path) -> Path:
    """Where the processes sharing a revision file (one database, one host) keep their sockets."""
    return revision_path.parent / f"{revision_path.name}.siblings"

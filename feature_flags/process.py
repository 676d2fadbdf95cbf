"""Which process this is, without a system call: gunicorn forks its workers, and each per-process thread
(the flag cache's follower, the usage flusher, the scheduler) checks on every request that it runs here.
"""

from __future__ import annotations

import os

_pid = os.getpid()


def current_pid() -> int:
    """Return this process's id, as os.getpid() does, kept up to date across forks."""
    return _pid


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)

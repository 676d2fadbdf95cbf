"""The process id kept across forks, and request ids that never repeat across processes."""

from __future__ import annotations

import os

from feature_flags.process import current_pid
from feature_flags.web.hooks import REQUEST_ID, new_request_id


def test_current_pid__in_a_forked_child__the_childs_id():
    read, write = os.pipe()
    parent_ids = {new_request_id() for _ in range(3)}
    child = os.fork()
    if child == 0:  # the child reports its view and leaves at once, without pytest's cleanup
        os.close(read)
        os.write(write, f"{current_pid()} {os.getpid()} {new_request_id()}".encode())
        os._exit(0)
    os.close(write)
    reported = os.read(read, 200).decode().split()
    os.close(read)
    os.waitpid(child, 0)

    assert current_pid() == os.getpid()
    assert reported[0] == reported[1] == str(child)
    # The child draws its own prefix: its first id shares no prefix with the parent's
    assert all(reported[2][:20] != made[:20] for made in parent_ids)


def test_new_request_id__many__unique_32_hex_digits_and_loggable():
    made = [new_request_id() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert all(len(one) == 32 and int(one, 16) >= 0 and REQUEST_ID.match(one) for one in made)

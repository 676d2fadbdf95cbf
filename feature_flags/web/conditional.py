"""Conditional requests: ETags for prebuilt bodies, If-None-Match answered with 304."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request

from ..errors import VersionConflict


def body_etag(body: bytes) -> str:
    """Return an ETag for a response body: its hash, so equal answers share it."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def prebuilt_response(body: bytes, etag: str, conditional: bool = True) -> Response:
    """Answer with bytes built ahead of time, or 304 when the client holds them already (unless not conditional)."""
    # Weak comparison, as RFC 9110 has it for If-None-Match: a compressing proxy sends the tag back as W/"...".
    # A direct check rather than make_conditional, which would also process Range headers on every read.
    if conditional and request.if_none_match.contains_weak(etag):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(body, mimetype="application/json")
    response.set_etag(etag)
    return response


def expected_version(load: Callable[[], dict[str, Any]], matches: Callable[[str, dict[str, Any]], bool]) -> int | None:
    """Turn If-Match into the version a write must find; raise VersionConflict if already stale.

    load reads the subject as stored (raising its 404 when there is none); matches says whether a tag names it.
    """
    if not request.if_match:
        return None
    current = load()
    if request.if_match.star_tag:
        return None
    # Weak comparison on purpose: the tag names a version, not bytes, and a compressing proxy (nginx's gzip)
    # turns it into W/"..." on the way out, which a client then sends back.
    if not any(matches(tag, current) for tag in request.if_match.as_set(include_weak=True)):
        raise VersionConflict(current_version=current["version"])
    return current["version"]


def if_match_check(matches: Callable[[str, dict[str, Any]], bool]) -> Callable[[dict[str, Any]], None] | None:
    """Return If-Match as a check of the subject as a write finds it (None without one, or for *).

    Made inside the write, on every attempt, so a tag is judged against exactly what the write replaces: a
    change landing between a separate read and the write cannot slip past it. The check raises VersionConflict.
    """
    if not request.if_match or request.if_match.star_tag:
        return None
    # Weak comparison, as expected_version makes it.
    tags = request.if_match.as_set(include_weak=True)

    def check(current: dict[str, Any]) -> None:
        if not any(matches(tag, current) for tag in tags):
            raise VersionConflict(current_version=current["version"])

    return check

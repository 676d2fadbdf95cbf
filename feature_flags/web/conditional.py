"""Conditional requests: ETags for prebuilt bodies, If-None-Match answered with 304."""

from __future__ import annotations

import hashlib

from flask import Response, current_app, request


def body_etag(body: bytes) -> str:
    """Return an ETag for a response body: its hash, so equal answers share it."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def prebuilt_response(body: bytes, etag: str) -> Response:
    """Answer with bytes built ahead of time, or 304 when the client holds them already."""
    # Weak comparison, as RFC 9110 has it for If-None-Match: a compressing proxy sends the tag back as W/"...".
    # A direct check rather than make_conditional, which would also process Range headers on every read.
    if request.if_none_match.contains_weak(etag):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(body, mimetype="application/json")
    response.set_etag(etag)
    return response

"""The write path of tokens: secrets made and hashed, tokens created with their event, the first-start token."""

from __future__ import annotations

import hashlib
import logging
import secrets
import sys
from typing import Any

from ..cache import FlagCache
from ..errors import NameTaken
from ..storage import Store

logger = logging.getLogger(__name__)

FIRST_START_TOKEN_NAME = "admin (first start)"
# The actor recorded for what FF_ADMIN_TOKEN and the first start do.
BOOTSTRAP_ACTOR = "bootstrap"


def new_secret(role: str) -> str:
    """Return a fresh token secret: 192 random bits behind a prefix secret scanners recognise."""
    return f"ff_{role}_{secrets.token_urlsafe(24)}"


def hash_secret(secret: str) -> str:
    """Return the stored form of a secret. Secrets carry 192 random bits, so one SHA-256 suffices."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def listed(token: dict[str, Any]) -> dict[str, Any]:
    """Return a token as the API lists it: never its hash or secret."""
    return {
        "id": token["_id"],
        "name": token["name"],
        "role": token["role"],
        "environment": token.get("environment"),
        "created_at": token["created_at"],
        "created_by": token.get("created_by"),
        "last_used_at": token.get("last_used_at"),
    }


def create_token(
    store: Store, fields: dict[str, Any], actor: str, request_id: str | None = None, cache: FlagCache | None = None
) -> dict[str, Any]:
    """Create a token and return its listing plus the secret, which exists nowhere else afterwards.

    Given this process's cache, the token works here at once; other processes learn of it as of a flag change.
    """
    secret = new_secret(fields["role"])
    digest = hash_secret(secret)
    written = store.create_token(fields, digest, actor, request_id)
    if cache is not None:
        # With its hash (the stored token's answer leaves it out), or neither this process nor its siblings would
        # know the token until their streams brought it.
        cache.token_written({**written.token, "hash": digest}, written.revision)
    return {**listed(written.token), "token": secret}


def revoke_token(
    store: Store, token_id: str, actor: str, request_id: str | None = None, cache: FlagCache | None = None
) -> dict[str, Any]:
    """Revoke a token and return it as it was; given this process's cache, it stops working here at once."""
    written = store.revoke_token(token_id, actor, request_id)
    if cache is not None:
        cache.token_deleted(written.token["_id"], written.revision)
    return written.token


def bootstrap_admin_token(store: Store, stream=None) -> str | None:
    """On a first start with no tokens at all, create an admin token and print it once."""
    if store.count_tokens() > 0:
        return None
    try:
        created = create_token(store, {"name": FIRST_START_TOKEN_NAME, "role": "admin"}, actor=BOOTSTRAP_ACTOR)
    except NameTaken:
        return None  # another worker of this start won the race and printed it
    stream = stream or sys.stderr
    line = "=" * 72
    print(
        f"\n{line}\n  An admin token was created for this first start. It is shown only now:\n\n"
        f"      {created['token']}\n\n"
        f"  Use it as:  curl -H 'Authorization: Bearer <token>' http://HOST:PORT/flags\n"
        f"  Create more with POST /tokens or 'flask tokens create'.\n{line}\n",
        file=stream,
        flush=True,
    )
    logger.warning("first-start admin token created and printed on the console", extra={"token_id": created["id"]})
    return created["token"]

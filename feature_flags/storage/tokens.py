"""API tokens in MongoDB, stored by the hash of their secret."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError
from pymongo.write_concern import WriteConcern

from ..audit import actions
from ..errors import NameTaken, TokenNameTaken, TokenNotFound
from .client import as_object_id, public_document, translated_errors, utcnow

# A token's last use is stamped at most this often, so a busy client costs one write a minute, not one a request.
LAST_USED_EVERY_SECONDS = 60
LAST_USED_RESOLUTION = timedelta(seconds=LAST_USED_EVERY_SECONDS)


class TokenStorage:
    """Creating, finding, stamping and revoking tokens."""

    # -- tokens ------------------------------------------------------------------------------

    def create_token(
        self, fields: dict[str, Any], token_hash: str, actor: str, request_id: str | None = None
    ) -> dict[str, Any]:
        """Store a token by its hash with its created event; raise TokenNameTaken on a clash."""
        document = {
            "_id": ObjectId(),
            "name": fields["name"],
            "role": fields["role"],
            "environment": fields.get("environment"),
            "hash": token_hash,
            "created_at": utcnow(),
            "created_by": actor,
            "last_used_at": None,
        }
        public = public_document(document)
        event = self._event(
            actions.TOKEN_CREATED,
            actor,
            request_id,
            token_id=public["_id"],
            token_name=fields["name"],
            before=None,
            after={k: public[k] for k in ("name", "role", "environment")},
        )
        document["recent_events"] = [event["_id"]]
        with translated_errors():
            try:
                self._insert_recorded(self._tokens, document, event)
            except DuplicateKeyError as error:
                if "hash" in str(error.details or {}).split("keyPattern", 1)[-1]:
                    raise NameTaken("That token already exists.") from None
                raise TokenNameTaken() from None
        return public

    def find_all_tokens(self) -> list[dict[str, Any]]:
        """Return every token without its hash, oldest first."""
        with translated_errors():
            return [public_document(d) for d in self._tokens.find({}, {"hash": 0, "recent_events": 0}).sort("_id", 1)]

    def count_tokens(self) -> int:
        """Return how many tokens exist."""
        with translated_errors():
            return self._tokens.count_documents({})

    def find_token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        """Return the token stored under this hash (hash included, for a constant-time check)."""
        with translated_errors():
            document = self._tokens.find_one({"hash": token_hash}, {"recent_events": 0})
        return None if document is None else {**document, "_id": str(document["_id"])}

    def token_exists(self, token_id: str) -> bool:
        """Return whether a token with this id exists (is not revoked)."""
        object_id = as_object_id(token_id)
        if object_id is None:
            return False
        with translated_errors():
            return self._tokens.count_documents({"_id": object_id}, limit=1) == 1

    def touch_token(self, token_id: str) -> None:
        """Record that a token was used, at most once a minute so reads stay cheap."""
        now = utcnow()
        # Usage stamps are a convenience, not a change: they need no majority round trip.
        quick = self._tokens.with_options(write_concern=WriteConcern(w=1))
        stale = [{"last_used_at": None}, {"last_used_at": {"$lt": now - LAST_USED_RESOLUTION}}]
        with translated_errors():
            quick.update_one({"_id": ObjectId(token_id), "$or": stale}, {"$set": {"last_used_at": now}})

    def revoke_token(self, token_id: str, actor: str, request_id: str | None = None) -> dict[str, Any]:
        """Delete a token and record the event; raise TokenNotFound if it does not exist."""
        object_id = as_object_id(token_id)
        if object_id is None:
            raise TokenNotFound()
        with translated_errors():
            document = self._tokens.find_one({"_id": object_id}, {"hash": 0, "recent_events": 0})
            if document is None:
                raise TokenNotFound()
            public = public_document(document)
            event = self._event(
                actions.TOKEN_REVOKED,
                actor,
                request_id,
                token_id=token_id,
                token_name=public["name"],
                before={k: public[k] for k in ("name", "role", "environment")},
                after=None,
            )

            def write(session: ClientSession | None) -> bool:
                return self._tokens.delete_one({"_id": object_id}, session=session).deleted_count == 1

            if not self._record(write, event):
                raise TokenNotFound()
        return public

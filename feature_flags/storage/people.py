"""People who sign in through the identity provider, and their server-side sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from ..audit import actions
from ..errors import DatabaseUnavailable, UserNotFound
from .audit_log import RECENT_EVENT_IDS_KEPT
from .client import as_object_id, public_document, translated_errors, utcnow
from .flags import MAX_WRITE_ATTEMPTS

# What a listed user shows (the provider's issuer stays internal: one service, one provider).
USER_FIELDS = ("subject", "name", "email", "role", "environment_roles", "active", "created_at", "last_sign_in_at")


class PeopleStorage:
    """Users keyed by the provider's (issuer, subject), and sessions stored by the hash of their secret."""

    def _people_indexes(self) -> None:
        self._users.create_index([("issuer", ASCENDING), ("subject", ASCENDING)], unique=True, name="identity")
        self._sessions.create_index([("user_id", ASCENDING)], name="by_user")
        # A session past its absolute lifetime is removed by the database; reads check the lifetimes anyway.
        self._sessions.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expiry")
        self._oidc_flows.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expiry")

    @staticmethod
    def _user_out(document: dict[str, Any]) -> dict[str, Any]:
        public = public_document(document)
        user = {"_id": public["_id"], **{key: public.get(key) for key in USER_FIELDS}}
        user["environment_roles"] = user["environment_roles"] or {}
        return user

    def sign_in_user(
        self,
        issuer: str,
        claims: dict[str, Any],
        roles: tuple[str, dict[str, str]] | None,
        default_role: str,
        request_id: str | None,
    ) -> dict[str, Any]:
        """Return the user the claims name, created on first sign-in (audited), their name and e-mail refreshed.

        roles: the role and roles per environment the provider's roles claim says (it then decides, at every
        sign-in), or None to keep the stored ones (default_role for someone new).
        """
        role, environment_roles = roles or (None, {})
        now = utcnow()
        identity = {"issuer": issuer, "subject": claims["sub"]}
        seen = {"name": claims.get("name"), "email": claims.get("email"), "last_sign_in_at": now}
        with translated_errors():
            existing = self._users.find_one(identity)
            if existing is None:
                document = {
                    "_id": ObjectId(),
                    **identity,
                    **seen,
                    "role": role or default_role,
                    "environment_roles": environment_roles,
                    "active": True,
                    "created_at": now,
                }
                user = self._user_out(document)
                event = self._event(
                    actions.USER_CREATED,
                    user["email"] or user["name"] or user["subject"],
                    request_id,
                    user_id=user["_id"],
                    before=None,
                    after=_described(user),
                )
                document["recent_events"] = [event["_id"]]
                try:
                    self._insert_recorded(self._users, document, event)
                except DuplicateKeyError:
                    # Two first sign-ins at once: the other one created the user.
                    existing = self._users.find_one(identity)
                else:
                    return user
            changes = dict(seen)
            claimed = {"role": role, "environment_roles": environment_roles}
            stored = {"role": existing["role"], "environment_roles": existing.get("environment_roles") or {}}
            if role is not None and claimed != stored:
                return self._update_user(existing, claimed, "identity provider", request_id, also=changes)
            document = self._users.find_one_and_update(
                {"_id": existing["_id"]}, {"$set": changes}, return_document=ReturnDocument.AFTER
            )
            return self._user_out(document)

    def list_users(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Return every user, in the order they first signed in."""
        with translated_errors():
            return [self._user_out(d) for d in self._users.find({}, sort=[("_id", ASCENDING)], limit=limit)]

    def get_user(self, user_id: str) -> dict[str, Any]:
        """Return one user, or raise UserNotFound."""
        with translated_errors():
            document = self._users.find_one({"_id": as_object_id(user_id)}) if as_object_id(user_id) else None
        if document is None:
            raise UserNotFound()
        return self._user_out(document)

    def change_user(self, user_id: str, changes: dict[str, Any], actor: str, request_id: str | None) -> dict[str, Any]:
        """Change a user's role, roles per environment or active state (audited); deactivating ends their sessions."""
        object_id = as_object_id(user_id)
        with translated_errors():
            existing = self._users.find_one({"_id": object_id}) if object_id else None
            if existing is None:
                raise UserNotFound()
            return self._update_user(existing, changes, actor, request_id)

    def _update_user(
        self,
        existing: dict[str, Any],
        changes: dict[str, Any],
        actor: str,
        request_id: str | None,
        also: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        for _ in range(MAX_WRITE_ATTEMPTS):
            before = self._user_out(existing)
            after = {**before, **changes}
            if after == before:
                if also:
                    self._users.update_one({"_id": existing["_id"]}, {"$set": also})
                if changes.get("active") is False:
                    self._sessions.delete_many({"user_id": existing["_id"]})
                return self._user_out({**existing, **(also or {})})
            event = self._event(
                actions.USER_UPDATED,
                actor,
                request_id,
                user_id=before["_id"],
                before=_described(before),
                after=_described(after),
            )
            recent = [*existing.get("recent_events", []), event["_id"]][-RECENT_EVENT_IDS_KEPT:]

            def write(session, existing=existing, recent=recent) -> bool:
                result = self._users.update_one(
                    {"_id": existing["_id"], "recent_events": existing.get("recent_events", [])},
                    {"$set": {**changes, **(also or {}), "recent_events": recent}},
                    session=session,
                )
                return result.modified_count == 1

            if self._record(write, event):
                if changes.get("active") is False:
                    self._sessions.delete_many({"user_id": existing["_id"]})
                return self._user_out({**existing, **changes, **(also or {})})
            # Changed meanwhile (another admin, or a sign-in): apply to what is there now.
            existing = self._users.find_one({"_id": existing["_id"]})
            if existing is None:
                raise UserNotFound()
        raise DatabaseUnavailable("The user is changing too fast to apply this change; retry.")

    # -- the sign-in flow's state (Authlib's cache: state, nonce and PKCE verifier, used once) ----------

    def flow_get(self, key: str) -> str | None:
        """Return what the sign-in flow stored under key, if it has not expired."""
        with translated_errors():
            document = self._oidc_flows.find_one({"_id": key, "expires_at": {"$gt": utcnow()}})
        return None if document is None else document["value"]

    def flow_set(self, key: str, value: str, expires_at: datetime) -> None:
        """Store the sign-in flow's state under key until expires_at."""
        with translated_errors():
            self._oidc_flows.replace_one({"_id": key}, {"value": value, "expires_at": expires_at}, upsert=True)

    def flow_delete(self, key: str) -> None:
        """Forget the flow's state: its state value cannot be used again."""
        with translated_errors():
            self._oidc_flows.delete_one({"_id": key})

    # -- sessions ------------------------------------------------------------------------------

    def create_session(self, session_hash: str, user_id: str, csrf: str, expires_at: datetime) -> None:
        """Store a new session by the hash of its secret."""
        now = utcnow()
        document = {
            "_id": session_hash,
            "user_id": ObjectId(user_id),
            "csrf": csrf,
            "created_at": now,
            "last_seen_at": now,
            "expires_at": expires_at,
        }
        with translated_errors():
            self._sessions.insert_one(document)

    def find_session(self, session_hash: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Return a session and its user (read from the database each time, so an ended one ends everywhere)."""
        with translated_errors():
            session = self._sessions.find_one({"_id": session_hash})
            if session is None:
                return None
            user = self._users.find_one({"_id": session["user_id"]})
        if user is None:
            return None
        return session, self._user_out(user)

    def touch_session(self, session_hash: str, at: datetime) -> None:
        """Note a session's use (idle expiry counts from here)."""
        with translated_errors():
            self._sessions.update_one({"_id": session_hash}, {"$set": {"last_seen_at": at}})

    def end_session(self, session_hash: str) -> None:
        """Remove a session (sign-out, or found expired)."""
        with translated_errors():
            self._sessions.delete_one({"_id": session_hash})


def _described(user: dict[str, Any]) -> dict[str, Any]:
    return {key: user.get(key) for key in ("subject", "name", "email", "role", "environment_roles", "active")}

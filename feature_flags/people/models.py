"""Users as the API shows them, and what an admin may change."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ..validation import RequestModel

UserRole = Literal["viewer", "editor", "admin"]
USER_ROLES: tuple[str, ...] = get_args(UserRole)


class User(BaseModel):
    """A person who has signed in through the identity provider."""

    id: str = Field(alias="_id")
    subject: str = Field(description="The provider's `sub` claim")
    name: str | None
    email: str | None
    role: UserRole = Field(
        description="viewer reads everything; editor also changes flags, segments and schedules; "
        "admin also tokens, webhooks, users and imports"
    )
    active: bool = Field(description="false: deactivated, every session ended, sign-in refused")
    created_at: str
    last_sign_in_at: str | None


class UserChange(RequestModel):
    """What an admin may change about a user; at least one field."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    role: UserRole = Field(None, description="The person's role from now on")  # type: ignore[assignment]
    active: StrictBool = Field(None, description="false deactivates: every session ends at once")  # type: ignore[assignment]


class SignedIn(BaseModel):
    """The session the browser's cookie names: who it is, and the token state-changing requests must carry."""

    user: User
    csrf_token: str = Field(description="Send as the X-CSRF-Token header on every POST, PUT, PATCH and DELETE")
    environments: list[str]

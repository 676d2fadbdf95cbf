"""Users as the API shows them, and what an admin may change."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from ..validation import ENVIRONMENT_KEYS, RequestModel, known_environment_keys

UserRole = Literal["viewer", "editor", "admin"]
USER_ROLES: tuple[str, ...] = get_args(UserRole)
# What a person may be in one environment, where it differs from their role: an admin is an admin everywhere.
EnvironmentRole = Literal["viewer", "editor"]
ENVIRONMENT_ROLES: tuple[str, ...] = get_args(EnvironmentRole)
EnvironmentRoles = Annotated[
    dict[str, EnvironmentRole],
    AfterValidator(known_environment_keys),
    Field(
        description="Environment name to viewer or editor, where it differs from role (an admin's are ignored)",
        examples=[{"production": "viewer"}],
        json_schema_extra=ENVIRONMENT_KEYS,
    ),
]


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
    environment_roles: dict[str, EnvironmentRole] = Field(
        description="Where the role differs by environment: editor in staging, viewer in production, say"
    )
    active: bool = Field(description="false: deactivated, every session ended, sign-in refused")
    created_at: str
    last_sign_in_at: str | None


class UserChange(RequestModel):
    """What an admin may change about a user; at least one field."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    role: UserRole = Field(None, description="The person's role from now on")  # type: ignore[assignment]
    environment_roles: EnvironmentRoles = Field(None, description="Replaces the roles per environment")  # type: ignore[assignment]
    active: StrictBool = Field(None, description="false deactivates: every session ends at once")  # type: ignore[assignment]


class SignedIn(BaseModel):
    """The session the browser's cookie names: who it is, and the token state-changing requests must carry."""

    user: User
    csrf_token: str = Field(description="Send as the X-CSRF-Token header on every POST, PUT, PATCH and DELETE")
    environments: list[str]


class EnvironmentAccess(BaseModel):
    """What the caller may do in one environment."""

    name: str
    role: Literal["viewer", "editor", "admin", "server", "client"] | None = Field(
        description="null: a token bound to another environment, which cannot read this one"
    )
    approvals: bool = Field(
        description="Changes here are change requests someone else approves (FF_APPROVALS); direct writes answer 409"
    )


class Caller(BaseModel):
    """Who is calling, with what role in each environment: what a page needs to offer the right controls."""

    name: str
    kind: Literal["person", "token"]
    role: str
    user_id: str | None
    token_id: str | None = Field(
        None,
        description="The id of the token calling (as GET /tokens lists it), so a page can warn before it is revoked; "
        "null for a person, FF_ADMIN_TOKEN and FF_AUTH=off",
    )
    environments: list[EnvironmentAccess]

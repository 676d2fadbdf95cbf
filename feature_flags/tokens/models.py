"""Token request and response models."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from ..validation import EnvironmentName, RequestModel

RoleName = Literal["admin", "editor", "server", "client"]
ROLES: tuple[str, ...] = get_args(RoleName)

TokenName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$"),
    Field(description="1 to 100 letters, digits, spaces, '-', '_' or '.'; unique", examples=["checkout-service"]),
]


class TokenCreate(RequestModel):
    # _environment_matches_role's rule, stated for the OpenAPI document.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "properties": {"role": {"const": "client"}, "environment": {"type": "string"}},
                    "required": ["environment"],
                },
                {
                    "properties": {"role": {"const": "server"}, "environment": {"type": "string"}},
                    "required": ["environment"],
                },
                {"properties": {"role": {"const": "editor"}}},
                {"properties": {"role": {"const": "admin"}, "environment": {"type": "null"}}},
            ]
        }
    )

    name: TokenName
    role: RoleName
    environment: EnvironmentName | None = Field(
        None,
        description="Required for client and server tokens: the one they read. An editor token given one reads and "
        "changes that environment only; without, every environment",
    )

    @model_validator(mode="after")
    def _environment_matches_role(self) -> TokenCreate:
        if self.role in ("client", "server") and self.environment is None:
            raise ValueError(f"a {self.role} token needs an environment")
        if self.role == "admin" and self.environment is not None:
            raise ValueError("an admin token covers every environment; leave environment out")
        return self


class Token(BaseModel):
    """A token as listed: never its secret."""

    id: str
    name: str
    role: RoleName
    environment: str | None
    created_at: str
    created_by: str | None = None
    last_used_at: str | None = None


class CreatedToken(Token):
    token: str = Field(description="The secret, shown this once; send it as 'Authorization: Bearer <token>'")

"""Request and response models: the one place a field's rules live, for validation and for OpenAPI."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from .errors import ValidationFailed

FLAG_NAME_PATTERN = r"^[A-Za-z0-9._-]{1,100}$"
MAX_DESCRIPTION_LENGTH = 1000

FlagName = Annotated[
    str,
    StringConstraints(pattern=FLAG_NAME_PATTERN),
    Field(description="1 to 100 letters, digits, '-', '_' or '.'; unique", examples=["new-checkout"]),
]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_LENGTH, description="Free text for people")]


def _known_environment(value: str, info: ValidationInfo) -> str:
    known = (info.context or {}).get("environments", ())
    if value not in known:
        raise ValueError(f"unknown environment {value!r}; known: {', '.join(known)}")
    return value


def _known_environment_keys(value: dict[str, bool], info: ValidationInfo) -> dict[str, bool]:
    for key in value:
        _known_environment(key, info)
    return value


EnvironmentName = Annotated[str, AfterValidator(_known_environment), Field(examples=["production"])]
EnvironmentStates = Annotated[
    dict[str, bool],
    AfterValidator(_known_environment_keys),
    Field(description="Environment name to on (true) or off (false)", examples=[{"production": True}]),
]


class RequestModel(BaseModel):
    """A request body: strict types, no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True)


class FlagCreate(RequestModel):
    name: FlagName
    description: Description = ""
    environments: EnvironmentStates = Field(default_factory=dict)


class FlagUpdate(RequestModel):
    name: FlagName | None = None
    description: Description | None = None
    environments: EnvironmentStates | None = None


class ToggleRequest(RequestModel):
    environment: EnvironmentName | None = None


class Flag(BaseModel):
    """A flag as the API returns it."""

    id: str = Field(alias="_id")
    name: str
    description: str
    environments: dict[str, bool]
    version: int = Field(description="Starts at 1, +1 on every change; the ETag is built from it")
    created_at: str = Field(description="ISO 8601, UTC")
    updated_at: str = Field(description="ISO 8601, UTC")
    created_by: str | None = None
    updated_by: str | None = None
    enabled: bool | None = Field(None, description="State in the requested environment (list and toggle)")


class ErrorBody(BaseModel):
    """Every error the API returns."""

    error: str = Field(description="Machine-readable code, e.g. validation_error")
    message: str = Field(description="A sentence for a person")
    details: list[dict[str, Any]] | None = None


def parse(model: type[RequestModel], data: Any, environments: tuple[str, ...]) -> RequestModel:
    """Validate data against a model; raise ValidationFailed listing each bad field."""
    try:
        return model.model_validate(data, context={"environments": environments})
    except ValidationError as error:
        details = [
            {
                "field": ".".join(str(part) for part in item["loc"]) or "(body)",
                "message": item["msg"],
                "type": item["type"],
            }
            for item in error.errors(include_url=False, include_input=False, include_context=False)
        ]
        first = details[0]
        raise ValidationFailed(f"{first['field']}: {first['message']}", details=details) from None


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """Return a model's JSON schema with references pointing into OpenAPI components."""
    return model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)


RoleName = Literal["admin", "client"]

TokenName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$"),
    Field(description="1 to 100 letters, digits, spaces, '-', '_' or '.'; unique", examples=["checkout-service"]),
]


class TokenCreate(RequestModel):
    name: TokenName
    role: RoleName
    environment: EnvironmentName | None = Field(None, description="Required for client tokens: the one they read")

    @model_validator(mode="after")
    def _environment_matches_role(self) -> TokenCreate:
        if self.role == "client" and self.environment is None:
            raise ValueError("a client token needs an environment")
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


AuditAction = Literal["flag.created", "flag.updated", "flag.toggled", "flag.deleted", "token.created", "token.revoked"]


class AuditQuery(BaseModel):
    """Filters and paging for the audit trail, from the query string."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=500)
    before: str | None = Field(None, description="An event id: return events older than it")
    actor: str | None = None
    action: AuditAction | None = None
    flag: str | None = Field(None, description="A flag id or name")
    since: AwareDatetime | None = None


class AuditEvent(BaseModel):
    """One recorded change."""

    id: str = Field(alias="_id")
    at: str
    actor: str
    action: AuditAction
    request_id: str | None = None
    flag_id: str | None = None
    flag_name: str | None = None
    token_id: str | None = None
    token_name: str | None = None
    environment: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class AuditPage(BaseModel):
    events: list[AuditEvent]
    next_before: str | None = Field(description="Pass as ?before= for the next page; null on the last")

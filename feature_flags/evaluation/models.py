"""OFREP request and response bodies, shaped as open-feature/protocol's service/openapi.yaml has them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

from ..validation import ENVIRONMENT_VALUE
from . import engine as evaluation

OfrepErrorCode = Literal["PARSE_ERROR", "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "GENERAL"]


class OfrepContext(BaseModel):
    """The evaluation context: targetingKey, and any attributes the flag's rules and splits read."""

    # The bounds check_context enforces, as JSON Schema states them (the 32 KiB total is in the description).
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "maxProperties": evaluation.MAX_CONTEXT_ATTRIBUTES,
            "propertyNames": {"maxLength": evaluation.MAX_ATTRIBUTE_NAME_LENGTH},
            "additionalProperties": {
                "anyOf": [
                    {"type": "string", "maxLength": evaluation.MAX_CONTEXT_STRING_LENGTH},
                    {"not": {"type": "string"}},
                ]
            },
            "description": f"At most {evaluation.MAX_CONTEXT_BYTES} bytes of request body, "
            f"{evaluation.MAX_CONTEXT_ATTRIBUTES} attributes and {evaluation.MAX_CONTEXT_STRING_LENGTH} characters "
            "per string.",
        },
    )

    targetingKey: str | None = Field(
        None,
        max_length=evaluation.MAX_CONTEXT_STRING_LENGTH,
        description="The user; splits hash it unless the flag names another attribute",
    )


class OfrepRequest(BaseModel):
    """An evaluation request; a missing body or context is an empty context."""

    context: OfrepContext | None = None


class OfrepEvaluation(BaseModel):
    """One flag's value for the context."""

    key: str
    value: StrictBool | StrictStr | StrictInt | StrictFloat | dict[str, Any]
    reason: str = Field(examples=["STATIC", "TARGETING_MATCH", "SPLIT", "DEFAULT", "DISABLED", "PREREQUISITE_FAILED"])
    variant: str
    metadata: dict[str, StrictBool | StrictStr | StrictInt | StrictFloat]


class OfrepEvaluationFailure(BaseModel):
    """A flag that could not be evaluated for this request."""

    key: str
    errorCode: OfrepErrorCode
    errorDetails: str


class OfrepFlagNotFound(BaseModel):
    """No flag has the key."""

    key: str
    errorCode: Literal["FLAG_NOT_FOUND"]
    errorDetails: str


# Bounds of the query parameters a provider sends back from an event stream's event (ADR-0008).
MAX_FLAG_CONFIG_ETAG_CHARS = 128
MAX_FLAG_CONFIG_LAST_MODIFIED_CHARS = 64


class OfrepBulkQuery(BaseModel):
    """The bulk evaluation's query string."""

    environment: str | None = Field(
        None, description="An admin token's choice of environment", json_schema_extra=ENVIRONMENT_VALUE
    )
    flagConfigEtag: str | None = Field(
        None,
        max_length=MAX_FLAG_CONFIG_ETAG_CHARS,
        description="The etag of the event that caused this request: a server behind it checks the database first, "
        "and one that differs from the current configuration is answered in full (never 304)",
    )
    flagConfigLastModified: str | None = Field(
        None,
        max_length=MAX_FLAG_CONFIG_LAST_MODIFIED_CHARS,
        description="The event's lastModified; accepted and not needed (the etag decides)",
    )


class OfrepEventStream(BaseModel):
    """Where to hear of changes: an SSE URL whose ticket admits this caller to its environment's stream."""

    type: Literal["sse"]
    url: str = Field(description="Opaque and sensitive (it carries a ticket): never log or store it")
    inactivityDelaySec: int = Field(ge=1)


class OfrepBulkEvaluation(BaseModel):
    """Every flag's value for the context, or why one could not be evaluated."""

    flags: list[OfrepEvaluation | OfrepEvaluationFailure]
    eventStreams: list[OfrepEventStream] | None = None


class OfrepBulkFailure(BaseModel):
    """A bulk request that could not be evaluated at all."""

    errorCode: OfrepErrorCode
    errorDetails: str


class ChangeStream(BaseModel):
    """Where the caller hears of every change it could see: the admin UI's live view."""

    etag: str
    stream: str = Field(description="The Server-Sent Events stream's path and ticket, relative to the API's base URL")

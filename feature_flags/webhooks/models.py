"""A webhook's request and response models, the events it may name, and how its address is shown in logs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from ..audit import actions
from ..validation import RequestModel, not_nullable

MAX_WEBHOOKS = 50
MAX_URL_LENGTH = 2048
ALL_EVENTS = "*"
# Every audited action, each area's "<area>.*", and "*": the closed set a webhook's events come from.
EVENT_PATTERNS: tuple[str, ...] = (
    ALL_EVENTS,
    *sorted({f"{action.partition('.')[0]}.*" for action in actions.ALL}),
    *actions.ALL,
)
FORMATS = ("json", "slack")

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
# The whole rule, as the OpenAPI document states it: http or https, optional user:password@, a host name or IPv4
# address, an optional port, then printable ASCII without spaces (anything else must be percent-encoded).
URL_PATTERN = (
    rf"^(https?)://(?:[A-Za-z0-9._~%!$&'()*+,;=:-]+@)?({_LABEL}(?:\.{_LABEL})*)(?::({_PORT}))?([/?#][\x21-\x7e]*)?$"
)
_URL = re.compile(URL_PATTERN)

EventPattern = Literal[EVENT_PATTERNS]  # type: ignore[valid-type]
Format = Literal[FORMATS]  # type: ignore[valid-type]
WebhookUrl = Annotated[
    str,
    StringConstraints(max_length=MAX_URL_LENGTH, pattern=URL_PATTERN),
    Field(
        description=f"http or https, at most {MAX_URL_LENGTH} characters; user:password@ is sent as Basic auth",
        examples=["https://hooks.example.com/feature-flags"],
    ),
]
Secret = Annotated[
    str,
    StringConstraints(min_length=16, max_length=256, pattern=r"^[\x21-\x7e]+$"),
    Field(description="16-256 printable ASCII characters; signs each body (X-Webhook-Signature-256); never shown"),
]


def wanted_actions(patterns: Iterable[str]) -> frozenset[str]:
    """Return the audited actions a webhook's event patterns name."""
    chosen = set(patterns)
    if ALL_EVENTS in chosen:
        return frozenset(actions.ALL)
    return frozenset(a for a in actions.ALL if a in chosen or f"{a.partition('.')[0]}.*" in chosen)


def shown_url(url: str) -> str:
    """Return a webhook's address as logs and the audit trail show it: no credentials, no path or query."""
    # A path or query often is the credential (a Slack webhook's path is its secret), so only where it goes.
    match = _URL.match(url)
    if match is None:
        return "(invalid address)"
    scheme, host, port, rest = match.groups()
    return f"{scheme}://{host}{f':{port}' if port else ''}{'/…' if rest and rest != '/' else ''}"


Events = Annotated[
    list[EventPattern],
    Field(
        min_length=1,
        max_length=len(EVENT_PATTERNS),
        description="Audited actions (flag.toggled), an area's (flag.*) or every one (*); no repeats",
        json_schema_extra={"uniqueItems": True},
    ),
]


def _no_repeats(value: list[str] | None) -> list[str] | None:
    if value is not None and len(set(value)) != len(value):
        raise ValueError("name each event pattern once")
    return value


class WebhookCreate(RequestModel):
    url: WebhookUrl
    events: Events
    secret: Secret | None = None
    format: Format = Field("json", description='json: the audit event; slack: {"text": "..."} for an incoming webhook')

    _events = field_validator("events")(_no_repeats)


class WebhookUpdate(RequestModel):
    """PATCH /webhooks/<id>: the fields given change, the others stay; a secret of null stops signing."""

    # Left out, a field stays; only the secret may be null (the document says so: the others are not nullable).
    model_config = ConfigDict(json_schema_extra=not_nullable("url", "events", "format", min_properties=1))

    url: WebhookUrl | None = None
    events: Events | None = None
    secret: Secret | None = Field(None, description="A new secret; null stops signing; left out, it stays")
    format: Format | None = None

    _events = field_validator("events")(_no_repeats)

    @model_validator(mode="after")
    def _something_given(self) -> WebhookUpdate:
        for name in ("url", "events", "format"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null; leave it out to keep it")
        if not self.model_fields_set:
            raise ValueError("give at least one of url, events, secret and format")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields given, as stored (a null secret stored as none)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class Webhook(BaseModel):
    """A webhook as the API returns it: never its secret."""

    id: str
    url: str
    events: list[EventPattern]
    format: Format
    has_secret: bool = Field(description="Whether bodies are signed; the secret itself is never shown")
    created_at: str
    created_by: str | None = None


class Delivery(BaseModel):
    """One event's delivery to one webhook (or a test delivery), as recorded."""

    id: str = Field(description="The X-Webhook-Delivery header: the same on every attempt, for de-duplication")
    webhook_id: str
    event_id: str | None = Field(description="The audit event's id; null for a test delivery")
    action: str = Field(description="The event's action (X-Webhook-Event), or ping for a test delivery")
    status: Literal["pending", "retrying", "delivered", "failed"]
    attempts: int
    response_code: int | None = Field(description="The receiver's HTTP status at the last attempt")
    duration_ms: int | None = Field(description="How long the last attempt took")
    error: str | None = Field(description="Why the last attempt failed")
    created_at: str
    last_attempt_at: str | None
    next_attempt_at: str | None = Field(description="When the next attempt is due, while retrying")

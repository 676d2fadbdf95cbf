"""The names of audited actions, defined once: storage records them, the API filters and documents them."""

from __future__ import annotations

from typing import Literal

FLAG_CREATED = "flag.created"
FLAG_UPDATED = "flag.updated"
FLAG_TOGGLED = "flag.toggled"
FLAG_DELETED = "flag.deleted"
FLAG_ARCHIVED = "flag.archived"
FLAG_REVIVED = "flag.revived"
SEGMENT_CREATED = "segment.created"
SEGMENT_UPDATED = "segment.updated"
SEGMENT_DELETED = "segment.deleted"
TOKEN_CREATED = "token.created"
TOKEN_REVOKED = "token.revoked"
SCHEDULE_CREATED = "schedule.created"
SCHEDULE_CANCELLED = "schedule.cancelled"
SCHEDULE_FAILED = "schedule.failed"
WEBHOOK_CREATED = "webhook.created"
WEBHOOK_UPDATED = "webhook.updated"
WEBHOOK_DELETED = "webhook.deleted"
CHANGE_REQUEST_CREATED = "change_request.created"
CHANGE_REQUEST_APPROVED = "change_request.approved"
CHANGE_REQUEST_APPLIED = "change_request.applied"
CHANGE_REQUEST_REJECTED = "change_request.rejected"
CHANGE_REQUEST_CANCELLED = "change_request.cancelled"
CHANGE_REQUEST_REBASED = "change_request.rebased"
CHANGE_REQUEST_FAILED = "change_request.failed"
CONTEXT_FIELD_CREATED = "context_field.created"
CONTEXT_FIELD_UPDATED = "context_field.updated"
CONTEXT_FIELD_DELETED = "context_field.deleted"
USER_CREATED = "user.created"
USER_UPDATED = "user.updated"
# The actor of every change a schedule makes; who made the schedule is on the event as scheduled_by.
SCHEDULE_ACTOR = "schedule"
# One event for a whole import, beside one per flag it changed.
FLAGS_IMPORTED = "flags.imported"

ALL = (
    FLAG_CREATED,
    FLAG_UPDATED,
    FLAG_TOGGLED,
    FLAG_ARCHIVED,
    FLAG_REVIVED,
    FLAG_DELETED,
    SEGMENT_CREATED,
    SEGMENT_UPDATED,
    SEGMENT_DELETED,
    TOKEN_CREATED,
    TOKEN_REVOKED,
    SCHEDULE_CREATED,
    SCHEDULE_CANCELLED,
    SCHEDULE_FAILED,
    WEBHOOK_CREATED,
    WEBHOOK_UPDATED,
    WEBHOOK_DELETED,
    CHANGE_REQUEST_CREATED,
    CHANGE_REQUEST_APPROVED,
    CHANGE_REQUEST_APPLIED,
    CHANGE_REQUEST_REJECTED,
    CHANGE_REQUEST_CANCELLED,
    CHANGE_REQUEST_REBASED,
    CHANGE_REQUEST_FAILED,
    CONTEXT_FIELD_CREATED,
    CONTEXT_FIELD_UPDATED,
    CONTEXT_FIELD_DELETED,
    USER_CREATED,
    USER_UPDATED,
    FLAGS_IMPORTED,
)
TOKEN_ACTIONS = frozenset({TOKEN_CREATED, TOKEN_REVOKED})
SCHEDULE_ACTIONS = frozenset({SCHEDULE_CREATED, SCHEDULE_CANCELLED, SCHEDULE_FAILED})
SEGMENT_ACTIONS = frozenset({SEGMENT_CREATED, SEGMENT_UPDATED, SEGMENT_DELETED})
WEBHOOK_ACTIONS = frozenset({WEBHOOK_CREATED, WEBHOOK_UPDATED, WEBHOOK_DELETED})
USER_ACTIONS = frozenset({USER_CREATED, USER_UPDATED})
CONTEXT_FIELD_ACTIONS = frozenset({CONTEXT_FIELD_CREATED, CONTEXT_FIELD_UPDATED, CONTEXT_FIELD_DELETED})
CHANGE_REQUEST_ACTIONS = frozenset(action for action in ALL if action.startswith("change_request."))
# Actions after which the subject no longer exists; recovery checks for its absence instead of its presence.
REMOVALS = frozenset({FLAG_DELETED, SEGMENT_DELETED, TOKEN_REVOKED, WEBHOOK_DELETED, CONTEXT_FIELD_DELETED})

AuditAction = Literal[ALL]  # type: ignore[valid-type]

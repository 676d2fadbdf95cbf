"""The project's errors: each carries its HTTP status and a to_dict(); web.error_handlers renders them."""

from __future__ import annotations

import re
from typing import Any


class ApiError(Exception):
    """An error a client can act on, rendered as {"error", "message", ...details}."""

    status_code = 400
    code = "bad_request"
    message = "The request could not be handled."

    def __init__(self, message: str | None = None, **details: Any) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON body of this error."""
        return {"error": self.code, "message": self.message, **self.details}


class ValidationFailed(ApiError):
    code = "validation_error"
    message = "The request body is not valid."


class InvalidJson(ApiError):
    code = "invalid_json"
    message = "The request body must be a JSON object."


class BodyTooLarge(ApiError):
    status_code = 413
    code = "request_entity_too_large"
    message = "The request body is too large."


class FlagTooLarge(ApiError):
    status_code = 413
    code = "flag_too_large"
    message = "The flag is too large to store."


class UnknownEnvironment(ApiError):
    code = "unknown_environment"
    message = "That environment does not exist."


class NotFound(ApiError):
    status_code = 404
    code = "not_found"
    message = "Nothing exists at this address."


class FlagNotFound(NotFound):
    code = "flag_not_found"
    message = "No flag has that id or name."


class SegmentNotFound(NotFound):
    code = "segment_not_found"
    message = "No segment has that id or name."


class TokenNotFound(NotFound):
    code = "token_not_found"
    message = "No token has that id."


class UserNotFound(NotFound):
    code = "user_not_found"
    message = "No user has that id."


class WebhookNotFound(NotFound):
    code = "webhook_not_found"
    message = "No webhook has that id."


class ContextFieldNotFound(NotFound):
    code = "context_field_not_found"
    message = "No context field is described under that name."


class NameTaken(ApiError):
    status_code = 409
    code = "name_taken"
    message = "That name is already in use."

    def __init__(self, message: str | None = None) -> None:
        # The same shape as validation errors, so a form can show it next to the name field.
        super().__init__(message, details=[{"field": "name", "message": message or self.message, "type": self.code}])


class FlagNameTaken(NameTaken):
    code = "flag_name_taken"
    message = "A flag with that name already exists."


class ContextFieldNameTaken(NameTaken):
    code = "context_field_name_taken"
    message = "A context field with that name is already described."


class SegmentNameTaken(NameTaken):
    code = "segment_name_taken"
    message = "A segment with that name already exists."


class TokenNameTaken(NameTaken):
    code = "token_name_taken"
    message = "A token with that name already exists."


class VersionConflict(ApiError):
    status_code = 412
    code = "version_conflict"
    message = "The flag has changed since you read it; fetch it again and retry."


class FlagArchived(ApiError):
    status_code = 409
    code = "flag_archived"
    message = "The flag is archived; revive it before changing it."


class ScheduleNotFound(NotFound):
    code = "schedule_not_found"
    message = "This flag has no schedule with that id."


class ScheduleNotPending(ApiError):
    status_code = 409
    code = "schedule_not_pending"
    message = "The schedule is no longer pending: it was applied, failed or cancelled."


class TooManySchedules(ValidationFailed):
    code = "too_many_schedules"
    message = "This flag has too many pending schedules."


class ChangeRequestRequired(ApiError):
    status_code = 409
    code = "change_request_required"
    message = "This change reaches an environment where changes need approval: POST it to /change-requests."


class ChangeRequestNotFound(NotFound):
    code = "change_request_not_found"
    message = "No change request has that id."


class ChangeRequestState(ApiError):
    status_code = 409
    code = "change_request_state"
    message = "The change request is not in a state that allows this."


class ChangeRequestStale(ApiError):
    status_code = 409
    code = "change_request_stale"
    message = "The flag has changed since the request was made; rebase the request, then approve it."


class ChangeRequestNotNeeded(ValidationFailed):
    code = "change_request_not_needed"
    message = "This change reaches no environment that needs approval; make it directly."


class TooManyChangeRequests(ValidationFailed):
    code = "too_many_change_requests"
    message = "This flag has too many open change requests."


class TooManyFlags(ValidationFailed):
    code = "too_many_flags"
    message = "This deployment holds as many flags as it may (FF_MAX_FLAGS); delete archived ones first."


class TooManySegments(ValidationFailed):
    code = "too_many_segments"
    message = "This deployment holds as many segments as it may; delete unused ones first."


class TooManyContextFields(ValidationFailed):
    code = "too_many_context_fields"
    message = "There are too many described context fields."


class TooManyWebhooks(ValidationFailed):
    code = "too_many_webhooks"
    message = "There are too many webhooks."


class InUse(ApiError):
    """Refused because flags depend on the subject; details name them."""

    status_code = 409

    def __init__(self, message: str, flags: list[dict[str, Any]]) -> None:
        names = ", ".join(repr(flag["name"]) for flag in flags[:20])
        super().__init__(
            f"{message} {names}{' and more' if len(flags) > 20 else ''}.",
            details=[{"flag_id": flag["_id"], "flag": flag["name"], "type": self.code} for flag in flags],
        )


class SegmentInUse(InUse):
    """Refused because flags' rules name the segment (deleting it, or an import without it); details name them."""

    code = "segment_in_use"


class FlagRequired(InUse):
    """Refused because other flags require this one as a prerequisite; details name them."""

    code = "flag_required"


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"
    message = "A valid API token is required: send 'Authorization: Bearer <token>'."


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"
    message = "This token is not allowed to do that."


class OwnChangeRequest(Forbidden):
    code = "own_change_request"
    message = "A change request is approved or rejected by someone other than who made it."


class CsrfRejected(Forbidden):
    code = "csrf_token_missing"
    message = "A change made with a signed-in session must carry its CSRF token in the X-CSRF-Token header."


class SignInRefused(ApiError):
    status_code = 400
    code = "sign_in_refused"
    message = "Signing in did not succeed; start again from the sign-in page."


class DatabaseUnavailable(ApiError):
    status_code = 503
    code = "database_unavailable"
    message = "The database is not answering; try again shortly."


def error_code(name: str) -> str:
    """Turn an HTTP reason phrase into the error code clients see ("URI Too Long" -> "uri_too_long")."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")

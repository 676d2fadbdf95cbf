"""The project's errors: each carries its HTTP status, and one handler renders them as JSON."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from .extensions import get_metrics

logger = logging.getLogger(__name__)


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


class TokenNotFound(NotFound):
    code = "token_not_found"
    message = "No token has that id."


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


class TokenNameTaken(NameTaken):
    code = "token_name_taken"
    message = "A token with that name already exists."


class VersionConflict(ApiError):
    status_code = 412
    code = "version_conflict"
    message = "The flag has changed since you read it; fetch it again and retry."


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"
    message = "A valid API token is required: send 'Authorization: Bearer <token>'."


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"
    message = "This token is not allowed to do that."


class DatabaseUnavailable(ApiError):
    status_code = 503
    code = "database_unavailable"
    message = "The database is not answering; try again shortly."


def error_code(name: str) -> str:
    """Turn an HTTP reason phrase into the error code clients see ("URI Too Long" -> "uri_too_long")."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def init_app(app: Flask) -> None:
    """Render every error, ours and the framework's, as JSON."""

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError):
        response = jsonify(error.to_dict())
        response.status_code = error.status_code
        if isinstance(error, Unauthorized):
            response.headers["WWW-Authenticate"] = 'Bearer realm="feature-flags"'
        if isinstance(error, DatabaseUnavailable):
            response.headers["Retry-After"] = "1"
            # Counted here, where every such failure passes, for the dashboard and alerts.
            get_metrics().database_errors.inc()
        return response

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        response = jsonify({"error": error_code(error.name), "message": error.description})
        response.status_code = error.code or 500
        if error.code == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        # Logged with the stack trace so the log pipeline can group exceptions by type.
        logger.exception("unhandled error: %s", type(error).__name__)
        response = jsonify({"error": "internal_error", "message": "Something went wrong on our side."})
        response.status_code = 500
        return response

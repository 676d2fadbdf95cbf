"""One place that renders every error, the project's and the framework's, as JSON in the same shape."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from ..errors import ApiError, DatabaseUnavailable, Unauthorized, error_code
from ..extensions import get_metrics

logger = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Render every error, ours and the framework's, as JSON."""

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError):
        response = jsonify(error.to_dict())
        response.status_code = error.status_code
        if isinstance(error, Unauthorized):
            response.headers["WWW-Authenticate"] = 'Bearer realm="feature-flags"'
        if error.status_code == 429:
            response.headers["Retry-After"] = str(error.details.get("retry_after", 1))
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

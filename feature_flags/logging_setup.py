"""JSON logs on stdout, one object per line, with the fields a log pipeline groups by."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
from collections.abc import Iterable
from typing import Any

from flask import g, has_request_context
from pythonjsonlogger.json import JsonFormatter

HANDLER_NAME = "feature-flags-json"
REDACTED = "[redacted]"
# The service's own secrets carry these prefixes (feature_flags/tokens.py), so they are found wherever they appear.
_OWN_TOKEN = re.compile(r"\b(ff_(?:admin|client)_)[A-Za-z0-9_\-]+")
# Whatever follows an authentication scheme is a credential, whoever it belongs to.
_SCHEME_CREDENTIAL = re.compile(r"\b((?i:bearer)\s+)[^\s'\",;]+|\b(Basic\s+)[A-Za-z0-9+/]{8,}={0,2}")
# gunicorn quotes the client's bytes when it refuses a request line or header ("Invalid HTTP Header: '...'");
# any part of a header line without its colon may be a secret, so none of it is kept.
_QUOTED_CLIENT_INPUT = re.compile(r"((?:Invalid [A-Za-z ]+|Obsolete line folding is unacceptable): )(['\"]).*\2")
# Exact secrets shorter than this are not searched for: they would blank out ordinary words.
_MIN_EXACT_SECRET = 8


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return text with credentials replaced: the service's tokens, anything after an auth scheme, given secrets."""
    text = _QUOTED_CLIENT_INPUT.sub(rf"\1\2{REDACTED}\2", text)
    text = _OWN_TOKEN.sub(rf"\1{REDACTED}", text)
    text = _SCHEME_CREDENTIAL.sub(lambda match: f"{match.group(1) or match.group(2)}{REDACTED}", text)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


class RedactSecrets(logging.Filter):
    """Take credentials out of every record's message before a handler writes it (gunicorn's and the app's)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secret for secret in secrets if secret and len(secret) >= _MIN_EXACT_SECRET)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a broken format string: the handler reports it as it always does
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


class _Formatter(JsonFormatter):
    secrets: tuple[str, ...] = ()

    def add_fields(self, log_data, record, message_dict):
        super().add_fields(log_data, record, message_dict)
        if record.exc_info and record.exc_info[0] is not None:
            kind, error, trace = record.exc_info
            log_data["exc_type"] = kind.__name__
            log_data["exc_message"] = redact(str(error), self.secrets)
            log_data["stack_trace"] = redact("".join(traceback.format_exception(kind, error, trace)), self.secrets)
            log_data.pop("exc_info", None)


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time, so redirected output is honoured."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


# The shape of every log line, the app's and gunicorn's own (gunicorn.conf.py uses it too).
JSON_LOG_FORMAT = {
    "fmt": "{asctime}{levelname}{name}{message}",
    "style": "{",
    "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
    "datefmt": "%Y-%m-%dT%H:%M:%S%z",
}


ACCESS_LOGGER = "feature_flags.access"


class AccessLog:
    """The access log's one JSON line per request, written straight to the JSON handler's stream.

    The same fields, order and shape as a record through the handler, without the record, filters and
    formatter that cost more than the rest of a flag read. Other handlers on the root logger (a test's log
    capture) still get a record; without the JSON handler, or with handlers of the access logger's own, it is
    logged as any record is.
    """

    def __init__(self, service: str) -> None:
        self.logger = logging.getLogger(ACCESS_LOGGER)
        self._head = f'"level": "INFO", "logger": "{ACCESS_LOGGER}", "message": "request", '
        self._tail = f', "service": {json.dumps(service)}, "request_id": '
        self._second = -1
        self._time = ""

    def _timestamp(self, now: float) -> str:
        # The formatter's datefmt, to the second as it is: formatted once a second, not once a request.
        second = int(now)
        if second != self._second:
            self._time = time.strftime(JSON_LOG_FORMAT["datefmt"], time.localtime(second))
            self._second = second
        return self._time

    def write(self, fields: dict[str, Any], request_id: str | None) -> None:
        """Write one access line with these fields (method, path, status, duration_ms, client, user_agent)."""
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        root = logging.getLogger()
        ours = next((handler for handler in root.handlers if handler.get_name() == HANDLER_NAME), None)
        if ours is None or logger.handlers or not logger.propagate or ours.level > logging.INFO:
            logger.info("request", extra={**fields, "request_id": request_id})
            return
        line = (
            f'{{"time": "{self._timestamp(time.time())}", {self._head}{json.dumps(fields)[1:-1]}'
            f"{self._tail}{json.dumps(request_id)}}}\n"
        )
        with ours.lock:
            stream = sys.stdout
            stream.write(line)
            stream.flush()
        if len(root.handlers) > 1:
            record = logger.makeRecord(ACCESS_LOGGER, logging.INFO, __file__, 0, "request", (), None, extra=fields)
            record.request_id = request_id
            for handler in root.handlers:
                if handler is not ours and record.levelno >= handler.level:
                    handler.handle(record)


def configure_logging(level: str, service: str, secrets: Iterable[str | None] = ()) -> None:
    """Route every logger through one JSON handler on stdout that never writes a credential (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == HANDLER_NAME:
            root.removeHandler(handler)
    handler = _StdoutHandler()
    handler.set_name(HANDLER_NAME)
    redacting = RedactSecrets(secrets)
    formatter = _Formatter(**JSON_LOG_FORMAT)
    # Exceptions are rendered by the formatter, after the filter has run, so it redacts them itself.
    formatter.secrets = redacting.secrets
    handler.setFormatter(formatter)
    handler.addFilter(_ContextFilter(service))
    handler.addFilter(redacting)
    root.addHandler(handler)
    root.setLevel(level)
    # The development server's own access lines repeat ours in another format, with query strings.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("pymongo").setLevel(logging.WARNING)

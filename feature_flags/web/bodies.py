"""Request and response bodies: JSON objects in, with clear errors for everything else; JSON out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge

from ..errors import BodyTooLarge, InvalidJson


def read_json_object(required: bool = True, max_bytes: int | None = None) -> dict[str, Any]:
    """Return the body as a dict; an empty body is {} unless required; BodyTooLarge past max_bytes."""
    raw = request.get_data(cache=False)
    _refuse_truncated_stream(len(raw))
    if max_bytes is not None and len(raw) > max_bytes:
        raise BodyTooLarge(f"The body is over {max_bytes} bytes.")
    if not raw.strip():
        if required:
            raise InvalidJson("The request needs a JSON object body.")
        return {}
    try:
        data = strict_json(raw)
    except DuplicateKey as error:
        raise InvalidJson(
            f"The body names {error.key!r} twice in one object; give each key once.",
            details=[{"field": error.key, "message": "given twice", "type": "duplicate_key"}],
        ) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidJson(f"The body is not valid JSON: {error}.") from None
    except RecursionError:
        raise InvalidJson("The body is nested too deeply.") from None
    if not isinstance(data, dict):
        raise InvalidJson(f"The body must be a JSON object, not {type(data).__name__}.")
    return data


class DuplicateKey(ValueError):
    """A JSON object names one key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(f"{key!r} is given twice in one object")
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # JSON leaves duplicate keys undefined and Python keeps the last: a body meaning two things (a proxy or a
    # validator reading the first, the service the last) is refused instead.
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise DuplicateKey(key)
        data[key] = value
    return data


def strict_json(text: str | bytes) -> Any:
    """Parse standard JSON: no NaN or Infinity, and no key twice in one object (DuplicateKey, a ValueError)."""
    return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)


def _refuse_constant(name: str) -> Any:
    # Python's parser accepts NaN, Infinity and -Infinity, which no standard JSON reader does: stored, they
    # would make every later answer unreadable (a browser's JSON.parse fails on them).
    raise ValueError(f"{name} is not JSON; numbers must be finite")


def _refuse_truncated_stream(read: int) -> None:
    """Refuse a body without Content-Length (chunked) that goes on past MAX_CONTENT_LENGTH."""
    # Werkzeug stops reading such a body at the limit and returns what it has, so the first megabyte of a larger
    # body would be taken as the whole. Only a body that reached the limit can be longer: then one more byte
    # from the server's own stream tells (it ends at the last chunk, so this never waits for the client).
    limit = request.max_content_length
    if request.content_length is None and limit is not None and read >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()


def iso8601(moment: datetime) -> str:
    """Format a moment as ISO 8601 in UTC with milliseconds and a Z."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON with ISO 8601 times and fields kept in the order they were built."""

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialise as standard JSON: a non-finite number raises rather than emitting NaN or Infinity."""
        kwargs.setdefault("allow_nan", False)
        return super().dumps(obj, **kwargs)

    @staticmethod
    def default(value: Any) -> Any:
        if isinstance(value, datetime):
            return iso8601(value)
        return DefaultJSONProvider.default(value)


def to_json(value: Any) -> str:
    """Serialise as jsonify does outside debug mode (compact, ISO 8601 times), for bodies built ahead of time."""
    return current_app.json.dumps(value, separators=(",", ":")) + "\n"

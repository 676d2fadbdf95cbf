"""Reading request bodies: JSON objects only, with clear errors for everything else."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import request
from flask.json.provider import DefaultJSONProvider

from .errors import InvalidJson


def read_json_object(required: bool = True) -> dict[str, Any]:
    """Return the body as a dict; an empty body is {} unless required."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        if required:
            raise InvalidJson("The request needs a JSON object body.")
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidJson(f"The body is not valid JSON: {error}.") from None
    except RecursionError:
        raise InvalidJson("The body is nested too deeply.") from None
    if not isinstance(data, dict):
        raise InvalidJson(f"The body must be a JSON object, not {type(data).__name__}.")
    return data


def iso8601(moment: datetime) -> str:
    """Format a moment as ISO 8601 in UTC with milliseconds and a Z."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON with ISO 8601 times and fields kept in the order they were built."""

    sort_keys = False

    @staticmethod
    def default(value: Any) -> Any:
        if isinstance(value, datetime):
            return iso8601(value)
        return DefaultJSONProvider.default(value)

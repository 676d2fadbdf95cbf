"""The export document (format feature-flags/v1): what flags, segments and described context fields are, without
ids, versions, times or history.

Written with sorted keys, flags and segments in name order, so two exports of the same flags are the same bytes and a
change reads as a small diff in git.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import MAX_FLAGS_CEILING
from ..context_fields.models import ContextFieldCreate
from ..errors import ApiError, ValidationFailed
from ..flags.models import FlagCreate
from ..flags.rules import FLAG_CONTENT_FIELDS, check_flag_references, check_flag_size
from ..segments.models import SegmentCreate
from ..segments.service import check_segment_size
from ..storage.context_attributes import MAX_DESCRIBED
from ..validation import parse
from ..web.bodies import strict_json

FORMAT = "feature-flags/v1"
# A document holds at most what a deployment may (FF_MAX_FLAGS, up to its ceiling), so every export imports; the
# import checks the deployment's own bound on what it would leave (service.plan_contents).
MAX_IMPORT_FLAGS = MAX_FLAGS_CEILING
MAX_IMPORT_SEGMENTS = 10_000
# 20,000 flags (the default bound) of a kilobyte or so each; a single flag is bounded by MAX_FLAG_BYTES besides.
# A larger export imports from the command line (`flask flags import FILE`), which reads a file of any size.
MAX_IMPORT_BYTES = 32 * 1024 * 1024
MAX_IMPORT_CONTEXT_FIELDS = MAX_DESCRIBED
DOCUMENT_FIELDS = frozenset({"format", "flags", "segments", "context_fields"})
# What a flag carries in the document: its content, and whether it is archived.
EXPORTED_FIELDS = (*FLAG_CONTENT_FIELDS, "archived")
EXPORTED_SEGMENT_FIELDS = ("name", "description", "conditions")
EXPORTED_CONTEXT_FIELD_FIELDS = ("name", "description", "type", "values")


@dataclass(frozen=True)
class Contents:
    """A validated document: its flags' contents (with archived), its segments' and its context fields', each in
    document order. context_fields is None for a document that does not mention them (one exported before they were
    part of it): an import then leaves the described fields as they are, even with mode=replace.
    """

    flags: list[dict[str, Any]]
    segments: list[dict[str, Any]]
    context_fields: list[dict[str, Any]] | None = None


def exported_flag(flag: dict[str, Any]) -> dict[str, Any]:
    """Return a stored flag as the document holds it."""
    content = {key: flag[key] for key in FLAG_CONTENT_FIELDS}
    # Prerequisites and segment references (built elsewhere) live inside targeting: passed through unchanged.
    content["targeting"] = dict(flag["targeting"])
    content["archived"] = flag.get("archived_at") is not None
    return content


def exported_segment(segment: dict[str, Any]) -> dict[str, Any]:
    """Return a stored segment as the document holds it."""
    return {key: segment[key] for key in EXPORTED_SEGMENT_FIELDS}


def exported_context_field(described: dict[str, Any]) -> dict[str, Any]:
    """Return a described context field as the document holds it."""
    return {key: described[key] for key in EXPORTED_CONTEXT_FIELD_FIELDS}


def _by_name(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(documents, key=lambda document: document["name"])


def export_document(
    flags: list[dict[str, Any]], segments: list[dict[str, Any]], context_fields: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Return the export document of these flags (archived ones included), segments and described context fields,
    each sorted by name."""
    return {
        "format": FORMAT,
        "flags": [exported_flag(flag) for flag in _by_name(flags)],
        "segments": [exported_segment(segment) for segment in _by_name(segments)],
        "context_fields": [exported_context_field(described) for described in _by_name(context_fields or [])],
    }


def dumps(document: dict[str, Any]) -> str:
    """Serialise a document deterministically: sorted keys, two-space indents, a final newline."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _error(field: str, message: str, kind: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", details=[{"field": field, "message": message, "type": kind}])


def _prefixed(error: ApiError, prefix: str) -> ValidationFailed:
    details = error.details.get("details") or [{"field": "", "message": error.message, "type": error.code}]
    moved = [{**item, "field": ".".join(filter(None, [prefix, item["field"]]))} for item in details]
    first = moved[0]
    return ValidationFailed(f"{first['field']}: {first['message']}", details=moved)


def validated_flag(data: Any, environments: tuple[str, ...], path: str) -> dict[str, Any]:
    """Validate one flag of a document as POST /flags would; return its content with archived; errors name path."""
    if not isinstance(data, dict):
        raise _error(path, "a flag is a JSON object", "invalid_type")
    fields = dict(data)
    archived = fields.pop("archived", False)
    if not isinstance(archived, bool):
        raise _error(f"{path}.archived", "give true or false", "bool_type")
    try:
        content = parse(FlagCreate, fields, environments).model_dump()
        check_flag_references(content, environments)
        check_flag_size(content)
    except ApiError as error:
        raise _prefixed(error, path) from None
    content["environments"] = {env: bool(content["environments"].get(env, False)) for env in environments}
    content["archived"] = archived
    return content


def validated_segment(data: Any, environments: tuple[str, ...], path: str) -> dict[str, Any]:
    """Validate one segment of a document as POST /segments would; return its content; errors name path."""
    if not isinstance(data, dict):
        raise _error(path, "a segment is a JSON object", "invalid_type")
    try:
        content = parse(SegmentCreate, data, environments).model_dump()
        check_segment_size(content)
    except ApiError as error:
        raise _prefixed(error, path) from None
    return content


def validated_context_field(data: Any, path: str) -> dict[str, Any]:
    """Validate one described context field of a document as POST /context-fields would; errors name path."""
    if not isinstance(data, dict):
        raise _error(path, "a context field is a JSON object", "invalid_type")
    try:
        return parse(ContextFieldCreate, data, ()).model_dump()
    except ApiError as error:
        raise _prefixed(error, path) from None


def _unique(contents: list[dict[str, Any]], what: str) -> None:
    seen: dict[str, int] = {}
    for index, content in enumerate(contents):
        if content["name"] in seen:
            raise _error(
                f"{what}.{index}.name", f"{content['name']!r} is also {what}.{seen[content['name']]}", "repeated"
            )
        seen[content["name"]] = index


def _check_list(items: Any, field: str, noun: str, bound: int) -> None:
    """Refuse a part of the document that is not a list, or is longer than a document may hold."""
    if not isinstance(items, list):
        raise _error(field, f"give a list of {noun}", "list_type")
    if len(items) > bound:
        raise _error(field, f"a document holds at most {bound:,} {noun}, not {len(items):,}", "too_long")


def validated_document(data: Any, environments: tuple[str, ...]) -> Contents:
    """Validate a whole feature-flags/v1 document on its own before anything is written; return its contents."""
    if not isinstance(data, dict):
        raise _error("(body)", "the document is a JSON object", "invalid_type")
    unknown = sorted(set(data) - DOCUMENT_FIELDS)
    if unknown:
        message = "not a field of the document (format, flags, segments, context_fields)"
        raise _error(unknown[0], message, "extra_forbidden")
    if data.get("format") != FORMAT:
        raise _error("format", f"give {FORMAT!r}", "unknown_format")
    flags = data.get("flags")
    _check_list(flags, "flags", "flags", MAX_IMPORT_FLAGS)
    segments = data.get("segments", [])
    _check_list(segments, "segments", "segments", MAX_IMPORT_SEGMENTS)
    context_fields = data.get("context_fields")
    if context_fields is not None:
        _check_list(context_fields, "context_fields", "context fields", MAX_IMPORT_CONTEXT_FIELDS)
    contents = Contents(
        [validated_flag(flag, environments, f"flags.{index}") for index, flag in enumerate(flags)],
        [validated_segment(segment, environments, f"segments.{index}") for index, segment in enumerate(segments)],
        None
        if context_fields is None
        else [validated_context_field(item, f"context_fields.{index}") for index, item in enumerate(context_fields)],
    )
    _unique(contents.flags, "flags")
    _unique(contents.segments, "segments")
    if contents.context_fields is not None:
        _unique(contents.context_fields, "context_fields")
    return contents


def read_document(path: Path) -> Any:
    """Read a JSON document from a file; raise ValueError with a sentence naming the file."""
    try:
        return strict_json(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from None
    except (ValueError, RecursionError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None

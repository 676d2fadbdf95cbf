"""Rules across a flag's fields: every serve names a variant, and the whole flag fits its size bound."""

from __future__ import annotations

import json
from typing import Any

from ..errors import FlagTooLarge, ValidationFailed
from ..evaluation import engine as evaluation
from .dependencies import Known, dependency_errors, refuse_if_required
from .models import FLAG_CONTENT_FIELDS, MAX_FLAG_BYTES


def _reference_errors(flag: dict[str, Any], environments: tuple[str, ...]) -> list[dict[str, str]]:
    variants = flag.get("variants") or evaluation.DEFAULT_VARIANTS
    known = ", ".join(repr(name) for name in variants)
    errors: list[dict[str, str]] = []

    def check(serve: Any, field: str) -> None:
        names = evaluation.served_variants(serve)
        for name in names:
            if name not in variants:
                errors.append(
                    {
                        "field": field,
                        "message": f"{name!r} is not one of this flag's variants ({known})",
                        "type": "unknown_variant",
                    }
                )

    check(flag.get("off_variant", evaluation.DEFAULT_OFF_VARIANT), "off_variant")
    targeting = flag.get("targeting") or {}
    for environment in environments:
        settings = targeting.get(environment)
        if settings is None:
            if evaluation.DEFAULT_SERVE not in variants:
                errors.append(
                    {
                        "field": f"targeting.{environment}.serve",
                        "message": f"this flag has no {evaluation.DEFAULT_SERVE!r} variant, so say what "
                        f"{environment} serves while on",
                        "type": "missing_serve",
                    }
                )
            continue
        for index, rule in enumerate(settings.get("rules") or ()):
            check(rule["serve"], f"targeting.{environment}.rules.{index}.serve")
        check(settings.get("serve", evaluation.DEFAULT_SERVE), f"targeting.{environment}.serve")
    return errors


# Said in the flag operations' descriptions, since JSON Schema cannot relate one field's values to another's keys.
UNSTATED_FLAG_RULES = (
    "Checked beyond the schema, as a 400 naming the field: off_variant and every serve name one of the flag's "
    "variants (after an update, of the variants it will have); an environment without targeting serves 'on', so "
    "a flag without an 'on' variant gives every environment a serve; a split's percentages add up to 100 and a "
    "weighted split's weights to 1 to 100,000."
)


def check_flag_references(flag: dict[str, Any], environments: tuple[str, ...], known: Known | None = None) -> None:
    """Raise ValidationFailed if the flag serves a variant it does not define, or (given what is known) names a
    segment or prerequisite wrongly; each error names its field.
    """
    errors = _reference_errors(flag, environments)
    if known is not None:
        errors += dependency_errors(flag, environments, known)
    if errors:
        raise ValidationFailed(f"{errors[0]['field']}: {errors[0]['message']}", details=errors)


def check_flag_size(flag: dict[str, Any]) -> None:
    """Raise FlagTooLarge if the flag's content is over MAX_FLAG_BYTES as compact JSON."""
    content = {key: flag[key] for key in FLAG_CONTENT_FIELDS if key in flag}
    size = len(json.dumps(content, separators=(",", ":"), ensure_ascii=False, default=str).encode())
    if size > MAX_FLAG_BYTES:
        raise FlagTooLarge(
            f"The flag would be {size:,} bytes; a flag holds at most {MAX_FLAG_BYTES:,} "
            "(variants, rules and descriptions together).",
            limit_bytes=MAX_FLAG_BYTES,
            size_bytes=size,
        )


def flag_changes(
    current: dict[str, Any], changes: dict[str, Any], environments: tuple[str, ...], known: Known | None = None
) -> dict[str, Any]:
    """Merge an update's targeting into the flag's, check the result serves only its variants; return the changes.

    A flag other flags require keeps its name: their prerequisites name it (FlagRequired, 409).
    """
    if known is not None and changes.get("name", current["name"]) != current["name"]:
        refuse_if_required(known.by_name.values(), current, "rename")
    merged = dict(changes)
    if "targeting" in changes:
        targeting = dict(current.get("targeting") or {})
        for environment, settings in changes["targeting"].items():
            if settings is None:
                targeting.pop(environment, None)
            else:
                targeting[environment] = settings
        merged["targeting"] = targeting
    check_flag_references({**current, **merged}, environments, known)
    check_flag_size({**current, **merged})
    return merged

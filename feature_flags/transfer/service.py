"""Moving flags as a whole: export, import (ours and Unleash's), copying an environment's settings to another.

Every write here goes through the store's all-or-nothing batch, then reaches this process's flag cache.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from ..audit import actions
from ..cache import current_snapshot, flag_cache
from ..change_requests.guard import refuse_unapproved
from ..errors import (
    ApiError,
    FlagArchived,
    FlagNotFound,
    TooManyContextFields,
    TooManyFlags,
    TooManySegments,
    ValidationFailed,
)
from ..extensions import get_metrics, get_store
from ..flags import reach
from ..flags.rules import flag_changes
from ..segments.service import serving_environments
from ..storage import BatchWritten, FlagWrite
from ..storage.context_attributes import MAX_DESCRIBED
from .document import FORMAT, Contents, export_document, validated_document
from .plan import ContextFieldPlan, Mode, Plan, make_plan, plan_context_fields, plan_segments
from .references import check_references, refuse_removing_used, resulting
from .unleash import mapped

# Without transactions a batch is journalled and rolled back by hand, flag by flag: bounded, so a rollback
# (or recovery after a crash) stays short.
MAX_CHANGES_WITHOUT_TRANSACTIONS = 1000


class TooManyChanges(ApiError):
    code = "too_many_changes"
    message = "The import changes more flags and segments than this database can change all at once."


class UnmappedParts(ApiError):
    code = "unmapped"
    message = "Parts of the Unleash export cannot be expressed here; see unmapped, or pass allow_partial=true."


def export(app: Flask) -> dict[str, Any]:
    """Return every flag, archived ones too, every segment and every described context field as one document."""
    store = get_store(app)
    return export_document(store.find_all_flags(), store.find_all_segments(), store.context_fields())


def plan_contents(app: Flask, contents: Contents, mode: Mode, current: list[dict[str, Any]] | None = None) -> Plan:
    """Check what a validated document's flags name against the set the import leaves, and plan it."""
    store = get_store(app)
    current = store.find_all_flags() if current is None else current
    segments = store.find_all_segments()
    result = resulting(contents, current, segments, replace=mode == "replace")
    config = app.config["FF"]
    if len(result.by_name) > config.max_flags:
        raise TooManyFlags(
            f"The import would leave {len(result.by_name):,} flags, archived ones included; this deployment holds at "
            f"most {config.max_flags:,} (FF_MAX_FLAGS).",
            details=[{"field": "flags", "message": "too many flags", "type": "too_many_flags"}],
        )
    if len(result.segments_by_name) > config.max_segments:
        raise TooManySegments(
            f"The import would leave {len(result.segments_by_name):,} segments; this deployment holds at most "
            f"{config.max_segments:,}.",
            details=[{"field": "segments", "message": "too many segments", "type": "too_many_segments"}],
        )
    check_references(contents, result, config.environments)
    plan = make_plan(current, contents.flags, mode)
    plan.segments = plan_segments(segments, contents.segments, mode)
    refuse_removing_used(plan.segments.removed, result)
    if contents.context_fields is not None:
        plan.context_fields = _plan_context_fields(store.context_fields(), contents.context_fields, mode)
    return plan


def _plan_context_fields(current: list[dict[str, Any]], wanted: list[dict[str, Any]], mode: Mode) -> ContextFieldPlan:
    """Plan the described fields' writes; refuse a plan that would leave more than a deployment describes."""
    plan = plan_context_fields(current, wanted, mode)
    left = len(current) + len(plan.created) - len(plan.removed)
    if left > MAX_DESCRIBED:
        raise TooManyContextFields(
            f"The import would leave {left:,} described context fields; at most {MAX_DESCRIBED} are described.",
            details=[
                {"field": "context_fields", "message": "too many context fields", "type": "too_many_context_fields"}
            ],
        )
    return plan


def plan_import(
    app: Flask, data: Any, mode: Mode = "upsert", source: str = "feature-flags", environment: str | None = None
) -> Plan:
    """Validate the whole document and plan the import; nothing is written."""
    environments = app.config["FF"].environments
    current = get_store(app).find_all_flags()
    if source == "unleash":
        if environment is None:
            raise ValidationFailed(
                "environment: say which environment receives the Unleash state.",
                details=[{"field": "environment", "message": "required with format=unleash", "type": "missing"}],
            )
        wanted, unmapped = mapped(data, environment, current, environments)
        plan = make_plan(current, wanted, mode)
        plan.unmapped = unmapped
        return plan
    return plan_contents(app, validated_document(data, environments), mode, current)


def apply_plan(
    app: Flask, plan: Plan, actor: str, request_id: str | None = None, summary: dict[str, Any] | None = None
) -> BatchWritten:
    """Write a plan all-or-nothing, with its events, and bring this process's flag cache up to date."""
    store = get_store(app)
    if plan.changes > MAX_CHANGES_WITHOUT_TRANSACTIONS and not store.supports_transactions:
        raise TooManyChanges(
            f"The import would change {plan.changes:,} flags and segments; without transactions (a standalone "
            f"database) at most {MAX_CHANGES_WITHOUT_TRANSACTIONS:,} change at once. Import it in parts, or use a "
            "replica set.",
            changes=plan.changes,
            limit=MAX_CHANGES_WITHOUT_TRANSACTIONS,
        )
    segment_writes = plan.segments.writes if plan.segments else []
    written = store.write_flags(
        plan.writes,
        actor,
        request_id,
        summary=summary if plan.changes else None,
        segment_writes=segment_writes,
        context_field_writes=plan.context_fields.writes if plan.context_fields else [],
    )
    flag_cache(app).written_many(
        written.flags, written.deleted_ids, written.revision, written.segments, written.deleted_segment_ids
    )
    metric = get_metrics(app).flag_changes
    for action, names in (("created", plan.created), ("updated", plan.updated), ("deleted", plan.removed)):
        if names:
            metric.labels(action=action).inc(len(names))
    return written


def import_document(
    app: Flask,
    data: Any,
    actor: str,
    request_id: str | None = None,
    *,
    mode: Mode = "upsert",
    dry_run: bool = False,
    source: str = "feature-flags",
    environment: str | None = None,
    allow_partial: bool = False,
    approvals: bool = False,
) -> dict[str, Any]:
    """Import a document (ours or an Unleash export) all-or-nothing; return the plan carried out (or not, if dry).

    approvals: refuse a plan reaching environments FF_APPROVALS names (an API caller's import; an operator's
    from the command line or FF_IMPORT_FILE is not held up).
    """
    plan = plan_import(app, data, mode, source, environment)
    if dry_run:
        return {**plan.answer(), "dry_run": True}
    if plan.unmapped and not allow_partial:
        raise UnmappedParts(unmapped=plan.unmapped)
    if approvals:
        refuse_unapproved(_reached(app, plan), "import only what changes other environments")
    summary = {
        "action": actions.FLAGS_IMPORTED,
        "environment": environment,
        "before": None,
        "after": {
            "format": FORMAT if source == "feature-flags" else "unleash",
            "mode": mode,
            "created": len(plan.created),
            "updated": len(plan.updated),
            "removed": len(plan.removed),
            **(
                {"segments": {key: len(names) for key, names in plan.segments.answer().items()}}
                if plan.segments
                else {}
            ),
            **(
                {"context_fields": {key: len(names) for key, names in plan.context_fields.answer().items()}}
                if plan.context_fields
                else {}
            ),
        },
    }
    apply_plan(app, plan, actor, request_id, summary)
    return {**plan.answer(), "dry_run": False}


def _reached(app: Flask, plan: Plan) -> set[str]:
    """The environments whose served values the plan's writes change."""
    environments = app.config["FF"].environments
    reached: set[str] = set()
    flags = current_snapshot(app).ordered
    for write in plan.writes:
        if write.kind == "create":
            reached.update(reach.of_creation(write.fields, environments, flags))
        elif write.kind == "update":
            reached.update(reach.of_rewrite(write.current, write.fields, environments))
        else:
            reached.update(reach.of_removal(write.current, flags, environments))
    for write in plan.segments.writes if plan.segments else ():
        if write.kind != "create":
            reached.update(serving_environments(write.current["name"]))
    return reached


# -- copying between environments -------------------------------------------------------------


def _copied(flag: dict[str, Any], source: str, target: str) -> dict[str, Any]:
    """Return the changes that give target source's on/off state and targeting."""
    return {
        "environments": {target: flag["environments"].get(source, False)},
        "targeting": {target: flag["targeting"].get(source)},
    }


def copy_flag(
    app: Flask,
    ident: str,
    source: str,
    target: str,
    actor: str,
    request_id: str | None = None,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Copy one flag's state and targeting from one environment to another (an update audited with target)."""
    environments = app.config["FF"].environments
    written = get_store(app).update_flag(
        ident,
        lambda current: flag_changes(current, _copied(current, source, target), environments),
        actor,
        request_id,
        expected_version,
        environment=target,
    )
    flag_cache(app).written(written.flag, written.revision)
    get_metrics(app).flag_changes.labels(action="updated").inc()
    return written.flag


def copy_environment(
    app: Flask, source: str, target: str, names: list[str] | None, actor: str, request_id: str | None = None
) -> dict[str, Any]:
    """Copy source's state and targeting to target for the named flags (every live one by default), all or none."""
    environments = app.config["FF"].environments
    current = get_store(app).find_all_flags()
    by_name = {flag["name"]: flag for flag in current}
    if names is None:
        chosen = [flag for flag in current if flag["archived_at"] is None]
    else:
        chosen = []
        for index, name in enumerate(names):
            flag = by_name.get(name)
            if flag is None:
                raise FlagNotFound(f"flags.{index}: no flag is named {name!r}.")
            if flag["archived_at"] is not None:
                raise FlagArchived(f"flags.{index}: {name!r} is archived; revive it before changing it.")
            chosen.append(flag)
    plan = Plan()
    for flag in sorted(chosen, key=lambda flag: flag["name"]):
        changes = flag_changes(flag, _copied(flag, source, target), environments)
        merged = {
            "environments": {**flag["environments"], **changes["environments"]},
            **{key: value for key, value in changes.items() if key != "environments"},
        }
        differing = {key: value for key, value in merged.items() if flag.get(key) != value}
        if not differing:
            plan.unchanged.append(flag["name"])
            continue
        plan.updated.append(flag["name"])
        plan.writes.append(FlagWrite("update", differing, flag, environment=target))
    apply_plan(app, plan, actor, request_id)
    return {"updated": sorted(plan.updated), "unchanged": sorted(plan.unchanged)}

// An audit event as people read it: what happened, who did it, when, and each value before and after. The flag
// history dialog and the audit log both draw events with this; targeting-text.js puts rules and splits in words.

import { el, formatMoment, timeElement } from "./dom.js";
import { conditionsText, targetingDescription, targetingRows } from "./targeting-text.js";

/**
 * An audit event as GET /audit and a flag's history answer it; before and after are the subject's states.
 * @typedef {object} AuditEvent
 * @property {string} [_id]
 * @property {string} action one of the API's AuditEvent actions ("flag.updated", "token.created"…)
 * @property {string} actor
 * @property {string} [scheduled_by] who scheduled a change the service made at its moment
 * @property {string} at an ISO 8601 moment
 * @property {string | null} [environment]
 * @property {string} [flag_id]
 * @property {string} [flag_name]
 * @property {string} [request_id]
 * @property {Record<string, any> | null} [before]
 * @property {Record<string, any> | null} [after]
 */

const FIELD_LABELS = {
  name: "Name",
  description: "Description",
  type: "Type",
  tags: "Tags",
  marked_stale: "Marked stale",
  off_variant: "Serves when off",
  stickiness: "Splits stick by",
  archived_at: "Archived",
  role: "Role",
  url: "Address",
  events: "Events",
  format: "Format",
  has_secret: "Signed",
};
// What a change to each field is called in an event's one-line summary.
const FIELD_NOUNS = {
  name: "the name",
  description: "the description",
  type: "the type",
  tags: "the tags",
  variants: "the variants",
  off_variant: "the off variant",
  stickiness: "the stickiness",
  conditions: "the conditions",
};
// Values a new flag has unless told otherwise (evaluation.DEFAULT_*): not worth a line in its creation.
const FLAG_DEFAULTS = { variants: { on: true, off: false }, off_variant: "off", stickiness: "targetingKey" };

function shown(value) {
  if (value === true) return "on";
  if (value === false) return "off";
  if (value === null || value === undefined) return "(none)";
  if (value === "") return "(empty)";
  if (Array.isArray(value)) return value.length ? value.join(", ") : "(none)";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function onOff(value) {
  return value ? "on" : "off";
}

function words(parts) {
  return parts.length < 2 ? parts.join("") : `${parts.slice(0, -1).join(", ")} and ${parts.at(-1)}`;
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function isEmpty(value) {
  return (
    value === null ||
    value === undefined ||
    value === false ||
    value === "" ||
    (Array.isArray(value) && !value.length) ||
    (typeof value === "object" && !Array.isArray(value) && !Object.keys(value).length)
  );
}

function variantRows(was = {}, now = {}) {
  const rows = [];
  for (const name of new Set([...Object.keys(was), ...Object.keys(now)])) {
    if (same(was[name], now[name])) continue;
    const label = name in was ? (name in now ? `Variant ${name}` : `Variant ${name} removed`) : `Variant ${name} added`;
    rows.push([
      label,
      name in was ? JSON.stringify(was[name]) : undefined,
      name in now ? JSON.stringify(now[name]) : undefined,
    ]);
  }
  return rows;
}

/** The environments whose targeting differs between two targetings. */
function targetedEnvironments(was = {}, now = {}) {
  return [...new Set([...Object.keys(was || {}), ...Object.keys(now || {})])].filter(
    (env) => !same(was?.[env], now?.[env]),
  );
}

// Fields a PUT merges key by key (the others it replaces whole).
const MERGED_BY_KEY = ["environments", "targeting"];

/** What a request's changes make of its base: as the PUT would write them. */
function requested(base, asked) {
  const result = { ...base };
  for (const [field, value] of Object.entries(asked)) {
    result[field] = MERGED_BY_KEY.includes(field) && value && typeof value === "object" ? { ...base[field], ...value } : value;
  }
  return result;
}

/** The changes an event carries, as [label, before, after] rows. */
function changes(event, environmentLabel) {
  const before = event.before || {};
  const after = event.after || {};
  const created = event.before === null && event.action === "flag.created";
  const rows = [];
  // A deleted flag's last state is in the event, but a line per field of it says less than "Deleted" does.
  if (event.action === "flag.deleted") return rows;
  if (event.action.startsWith("change_request.")) {
    // What was asked for, read as the flag update it becomes; the other steps only move the request along.
    if (event.action !== "change_request.created") return rows;
    const asked = after.changes || {};
    // Against what the flag held when it was asked (a request made before the base was kept reads as all new).
    const base = after.base || {};
    return changes({ action: "flag.updated", before: base, after: requested(base, asked) }, environmentLabel);
  }
  if (event.action.startsWith("schedule.")) {
    const where = environmentLabel(event.environment || "");
    return event.action === "schedule.created" && after.targeting ? targetingDescription(after.targeting, where) : [];
  }
  for (const field of Object.keys({ ...before, ...after })) {
    const [was, now] = [before[field], after[field]];
    // A webhook's change records it whole, before and after: only what differs is a line.
    if (event.action === "webhook.updated" && same(was, now)) continue;
    if (field === "version" || field === "state" || (created && (isEmpty(now) || same(now, FLAG_DEFAULTS[field])))) {
      continue;
    }
    if (field === "environments") {
      for (const environment of new Set([...Object.keys(was || {}), ...Object.keys(now || {})])) {
        const [off, on] = [was?.[environment], now?.[environment]];
        if (off === undefined && on === false) continue; // a new flag starts off: not worth a line per environment
        rows.push([
          environmentLabel(environment),
          off === undefined ? undefined : onOff(off),
          on === undefined ? undefined : onOff(on),
        ]);
      }
    } else if (field === "targeting") {
      for (const environment of targetedEnvironments(was, now)) {
        rows.push(...targetingRows(was?.[environment], now?.[environment], environmentLabel(environment)));
      }
    } else if (field === "variants") {
      rows.push(...variantRows(was, now));
    } else if (field === "conditions") {
      rows.push(["Conditions", was && conditionsText(was), now && conditionsText(now)]);
    } else if (field === "environment") {
      rows.push(["Environment", was && environmentLabel(was), now && environmentLabel(now)]);
    } else if (field === "archived_at") {
      rows.push([FIELD_LABELS.archived_at, was === undefined ? undefined : was ? "yes" : "no", now ? "yes" : "no"]);
    } else {
      rows.push([FIELD_LABELS[field] || field, was, now]);
    }
  }
  if (event.flag_names?.length) rows.push(["Flags using it", undefined, event.flag_names]);
  return rows;
}

/** What a schedule does, in words: "switch on", "switch off" or "change targeting". */
function scheduledChange(after) {
  if (after?.enabled === true) return "switch on";
  if (after?.enabled === false) return "switch off";
  return "change targeting";
}

function moment(value) {
  return formatMoment(value);
}

/** What an edit changed, named: "Changed targeting in Production and the description" (never a bare "Edited"). */
function updateSummary(event, environmentLabel) {
  const before = event.before || {};
  const after = event.after || {};
  const fields = Object.keys({ ...before, ...after }).filter((field) => field !== "version");
  const parts = [];
  for (const field of fields) {
    if (field === "targeting") {
      const where = targetedEnvironments(before.targeting, after.targeting).map(environmentLabel);
      parts.push(where.length ? `targeting in ${words(where)}` : "targeting");
    } else if (field === "environments") {
      parts.push(`on/off in ${words(Object.keys(after.environments || {}).map(environmentLabel))}`);
    } else if (field === "marked_stale") {
      parts.push(after.marked_stale ? "marked it stale" : "took the stale mark off");
    } else if (field === "archived_at") {
      parts.push(after.archived_at ? "archived it" : "revived it");
    } else {
      parts.push(FIELD_NOUNS[field] || field);
    }
  }
  const what = parts.length ? words(parts) : "nothing visible";
  if (event.schedule_id) return `Scheduled change applied: ${what}`;
  // A copy between environments is the one edit that names its environment (transfer.copy_flag).
  if (event.environment) return `Copied settings into ${environmentLabel(event.environment)}: ${what}`;
  return `Changed ${what}`;
}

function importSummary(after = {}) {
  const counts = (of) => `${of.created ?? 0} created, ${of.updated ?? 0} updated, ${of.removed ?? 0} removed`;
  const segments = after.segments ? `; segments ${counts(after.segments)}` : "";
  const fields = after.context_fields ? `; context fields ${counts(after.context_fields)}` : "";
  return `Imported a ${after.format || ""} document (${after.mode || "upsert"}): flags ${counts(after)}${segments}${fields}`;
}

function summary(event, environmentLabel) {
  const where = event.environment ? ` in ${environmentLabel(event.environment)}` : "";
  const token = event.after || event.before || {};
  const hook = event.after || event.before || {};
  switch (event.action) {
    case "schedule.created":
      return `Scheduled to ${scheduledChange(event.after)}${where} at ${moment(event.after?.at)}`;
    case "schedule.cancelled":
      return `Cancelled a scheduled change${where}`;
    case "schedule.failed":
      return `A scheduled change${where} failed: ${event.after?.reason || "no reason given"}`;
    case "flag.created":
      return "Created";
    case "flag.deleted":
      return event.forced ? "Deleted, although other flags required it" : "Deleted";
    case "flag.archived":
      return event.forced ? "Archived, although other flags required it" : "Archived";
    case "flag.revived":
      return "Revived";
    case "flag.toggled": {
      const environment = event.environment || Object.keys(event.after?.environments || {})[0];
      const now = event.after?.environments?.[environment];
      const place = environment ? ` in ${environmentLabel(environment)}` : "";
      return now === undefined ? `Switched${place}` : `Switched ${onOff(now)}${place}`;
    }
    case "flag.updated":
      return updateSummary(event, environmentLabel);
    case "segment.created":
      return `Segment ${event.segment_name} created`;
    case "segment.updated": {
      const fields = Object.keys(event.after || {}).filter((field) => field !== "version");
      return `Segment ${event.segment_name}: changed ${words(fields.map((field) => FIELD_NOUNS[field] || field))}`;
    }
    case "segment.deleted":
      return `Segment ${event.segment_name} deleted`;
    case "token.created":
    case "token.revoked": {
      const scope = token.environment ? `client, ${environmentLabel(token.environment)}` : token.role || "admin";
      return `Token ${event.token_name} ${event.action === "token.created" ? "created" : "revoked"} (${scope})`;
    }
    case "webhook.created":
      return `Webhook to ${hook.url} created`;
    case "webhook.updated":
      return `Webhook to ${hook.url} changed`;
    case "webhook.deleted":
      return `Webhook to ${hook.url} deleted`;
    case "flags.imported":
      return importSummary(event.after);
    case "change_request.created":
      return `Requested a change${where}${event.after?.apply_at ? `, to apply at ${moment(event.after.apply_at)}` : ""}`;
    case "change_request.approved":
      return `Approved a change request${where}`;
    case "change_request.applied":
      return `Applied an approved change request${where}`;
    case "change_request.rejected":
      return `Rejected a change request${where}${event.after?.review_comment ? `: ${event.after.review_comment}` : ""}`;
    case "change_request.cancelled":
      return `Withdrew a change request${where}`;
    case "change_request.rebased":
      return `Rebased a change request${where} on version ${event.after?.base_version ?? "?"}`;
    case "change_request.failed":
      return `A change request${where} failed: ${event.after?.reason || "no reason given"}`;
    case "context_field.created":
      return `Context field ${event.context_field_name} described`;
    case "context_field.updated":
      return `Context field ${event.context_field_name}: changed ${words(Object.keys(event.after || {}))}`;
    case "context_field.deleted":
      return `Context field ${event.context_field_name}: description removed`;
    case "user.created":
      return `${personName(event.after)} signed in for the first time (${event.after?.role ?? "viewer"})`;
    case "user.updated":
      return `${personName(event.after)}: ${userChanges(event.before, event.after)}`;
    default:
      return event.action;
  }
}

function personName(user) {
  return user?.email || user?.name || "A person";
}

function userChanges(before, after) {
  const changes = [];
  if (before?.role !== after?.role) changes.push(`role ${before?.role ?? "none"} → ${after?.role}`);
  if (before?.active !== after?.active) changes.push(after?.active ? "reactivated" : "deactivated");
  return changes.length ? changes.join(", ") : "details changed";
}

/**
 * A change request read as the event of its creation, as the history shows it: what it changes, by whom, when.
 * @param {Record<string, any>} request as GET /change-requests answers it
 * @returns {AuditEvent}
 */
export function changeRequestEvent(request) {
  return {
    action: "change_request.created",
    actor: request.requested_by,
    at: request.created_at,
    environment: request.environments.length === 1 ? request.environments[0] : null,
    after: { changes: request.changes, base: request.base, apply_at: request.apply_at },
  };
}

/**
 * Build the <li> for one audit event; subject (a node or text) names what it is about, for lists of many, and
 * imported says the change was one flag's part of an import (the same request as a flags.imported event).
 * @param {AuditEvent} event
 * @param {(environment: string) => string} environmentLabel
 * @param {{subject?: Node | string | null, imported?: boolean}} [options]
 * @returns {HTMLLIElement}
 */
export function eventItem(event, environmentLabel, { subject, imported = false } = {}) {
  const list = el("dl", { className: "event-changes" });
  // A token's or webhook's creation and removal say all in their summary; a webhook's change lists what changed.
  const tokenLike =
    event.action.startsWith("token.") || (event.action.startsWith("webhook.") && event.action !== "webhook.updated");
  for (const [label, before, after] of tokenLike ? [] : changes(event, environmentLabel)) {
    if (before === undefined && after === undefined) continue;
    const value = el("dd");
    if (before !== undefined) {
      value.append(el("span", { className: "visually-hidden", text: "before: " }), el("del", { text: shown(before) }));
    }
    if (before !== undefined && after !== undefined) value.append(el("span", { "aria-hidden": "true", text: " → " }));
    if (after !== undefined) {
      value.append(el("span", { className: "visually-hidden", text: "after: " }), el("ins", { text: shown(after) }));
    }
    list.append(el("div", { className: "event-change" }, el("dt", { text: label }), value));
  }
  if (event.action.startsWith("webhook.") && event.action !== "webhook.updated") {
    const hook = event.after || event.before || {};
    list.append(
      el("div", { className: "event-change" }, el("dt", { text: "Events" }), el("dd", { text: shown(hook.events) })),
    );
  }
  return el(
    "li",
    { className: "event" },
    subject ? el("p", { className: "event-subject" }, subject) : null,
    el("p", { className: "event-summary", text: summary(event, environmentLabel) }),
    el(
      "p",
      { className: "event-meta" },
      "by ",
      el("span", { className: "event-actor", text: event.actor }),
      // A change a schedule made: who made the schedule is what a reader wants to know.
      event.scheduled_by ? ` (scheduled by ${event.scheduled_by})` : null,
      imported ? " as part of an import" : null,
      ", ",
      timeElement(event.at),
    ),
    list.childElementCount ? list : null,
  );
}

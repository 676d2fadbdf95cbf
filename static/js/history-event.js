// A flag's audit trail as people read it: what happened, who did it, when, and each value before and after.

import { el, timeElement } from "./dom.js";

const FIELD_LABELS = { name: "Name", description: "Description", type: "Type", tags: "Tags", marked_stale: "Marked stale" };

function shown(value) {
  if (value === true) return "on";
  if (value === false) return "off";
  if (value === null || value === undefined) return "(none)";
  if (value === "") return "(empty)";
  if (Array.isArray(value)) return value.length ? value.join(", ") : "(none)";
  return String(value);
}

function onOff(value) {
  return value ? "on" : "off";
}

/** The changes an event carries, as [label, before, after] rows. */
function changes(event, environmentLabel) {
  const before = event.before || {};
  const after = event.after || {};
  const rows = [];
  for (const field of ["name", "description", "type", "tags", "marked_stale"]) {
    if (field in before || field in after) rows.push([FIELD_LABELS[field], before[field], after[field]]);
  }
  const environments = new Set([...Object.keys(before.environments || {}), ...Object.keys(after.environments || {})]);
  for (const environment of environments) {
    const was = before.environments?.[environment];
    const now = after.environments?.[environment];
    if (was === undefined && now === false) continue; // a new flag starts off: not worth a line per environment
    rows.push([
      environmentLabel(environment),
      was === undefined ? undefined : onOff(was),
      now === undefined ? undefined : onOff(now),
    ]);
  }
  return rows;
}

/** What a schedule does, in words: "switch on", "switch off" or "change targeting". */
function scheduledChange(after) {
  if (after?.enabled === true) return "switch on";
  if (after?.enabled === false) return "switch off";
  return "change targeting";
}

function moment(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

function summary(event, environmentLabel) {
  const where = event.environment ? ` in ${environmentLabel(event.environment)}` : "";
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
      const where = environment ? ` in ${environmentLabel(environment)}` : "";
      return now === undefined ? `Switched${where}` : `Switched ${onOff(now)}${where}`;
    }
    case "flag.updated":
      return "Edited";
    case "segment.created":
      return `Segment '${event.segment_name}' created`;
    case "segment.updated":
      return `Segment '${event.segment_name}' changed`;
    case "segment.deleted":
      return `Segment '${event.segment_name}' deleted`;
    default:
      return event.action;
  }
}

/** Build the <li> for one audit event. */
export function eventItem(event, environmentLabel) {
  const list = el("dl", { className: "event-changes" });
  for (const [label, before, after] of changes(event, environmentLabel)) {
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
  return el(
    "li",
    { className: "event" },
    el("p", { className: "event-summary", text: summary(event, environmentLabel) }),
    el(
      "p",
      { className: "event-meta" },
      "by ",
      el("span", { className: "event-actor", text: event.actor }),
      // A change a schedule made: who made the schedule is what a reader wants to know.
      event.scheduled_by ? ` (scheduled by ${event.scheduled_by})` : null,
      ", ",
      timeElement(event.at),
    ),
    list.childElementCount ? list : null,
  );
}

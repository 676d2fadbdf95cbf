// A flag's history on its own page: its audit trail, newest first, 50 events a page, narrowed to what the reader
// is after (switches, targeting, change requests, one environment's changes), each event drawn as history-event.js
// draws it everywhere.

import { ApiError } from "../api.js";
import { el } from "../dom.js";
import { eventItem } from "../history-event.js";

/** @import { Api } from "../api.js" */
/** @import { Session } from "../session.js" */

// What each choice keeps: an event's action, and the environments it names.
const KINDS = {
  all: { label: "Every change", keeps: () => true },
  switches: {
    label: "Switches",
    keeps: (event) =>
      event.action === "flag.toggled" ||
      (event.action === "flag.updated" && Boolean(event.after?.environments)) ||
      Boolean(event.after?.changes?.environments),
  },
  targeting: {
    label: "Targeting",
    keeps: (event) =>
      (event.action === "flag.updated" && Boolean(event.after?.targeting)) || Boolean(event.after?.changes?.targeting),
  },
  requests: { label: "Change requests", keeps: (event) => event.action.startsWith("change_request.") },
  schedules: { label: "Schedules", keeps: (event) => event.action.startsWith("schedule.") || Boolean(event.schedule_id) },
};

/** Whether an event is about an environment: it names it, or changes its switch or targeting. */
function touches(event, environment) {
  if (event.environment) return event.environment === environment;
  const changed = { ...(event.after || {}), ...(event.after?.changes || {}) };
  const named = [changed.environments, changed.targeting].some((part) => part && environment in part);
  // An edit of the flag as a whole (name, variants, tags) is every environment's.
  return named || !(changed.environments || changed.targeting);
}

/**
 * The history part of the page; show(flag, environment) draws it afresh.
 * @param {HTMLElement} root
 * @param {{api: Api, session: Session, environmentLabel: (name: string) => string}} deps
 */
export function createPageHistory(root, { api, session, environmentLabel }) {
  const kind = el("select", { id: "flag-history-kind" });
  for (const [value, { label }] of Object.entries(KINDS)) kind.append(el("option", { value, text: label }));
  const here = el("input", { type: "checkbox", id: "flag-history-here" });
  const hereLabel = el("label", { for: "flag-history-here" });
  const status = el("p", { className: "count", role: "status" });
  const list = el("ol", { className: "history", "aria-label": "Changes to this flag, newest first" });
  const more = el("button", { type: "button", className: "button small", text: "Show older changes", hidden: true });
  root.replaceChildren(
    el(
      "div",
      { className: "filter-grid history-filters" },
      el("div", { className: "field" }, el("label", { for: "flag-history-kind", text: "Show" }), kind),
      el("div", { className: "field check" }, here, hereLabel),
    ),
    status,
    list,
    more,
  );
  const state = { flag: null, environment: null, events: [], before: null };

  function draw() {
    const keeps = KINDS[kind.value].keeps;
    const shown = state.events.filter(
      (event) => keeps(event) && (!here.checked || touches(event, state.environment)),
    );
    list.replaceChildren(...shown.map((event) => eventItem(event, environmentLabel)));
    more.hidden = !state.before;
    const loaded = state.events.length;
    status.textContent = loaded
      ? `${shown.length} of the ${loaded} latest ${loaded === 1 ? "change" : "changes"} shown, newest first.`
      : "No recorded changes.";
  }

  async function load() {
    more.hidden = true;
    try {
      const answer = await api.history(state.flag._id, state.before);
      state.events.push(...answer.data.events);
      state.before = answer.data.next_before;
    } catch (error) {
      if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
      status.textContent = error.status === 403 ? "The history is shown to admins and editors." : error.message;
      return;
    }
    draw();
  }

  kind.addEventListener("change", draw);
  here.addEventListener("change", draw);
  more.addEventListener("click", load);

  return {
    show(flag, environment) {
      state.flag = flag;
      state.environment = environment;
      state.events = [];
      state.before = null;
      hereLabel.textContent = `Only what touches ${environmentLabel(environment)}`;
      return load();
    },
  };
}

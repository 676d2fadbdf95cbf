// The audit log screen (?page=audit&actor=…&action=…&flag=…&since=…&until=…): every recorded change, newest
// first, a page at a time; the filters live in the address, so a filtered view is a link.

import { ApiError } from "./api.js";
import { loadVocabulary, showErrors, showRefusal } from "./admin-forms.js";
import { byId, clear, el } from "./dom.js";
import { eventItem } from "./history-event.js";
import { pageLink } from "./router.js";

/** @import { Api } from "./api.js" */
/** @import { Router, Screen } from "./router.js" */
/** @import { Session } from "./session.js" */

const PAGE_SIZE = 50;
const FILTERS = ["actor", "action", "flag", "since", "until"];

/** An ISO moment as a datetime-local input's value, in the person's time zone. */
function localInput(iso) {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  return `${day}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/**
 * The id of an event recorded at a moment: event ids are MongoDB ObjectIds, which begin with their creation
 * time in seconds, so "before this id" is "before this moment" (GET /audit filters by since, not until).
 */
function idAt(iso) {
  const seconds = Math.floor(new Date(iso).getTime() / 1000);
  return `${Math.max(0, seconds).toString(16).padStart(8, "0")}0000000000000000`;
}

/**
 * The audit log screen for the router.
 * @param {{api: Api, session: Session, environmentLabel: (name: string) => string, router: Router}} deps
 * @returns {Screen}
 */
export function createAuditScreen({ api, session, environmentLabel, router }) {
  const section = byId("audit-view");
  const form = byId("audit-filters", HTMLFormElement);
  const inputs = {
    actor: byId("audit-actor", HTMLInputElement),
    action: byId("audit-action", HTMLSelectElement),
    flag: byId("audit-flag", HTMLInputElement),
    since: byId("audit-since", HTMLInputElement),
    until: byId("audit-until", HTMLInputElement),
  };
  const view = {
    status: byId("audit-status"),
    list: byId("audit-list"),
    more: byId("audit-more", HTMLButtonElement),
    clear: byId("audit-clear", HTMLButtonElement),
  };
  // shown: the ids of the events listed, so a change made elsewhere adds its event once, at the top.
  const state = { filters: {}, before: null, loading: 0, imports: new Set(), shown: new Set() };

  async function offerActions() {
    if (inputs.action.options.length > 1) return;
    try {
      const { actions } = await loadVocabulary(api);
      for (const action of actions) inputs.action.append(el("option", { value: action, text: action }));
      inputs.action.value = state.filters.action || "";
    } catch {
      // Without the API's description the filter still works from the address; the list just offers no names.
    }
  }

  function subject(event) {
    if (event.flag_name) return pageLink("audit", { ...state.filters, flag: event.flag_name }, event.flag_name);
    if (event.segment_name) return `Segment ${event.segment_name}`;
    if (event.token_name) return `Token ${event.token_name}`;
    if (event.webhook_id) return "Webhook";
    return event.action === "flags.imported" ? "Import" : null;
  }

  function query() {
    const { actor, action, flag, since, until } = state.filters;
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    for (const [name, value] of Object.entries({ actor, action, flag, since })) if (value) params.set(name, value);
    const before = state.before || (until ? idAt(until) : null);
    if (before) params.set("before", before);
    return params;
  }

  // An import's flags carry its request id; its summary event, written last, comes first in this order.
  function noteImports(events) {
    for (const event of events) if (event.action === "flags.imported") state.imports.add(event.request_id);
  }

  /** Forget the changes listed and read the newest page again. */
  function readAfresh() {
    state.before = null;
    state.imports.clear();
    state.shown.clear();
    clear(view.list);
    load();
  }

  function itemOf(event) {
    const imported = event.action !== "flags.imported" && state.imports.has(event.request_id);
    return eventItem(event, environmentLabel, { subject: subject(event), imported });
  }

  /** Put the changes made since the list was read at its top (the event stream said something changed). */
  async function addNewer() {
    // A list that ends at a chosen moment, or not yet read, has nothing newer to show.
    if (state.filters.until || state.loading === 0) return;
    const ticket = state.loading;
    const params = query();
    params.delete("before");
    try {
      const { data } = await api.request("GET", `/audit?${params}`);
      if (ticket !== state.loading) return;
      noteImports(data.events);
      const newer = data.events.filter((event) => !state.shown.has(event._id));
      if (newer.length === data.events.length && data.next_before) {
        // More changes than a page since the list was read: it is read afresh rather than shown with a gap.
        readAfresh();
        return;
      }
      for (const event of newer.reverse()) {
        state.shown.add(event._id);
        view.list.prepend(itemOf(event));
      }
      if (newer.length) showCount();
    } catch (error) {
      // The next change tries again; a revoked token ends the session as anywhere else.
      if (error instanceof ApiError) session.handleAuthFailure(error);
    }
  }

  function showCount() {
    const count = view.list.childElementCount;
    const filtered = FILTERS.some((name) => state.filters[name]);
    view.status.textContent =
      count === 0
        ? filtered
          ? "No changes match these filters."
          : "No recorded changes."
        : `${count} ${count === 1 ? "change" : "changes"}${state.before ? " so far" : ""}, newest first.`;
  }

  async function load() {
    const ticket = ++state.loading;
    view.more.hidden = true;
    view.status.textContent = "Loading changes…";
    try {
      const { data } = await api.request("GET", `/audit?${query()}`);
      if (ticket !== state.loading) return; // a newer filter was asked for meanwhile
      noteImports(data.events);
      for (const event of data.events) {
        if (state.shown.has(event._id)) continue;
        state.shown.add(event._id);
        view.list.append(itemOf(event));
      }
      state.before = data.next_before;
      view.more.hidden = !state.before;
      showCount();
    } catch (error) {
      if (ticket !== state.loading || !(error instanceof ApiError) || session.handleAuthFailure(error)) return;
      view.status.textContent = "";
      showRefusal(form, error);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = {};
    for (const name of ["actor", "action", "flag"]) params[name] = inputs[name].value.trim();
    /** @type {Record<string, string>} */
    const errors = {};
    for (const name of ["since", "until"]) {
      if (!inputs[name].value) continue;
      const moment = new Date(inputs[name].value);
      if (Number.isNaN(moment.getTime())) errors[name] = "Give a date and time.";
      else params[name] = moment.toISOString();
    }
    if (params.since && params.until && params.until <= params.since) errors.until = "Give a moment after From.";
    if (Object.keys(errors).length) {
      showErrors(form, errors);
      return;
    }
    router.go("audit", params);
  });
  view.clear.addEventListener("click", () => router.go("audit", {}));
  view.more.addEventListener("click", load);

  return {
    section,
    readers: true,
    refresh: addNewer,
    show(params) {
      state.filters = Object.fromEntries(FILTERS.map((name) => [name, params[name] || ""]));
      for (const name of ["actor", "action", "flag"]) inputs[name].value = state.filters[name];
      for (const name of ["since", "until"]) inputs[name].value = localInput(state.filters[name]);
      showErrors(form, {});
      offerActions();
      readAfresh();
    },
  };
}

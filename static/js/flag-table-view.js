// The flags screen after sign-in: the filters, the address that holds them (?q=&tag=&type=&state=&stale=&archived=
// &sort=&env=), one page of the API's answer at a time (re-fetched with If-None-Match, so an unchanged page costs a
// 304), the count, the pager and the empty state. The API filters, sorts and pages; the first page of a view is
// also found at once in the page's index of every flag (flag-index.js), which the API's answer then confirms.

import { ApiError } from "./api.js";
import { byId, clear, el, showFieldError } from "./dom.js";
import { FlagIndex } from "./flag-index.js";

/** @import { Api } from "./api.js" */
/** @import { FlagsTable } from "./flag-table.js" */
/** @import { Messages } from "./messages.js" */
/** @import { Params } from "./router.js" */
/** @import { Session } from "./session.js" */

// Unleash's default is 25: 50 rows fill two screens and still lay out in a frame or two.
export const PAGE_SIZE = 50;
// The address's names of the filters, each the API's parameter of the same name (env is the API's environment).
const FILTERS = ["q", "tag", "type", "state", "stale", "archived", "sort"];
const API_NAMES = { env: "environment" };

function nextCursor(link) {
  // Link: <url>; rel="next" (RFC 8288): the cursor rides in the URL's query.
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link || "");
  return match ? new URL(match[1], window.location.href).searchParams.get("cursor") : null;
}

/**
 * Show the session's flags in table, filtered as the controls (and so the address) say.
 * @param {{api: Api, table: FlagsTable, session: Session, messages: Messages, defaultEnvironment: string,
 *   go: (params: Params, options?: {replace?: boolean}) => void}} deps
 */
export function createFlagsView({ api, table, session, messages, defaultEnvironment, go }) {
  const form = byId("flag-filters", HTMLFormElement);
  const view = {
    search: byId("search", HTMLInputElement),
    controls: Object.fromEntries(
      ["tag", "type", "state", "env", "stale", "sort", "archived"].map((name) => [name, form.elements[name]]),
    ),
    readOnlyNote: byId("read-only-note"),
    count: byId("flag-count"),
    empty: byId("empty-state"),
    previous: byId("page-previous", HTMLButtonElement),
    next: byId("page-next", HTMLButtonElement),
    chosenTags: byId("filter-tags-chosen"),
  };
  view.controls.q = view.search;
  const state = {
    flags: [],
    // The tags the list is narrowed to, each a flag must carry; the tag select adds one at a time.
    tags: [],
    loaded: false,
    etags: new Map(),
    offline: false,
    // Cursors of the pages before this one, and this one's (null: the first page).
    cursors: [],
    cursor: null,
    next: null,
    total: 0,
    all: 0,
    // The environment `all` (every flag, unfiltered) was counted in; null once a change may have moved it. Asked
    // again only then, not on every keystroke.
    allFor: null,
    // Bumped by every change made here and every new view: an answer fetched before it must not paint over it.
    generation: 0,
    // The index found more flags than the page shows, before the API's answer gives the next page's cursor.
    more: false,
    // The fetch under way, which a click on Next waits for when only the index has answered yet.
    pending: null,
    // A person changed the view: the index is worth (re)reading. A change streamed from elsewhere only marks it out
    // of date, so that every change does not cost every open page the whole list; the next view reads it again.
    indexWanted: false,
  };
  const index = new FlagIndex(api);

  /** The environment whose state the switches' "state" filter means, as the address asks (if the token reads it). */
  function environment() {
    const wanted = view.controls.env.value;
    if (session.environments.includes(wanted)) return wanted;
    return session.environments.includes(defaultEnvironment) ? defaultEnvironment : session.environments[0];
  }

  /** The view's filters as the API names them; tag, when given, is a list. */
  function filters() {
    const values = {};
    for (const name of FILTERS) {
      if (name === "tag") {
        if (state.tags.length) values.tag = [...state.tags];
        continue;
      }
      const control = view.controls[name];
      const value = control.type === "checkbox" ? (control.checked ? "true" : "") : control.value.trim();
      if (value) values[name] = value;
    }
    return values;
  }

  /** Show the chosen tags as chips that take themselves off, and offer the others in the select. */
  function showChosenTags() {
    const select = view.controls.tag;
    select.options[0].textContent = state.tags.length ? "Add a tag" : "Any tag";
    for (const option of [...select.options].slice(1)) option.hidden = state.tags.includes(option.value);
    view.chosenTags.replaceChildren(
      ...state.tags.map((tag) => {
        const remove = el("button", { type: "button", className: "tag-remove", text: "×" });
        remove.setAttribute("aria-label", `Remove tag ${tag}`);
        remove.addEventListener("click", () => {
          state.tags = state.tags.filter((one) => one !== tag);
          applyFilters(true);
          select.focus();
        });
        return el("li", { className: "tag chosen-tag" }, el("span", { text: tag }), remove);
      }),
    );
    view.chosenTags.hidden = state.tags.length === 0;
  }

  /** Open the view for the session just begun, as the address names it. */
  function open(params) {
    view.readOnlyNote.hidden = session.canEdit;
    for (const option of view.controls.env.options) option.hidden = !session.environments.includes(option.value);
    loadTags();
    followUrl(params);
    view.search.focus();
  }

  /** Take the view the address names (a link, back or forward), and show it. */
  function followUrl(params) {
    state.tags = [...new Set([params.tag ?? []].flat())];
    view.controls.tag.value = "";
    showChosenTags();
    for (const name of [...FILTERS, "env"]) {
      if (name === "tag") continue;
      const control = view.controls[name];
      const value = params[name] || "";
      // The address holds the search trimmed: while typing "new " the box keeps its space (and its caret).
      if (name === "q" && control.value.trim() === value) continue;
      if (control.type === "checkbox") control.checked = value === "true";
      else {
        control.value = value;
      }
    }
    view.controls.env.value = environment();
    table.setMode(session.environments, environment(), !session.canEdit, session.editable);
    state.cursors = [];
    state.cursor = null;
    state.generation += 1;
    state.indexWanted = true;
    // Rows cleared for new columns need building again; otherwise (a keystroke) the rows stand until the answer.
    if (table.rows.size !== state.flags.length) render(state.flags);
    else showCounts();
    refresh();
  }

  /** Put the controls into the address (in place while typing, else a new entry) and show the first page. */
  function applyFilters(push) {
    go({ ...filters(), env: environment() }, { replace: !push });
  }

  view.search.addEventListener("input", () => applyFilters(false));
  form.addEventListener("change", (event) => {
    if (event.target === view.controls.tag) {
      const tag = view.controls.tag.value;
      view.controls.tag.value = "";
      if (!tag || state.tags.includes(tag)) return;
      state.tags = [...state.tags, tag];
    }
    if (event.target !== view.search) applyFilters(true);
  });
  form.addEventListener("submit", (event) => event.preventDefault());

  function query(extra) {
    const params = new URLSearchParams({ environment: environment() });
    for (const [name, value] of Object.entries({ ...filters(), ...extra })) {
      for (const one of [value].flat()) params.append(name, one);
    }
    return `/flags?${params}`;
  }

  async function fetchList(path) {
    const answer = await api.request("GET", path, { ifNoneMatch: state.etags.get(path)?.etag });
    if (answer.status !== 304) state.etags.set(path, { etag: answer.etag, answer });
    return answer.status === 304 ? state.etags.get(path).answer : answer;
  }

  /** Fetch the page shown (and, when filtered, how many flags there are in all); unchanged ones cost a 304. */
  function refresh() {
    state.pending = fetchPage();
    return state.pending;
  }

  /** Show the first page of the view as the index finds it, if it can; return whether it did. */
  function showFromIndex() {
    const local = state.cursor === null && index.firstPage(environment(), filters(), PAGE_SIZE);
    if (!local) return false;
    state.loaded = true;
    state.total = local.total;
    state.all = local.all;
    state.allFor = environment();
    state.next = null;
    state.more = local.total > local.flags.length;
    performance.mark("ff-list-local");
    render(local.flags);
    return true;
  }

  async function fetchPage() {
    const generation = state.generation;
    if (!session.signedIn || session.environments.length === 0) return;
    const filtered = Object.keys(filters()).some((name) => name !== "sort");
    const extra = { limit: String(PAGE_SIZE) };
    if (state.cursor) extra.cursor = state.cursor;
    const local = showFromIndex();
    const askAll = filtered && state.allFor !== environment();
    try {
      const [page, all] = await Promise.all([
        fetchList(query(extra)),
        askAll ? fetchList(`/flags?${new URLSearchParams({ environment: environment(), limit: "1" })}`) : null,
      ]);
      if (state.offline) {
        state.offline = false;
        messages.show("Connected again.", "notice");
      }
      if (generation !== state.generation) return;
      showFieldErrors({});
      state.loaded = true;
      state.total = Number(page.headers.get("X-Total-Count") ?? page.data.length);
      if (all) state.all = Number(all.headers.get("X-Total-Count"));
      else if (!filtered) state.all = state.total;
      if (all || !filtered) state.allFor = environment();
      state.next = nextCursor(page.headers.get("Link"));
      state.more = false;
      // Read (or confirmed unchanged) once a page is on screen, so it never delays one.
      if (state.indexWanted && !index.fresh) {
        state.indexWanted = false;
        setTimeout(() => index.load(environment()), 0);
      }
      if (page.data === state.flags) {
        if (local) showCounts();
        return;
      }
      performance.mark("ff-list-received");
      render(page.data);
      // From the answer to the frame that shows it (render, style, layout, paint): what a person waits for.
      requestAnimationFrame(() => setTimeout(() => performance.measure("ff-list-shown", "ff-list-received"), 0));
    } catch (error) {
      if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
      if (error.status === 400 && generation === state.generation) {
        showFieldErrors(error.fieldErrors(), error.message);
        return;
      }
      if (!state.offline) {
        state.offline = true;
        messages.show(error.message);
      }
    }
  }

  function showFieldErrors(fields, general) {
    let shown = false;
    for (const name of [...FILTERS, "env"]) {
      const message = fields[API_NAMES[name] || name];
      shown ||= Boolean(message);
      showFieldError(view.controls[name], document.getElementById(`${name === "q" ? "search" : name}-error`), message);
    }
    if (general && !shown) messages.show(general);
  }

  function render(flags) {
    state.flags = flags;
    table.update(flags);
    showCounts();
  }

  function showCounts() {
    const { total, all } = state;
    const values = filters();
    const filtered = Object.keys(values).some((name) => name !== "sort");
    const first = state.cursors.length * PAGE_SIZE + 1;
    const range = total > state.flags.length ? `, showing ${first} to ${first + state.flags.length - 1}` : "";
    const number = (n) => n.toLocaleString("en");
    view.count.textContent = filtered
      ? `${number(total)} of ${number(all)} flags match${range}`
      : `${number(total)} ${total === 1 ? "flag" : "flags"}${range}`;
    view.previous.hidden = state.cursors.length === 0;
    view.next.hidden = !state.next && !state.more;
    clear(view.empty);
    if (!state.loaded) {
      view.count.textContent = "Loading flags…";
    } else if (all === 0) {
      view.count.textContent = "";
      view.empty.append(
        el("p", { className: "empty-title", text: `No flags in ${table.label(environment())} yet.` }),
        el("p", {
          text:
            session.canEdit
              ? "Flags you create appear here, switched off in every environment until you switch them on."
              : "Flags appear here when an admin creates them.",
        }),
      );
    } else if (total === 0) {
      const onlySearch = Object.keys(values).every((name) => name === "q" || name === "sort");
      const text = onlySearch ? "Clear search" : "Clear filters";
      const reset = el("button", { type: "button", className: "button", text });
      reset.addEventListener("click", () => {
        go({ env: environment(), sort: values.sort }, { replace: false });
        view.search.focus();
      });
      const title = onlySearch ? `No flags match “${values.q}”.` : "No flags match these filters.";
      view.empty.append(el("p", { className: "empty-title", text: title }), reset);
    }
    view.empty.hidden = view.empty.childElementCount === 0;
  }

  async function turn(forward) {
    if (forward && !state.next && state.more) {
      // The index showed there is more; the API's answer, under way, says where the next page starts.
      await state.pending;
      if (!state.next) return;
    }
    if (forward) {
      state.cursors.push(state.cursor);
      state.cursor = state.next;
    } else {
      state.cursor = state.cursors.pop() ?? null;
    }
    state.generation += 1;
    refresh();
  }

  view.next.addEventListener("click", () => turn(true));
  view.previous.addEventListener("click", () => turn(false));

  async function loadTags() {
    try {
      const answer = await api.request("GET", "/tags");
      const select = view.controls.tag;
      select.replaceChildren(
        select.options[0],
        ...answer.data.map(({ tag, flags }) => el("option", { value: tag, text: `${tag} (${flags})` })),
      );
      select.value = "";
      showChosenTags();
    } catch (error) {
      // Without the tags the other filters still work; a revoked token ends the session as anywhere else.
      if (error instanceof ApiError) session.handleAuthFailure(error);
    }
  }

  /** A change made here is under way: no page fetched before it may paint over its result. */
  function changing() {
    state.generation += 1;
  }

  /** Show a flag as the API just returned it (in its row, or added for a new one), then read the page again. */
  function replace(flag) {
    const index = state.flags.findIndex((f) => f._id === flag._id);
    const flags = [...state.flags];
    if (index >= 0) flags[index] = flag;
    else {
      flags.unshift(flag);
      state.total += 1;
      state.all += 1;
    }
    applyLocal(flags);
  }

  /** Take a flag deleted here off the table. */
  function remove(id) {
    state.total = Math.max(0, state.total - 1);
    state.all = Math.max(0, state.all - 1);
    applyLocal(state.flags.filter((f) => f._id !== id));
  }

  function applyLocal(flags) {
    changing();
    state.allFor = null;
    index.invalidate();
    render(flags);
    // The pages cached under their ETags are no longer what the table shows.
    state.etags.clear();
    refresh();
    loadTags();
  }

  /** Forget every flag (at sign-out). */
  function reset() {
    state.flags = [];
    state.loaded = false;
    state.allFor = null;
    state.etags.clear();
    state.cursors = [];
    state.cursor = null;
    state.more = false;
    index.clear();
    table.update([]);
  }

  return {
    open,
    followUrl,
    /** Read the page again after a change made elsewhere (the event stream's word): the unfiltered count too. */
    refresh: () => {
      state.allFor = null;
      index.invalidate();
      return refresh();
    },
    changing,
    replace,
    remove,
    reset,
    environment,
    focusSearch: () => view.search.focus(),
  };
}

/** @typedef {ReturnType<typeof createFlagsView>} FlagsView */

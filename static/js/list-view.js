// The list view after sign-in: the selected environment's flags as the API last sent them (re-fetched with
// If-None-Match, so an unchanged list costs a 304), changes made here applied at once, the search box, the count
// and the empty state.

import { ApiError } from "./api.js";
import { clear, el } from "./dom.js";
import { environmentFromUrl, searchFromUrl, writeUrl } from "./page-url.js";

function byName(a, b) {
  // The API sorts by name in code-point order; so does this, so a local change lands where a reload puts it.
  if (a.name < b.name) return -1;
  return a.name > b.name ? 1 : 0;
}

/** Show the session's flags in list, for the environment the tabs select. */
export function createListView({ api, list, session, tabs, messages }) {
  const view = {
    search: document.getElementById("search"),
    readOnlyNote: document.getElementById("read-only-note"),
    count: document.getElementById("flag-count"),
    empty: document.getElementById("empty-state"),
  };
  const state = {
    environment: null,
    flags: [],
    loaded: false,
    etags: new Map(),
    offline: false,
    // Bumped by every change made here: a list fetched before it must not paint over its result.
    generation: 0,
  };

  /** Open the view for the session just begun, on the environment and search the address names. */
  function open() {
    view.readOnlyNote.hidden = session.role === "admin";
    tabs.offer(session.environments);
    followUrl();
    view.search.focus();
  }

  function followUrl() {
    view.search.value = searchFromUrl();
    tabs.select(tabs.pick(environmentFromUrl()));
  }

  /** Show this environment's flags (what is known at once, then the API's answer). */
  function show(environment, push) {
    state.environment = environment;
    writeUrl(environment, view.search.value, push);
    list.setMode(environment, session.role !== "admin");
    render(state.flags);
    refresh();
  }

  function render(flags) {
    state.flags = flags;
    // The box's value, not the list's last query: a link's ?q= fills the box before the first list arrives.
    const counts = list.update(flags, view.search.value);
    showCounts(counts);
  }

  function showCounts({ shown, total }) {
    const query = view.search.value.trim();
    view.count.textContent =
      total === 0 ? "" : query ? `${shown} of ${total} flags match` : `${total} ${total === 1 ? "flag" : "flags"}`;
    clear(view.empty);
    if (!state.loaded) {
      view.count.textContent = "Loading flags…";
    } else if (total === 0) {
      view.empty.append(
        el("p", { className: "empty-title", text: `No flags in ${tabs.label(state.environment)} yet.` }),
        el("p", {
          text:
            session.role === "admin"
              ? "Flags you create appear here, switched off in every environment until you switch them on."
              : "Flags appear here when an admin creates them.",
        }),
      );
    } else if (shown === 0) {
      const reset = el("button", { type: "button", className: "button", text: "Clear search" });
      reset.addEventListener("click", () => {
        view.search.value = "";
        applySearch();
        view.search.focus();
      });
      view.empty.append(el("p", { className: "empty-title", text: `No flags match “${query}”.` }), reset);
    }
    view.empty.hidden = view.empty.childElementCount === 0;
  }

  function applySearch() {
    showCounts(list.filter(view.search.value));
    writeUrl(state.environment, view.search.value, false);
  }

  view.search.addEventListener("input", applySearch);

  /** Fetch the current environment's flags; an unchanged list costs a 304. */
  async function refresh() {
    const environment = state.environment;
    const generation = state.generation;
    if (!session.token || !environment) return;
    try {
      const answer = await api.listFlags(environment, state.etags.get(environment));
      if (state.offline) {
        state.offline = false;
        messages.show("Connected again.", "notice");
      }
      if (environment !== state.environment || generation !== state.generation || answer.status === 304) return;
      state.etags.set(environment, answer.etag);
      state.loaded = true;
      performance.mark("ff-list-received");
      render(answer.data);
      // From the answer to the frame that shows it (render, style, layout, paint): what a person waits for.
      requestAnimationFrame(() => setTimeout(() => performance.measure("ff-list-shown", "ff-list-received"), 0));
    } catch (error) {
      if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
      if (!state.offline) {
        state.offline = true;
        messages.show(error.message);
      }
    }
  }

  /** A change made here is under way: no list fetched before it may paint over its result. */
  function changing() {
    state.generation += 1;
  }

  /** Show a flag as the API just returned it, in its place by name. */
  function replace(flag) {
    const others = state.flags.filter((f) => f._id !== flag._id);
    applyLocal([...others, flag].sort(byName));
  }

  /** Take a flag deleted here off the list. */
  function remove(id) {
    applyLocal(state.flags.filter((f) => f._id !== id));
  }

  function applyLocal(flags) {
    changing();
    render(flags);
    // The list cached under the last ETag is no longer what the page shows.
    state.etags.delete(state.environment);
  }

  /** Forget every flag (at sign-out). */
  function reset() {
    state.flags = [];
    state.loaded = false;
    state.etags.clear();
    list.update([]);
  }

  return {
    open,
    followUrl,
    show,
    refresh,
    changing,
    replace,
    remove,
    reset,
    environment: () => state.environment,
    focusSearch: () => view.search.focus(),
  };
}

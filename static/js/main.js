// The admin page: sign-in, environment tabs, the flag list with its dialogs, and polling for changes made elsewhere.

import { Api, ApiError } from "./api.js";
import { clear, el } from "./dom.js";
import { FlagList } from "./flag-list.js";
import { eventItem } from "./history.js";

const TOKEN_KEY = "ff.token";
const settings = document.body.dataset;
const config = {
  apiBase: settings.apiBase || "",
  environments: (settings.environments || "").split(",").filter(Boolean),
  defaultEnvironment: settings.defaultEnvironment,
  pollMs: Number(settings.pollMs) || 2500,
};

const $ = (id) => document.getElementById(id);
const view = {
  signIn: $("sign-in-view"),
  signInForm: $("sign-in-form"),
  tokenInput: $("token-input"),
  signInError: $("sign-in-error"),
  signInButton: $("sign-in-button"),
  flags: $("flags-view"),
  who: $("who"),
  signOut: $("sign-out"),
  tabs: [...document.querySelectorAll('[role="tab"]')],
  panel: $("flags-panel"),
  search: $("search"),
  newFlag: $("new-flag"),
  readOnlyNote: $("read-only-note"),
  count: $("flag-count"),
  messages: $("messages"),
  list: $("flag-list"),
  empty: $("empty-state"),
  createDialog: $("create-dialog"),
  createForm: $("create-form"),
  createName: $("create-name"),
  createDescription: $("create-description"),
  createError: $("create-error"),
  deleteDialog: $("delete-dialog"),
  deleteForm: $("delete-form"),
  deleteTitle: $("delete-title"),
  deleteError: $("delete-error"),
  historyDialog: $("history-dialog"),
  historyTitle: $("history-title"),
  historyStatus: $("history-status"),
  historyList: $("history-list"),
  historyMore: $("history-more"),
};

function readToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function storeToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage refused (private mode): the session lasts as long as this page instead.
  }
}

const session = { token: null, role: null, environments: [] };
const api = new Api(config.apiBase, () => session.token);
const state = {
  environment: null,
  flags: [],
  loaded: false,
  etags: new Map(),
  pollTimer: null,
  polling: false,
  offline: false,
  // Bumped by every change made here: a list fetched before it must not paint over its result.
  generation: 0,
};

function environmentLabel(name) {
  const tab = view.tabs.find((t) => t.dataset.environment === name);
  return tab ? tab.textContent.trim() : name;
}

const list = new FlagList(view.list, {
  toggle: toggleFlag,
  save: saveFlag,
  history: openHistory,
  remove: openDelete,
});

// -- messages -----------------------------------------------------------------------------

let messageTimer = null;

/** Show one message above the list (errors stay until dismissed; notices fade after a while). */
function showMessage(text, kind = "error") {
  clearTimeout(messageTimer);
  const dismiss = el("button", { type: "button", className: "button small", text: "Dismiss" });
  dismiss.addEventListener("click", () => {
    clearMessage();
    view.search.focus();
  });
  view.messages.replaceChildren(el("div", { className: `message ${kind}` }, el("p", { text }), dismiss));
  if (kind !== "error") messageTimer = setTimeout(clearMessage, 8000);
}

function clearMessage() {
  clearTimeout(messageTimer);
  clear(view.messages);
}

// -- signing in and out -------------------------------------------------------------------

/** Find out what a token may do: /tokens answers admins only, and a client token reads one environment. */
async function describeToken(token) {
  let role = "admin";
  try {
    await api.listTokens(token);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 403) throw error;
    role = "client";
  }
  if (role === "admin") return { role, environments: config.environments };
  const readable = await Promise.all(
    config.environments.map((environment) =>
      api.listFlags(environment, null, token).then(
        () => true,
        (error) => {
          if (error instanceof ApiError && error.status === 403) return false;
          throw error;
        },
      ),
    ),
  );
  return { role, environments: config.environments.filter((_, i) => readable[i]) };
}

async function signIn(token) {
  const described = await describeToken(token);
  session.token = token;
  session.role = described.role;
  session.environments = described.environments;
  storeToken(token);
  showFlagsView();
}

function signOut(message) {
  session.token = null;
  session.role = null;
  storeToken(null);
  stopPolling();
  state.flags = [];
  state.loaded = false;
  state.etags.clear();
  list.update([]);
  clearMessage();
  for (const dialog of [view.createDialog, view.deleteDialog, view.historyDialog]) {
    if (dialog.open) dialog.close();
  }
  view.flags.hidden = true;
  view.who.hidden = true;
  view.signOut.hidden = true;
  view.signIn.hidden = false;
  view.tokenInput.value = "";
  view.signInError.textContent = message || "";
  view.tokenInput.focus();
}

view.signInForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = view.tokenInput.value.trim();
  if (!token) {
    view.signInError.textContent = "Enter an API token.";
    view.tokenInput.setAttribute("aria-invalid", "true");
    view.tokenInput.focus();
    return;
  }
  view.signInButton.disabled = true;
  view.signInError.textContent = "";
  try {
    await signIn(token);
    view.tokenInput.value = "";
    view.tokenInput.removeAttribute("aria-invalid");
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    view.signInError.textContent =
      error.status === 401 ? "That token was not accepted. Check it and try again." : error.message;
    view.tokenInput.setAttribute("aria-invalid", "true");
    view.tokenInput.focus();
  } finally {
    view.signInButton.disabled = false;
  }
});

view.signOut.addEventListener("click", () => signOut(""));

/** Any answer saying the token no longer works (revoked, say) ends the session. */
function handleAuthFailure(error) {
  if (error instanceof ApiError && error.status === 401) {
    signOut("Your token is no longer accepted. Sign in again.");
    return true;
  }
  return false;
}

// -- environments -------------------------------------------------------------------------

function environmentFromUrl() {
  return new URLSearchParams(window.location.search).get("env");
}

function writeUrl(push) {
  const params = new URLSearchParams(window.location.search);
  params.set("env", state.environment);
  const query = view.search.value.trim();
  if (query) params.set("q", query);
  else params.delete("q");
  const url = `${window.location.pathname}?${params}${window.location.hash}`;
  if (url === `${window.location.pathname}${window.location.search}${window.location.hash}`) return;
  if (push) window.history.pushState(null, "", url);
  else window.history.replaceState(null, "", url);
}

function pickEnvironment(wanted) {
  const allowed = session.environments;
  if (wanted && allowed.includes(wanted)) return wanted;
  return allowed.includes(config.defaultEnvironment) ? config.defaultEnvironment : allowed[0];
}

function selectEnvironment(environment, { push = false, focus = false } = {}) {
  state.environment = environment;
  for (const tab of view.tabs) {
    const selected = tab.dataset.environment === environment;
    tab.setAttribute("aria-selected", selected ? "true" : "false");
    tab.tabIndex = selected ? 0 : -1;
    if (selected) {
      view.panel.setAttribute("aria-labelledby", tab.id);
      if (focus) tab.focus();
    }
  }
  writeUrl(push);
  list.setMode(environment, session.role !== "admin");
  render(state.flags);
  refresh();
}

for (const tab of view.tabs) {
  tab.addEventListener("click", () => selectEnvironment(tab.dataset.environment, { push: true }));
  tab.addEventListener("keydown", (event) => {
    // The tabs pattern: arrows move between tabs (and select), Home and End jump to the ends.
    const shownTabs = view.tabs.filter((t) => !t.hidden);
    const index = shownTabs.indexOf(tab);
    let target = null;
    if (event.key === "ArrowRight") target = shownTabs[(index + 1) % shownTabs.length];
    else if (event.key === "ArrowLeft") target = shownTabs[(index - 1 + shownTabs.length) % shownTabs.length];
    else if (event.key === "Home") target = shownTabs[0];
    else if (event.key === "End") target = shownTabs[shownTabs.length - 1];
    if (!target) return;
    event.preventDefault();
    selectEnvironment(target.dataset.environment, { push: true, focus: true });
  });
}

window.addEventListener("popstate", () => {
  if (!session.role) return;
  view.search.value = new URLSearchParams(window.location.search).get("q") || "";
  selectEnvironment(pickEnvironment(environmentFromUrl()));
});

function showFlagsView() {
  const admin = session.role === "admin";
  view.signIn.hidden = true;
  view.flags.hidden = false;
  view.signOut.hidden = false;
  view.who.hidden = false;
  view.who.textContent = admin ? "Admin" : `Read-only · ${session.environments.map(environmentLabel).join(", ")}`;
  view.newFlag.hidden = !admin;
  view.readOnlyNote.hidden = admin;
  for (const tab of view.tabs) tab.hidden = !session.environments.includes(tab.dataset.environment);
  view.search.value = new URLSearchParams(window.location.search).get("q") || "";
  selectEnvironment(pickEnvironment(environmentFromUrl()));
  view.search.focus();
  startPolling();
}

// -- the list -----------------------------------------------------------------------------

function byName(a, b) {
  // The API sorts by name in code-point order; so does this, so a local change lands where a reload puts it.
  if (a.name < b.name) return -1;
  return a.name > b.name ? 1 : 0;
}

function render(flags) {
  state.flags = flags;
  const counts = list.update(flags);
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
      el("p", { className: "empty-title", text: `No flags in ${environmentLabel(state.environment)} yet.` }),
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
  writeUrl(false);
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
      showMessage("Connected again.", "notice");
    }
    if (environment !== state.environment || generation !== state.generation || answer.status === 304) return;
    state.etags.set(environment, answer.etag);
    state.loaded = true;
    performance.mark("ff-list-received");
    render(answer.data);
    // From the answer to the frame that shows it (render, style, layout, paint): what a person waits for.
    requestAnimationFrame(() => setTimeout(() => performance.measure("ff-list-shown", "ff-list-received"), 0));
  } catch (error) {
    if (!(error instanceof ApiError) || handleAuthFailure(error)) return;
    if (!state.offline) {
      state.offline = true;
      showMessage(error.message);
    }
  }
}

function replaceFlag(flag) {
  state.generation += 1;
  const others = state.flags.filter((f) => f._id !== flag._id);
  render([...others, flag].sort(byName));
  state.etags.delete(state.environment);
}

function startPolling() {
  stopPolling();
  const tick = async () => {
    if (!document.hidden && !state.polling) {
      state.polling = true;
      try {
        await refresh();
      } finally {
        state.polling = false;
      }
    }
    if (session.token) state.pollTimer = setTimeout(tick, config.pollMs);
  };
  state.pollTimer = setTimeout(tick, config.pollMs);
}

function stopPolling() {
  clearTimeout(state.pollTimer);
  state.pollTimer = null;
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && session.token) refresh();
});

// -- changing flags -----------------------------------------------------------------------

async function toggleFlag(flag) {
  const environment = state.environment;
  const was = Boolean(flag.environments[environment]);
  // Show the new state at once; the If-Match in toggleFlag makes the server refuse if the flag moved meanwhile.
  list.showState(flag._id, !was, true);
  state.generation += 1;
  try {
    const answer = await api.toggleFlag(flag, environment);
    list.showState(flag._id, null, false);
    replaceFlag(answer.data);
  } catch (error) {
    list.showState(flag._id, null, false);
    if (!(error instanceof ApiError) || handleAuthFailure(error)) return;
    const where = environmentLabel(environment);
    let reason = error.message;
    if (error.status === 412) reason = "It was changed elsewhere a moment ago; the list now shows its current state.";
    else if (error.status === 404) reason = "It was deleted elsewhere.";
    showMessage(`Could not switch ${flag.name} ${was ? "off" : "on"} in ${where}. ${reason}`);
    await refresh();
  }
}

async function saveFlag(flag, changes) {
  try {
    const answer = await api.updateFlag(flag, changes);
    replaceFlag(answer.data);
    showMessage(`Saved ${answer.data.name}.`, "notice");
  } catch (error) {
    if (handleAuthFailure(error)) return;
    // A conflict means the list is stale: refresh it so the editor can start from the current version.
    if (error instanceof ApiError && error.status === 412) await refresh();
    throw error;
  }
}

// -- dialogs ------------------------------------------------------------------------------

for (const dialog of [view.createDialog, view.deleteDialog, view.historyDialog]) {
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => dialog.close());
  }
}

function setFieldError(input, message) {
  const error = $(`${input.id}-error`);
  error.textContent = message || "";
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

view.newFlag.addEventListener("click", () => {
  view.createForm.reset();
  setFieldError(view.createName, "");
  setFieldError(view.createDescription, "");
  view.createError.textContent = "";
  view.createDialog.showModal();
  view.createName.focus();
});

view.createForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const submit = view.createForm.querySelector('[type="submit"]');
  submit.disabled = true;
  try {
    const answer = await api.createFlag({ name: view.createName.value, description: view.createDescription.value });
    view.createDialog.close();
    replaceFlag(answer.data);
    showMessage(`Created ${answer.data.name}. It is off in every environment.`, "notice");
    if (!list.focusSwitch(answer.data._id)) view.newFlag.focus();
  } catch (error) {
    if (!(error instanceof ApiError) || handleAuthFailure(error)) return;
    const fields = error.fieldErrors();
    setFieldError(view.createName, fields.name);
    setFieldError(view.createDescription, fields.description);
    view.createError.textContent = fields.name || fields.description ? "" : error.message;
    (fields.description && !fields.name ? view.createDescription : view.createName).focus();
  } finally {
    submit.disabled = false;
  }
});

let deleting = null;

function openDelete(flag) {
  deleting = flag;
  view.deleteTitle.textContent = `Delete ${flag.name}?`;
  view.deleteError.textContent = "";
  view.deleteDialog.showModal();
}

view.deleteForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const flag = list.flag(deleting._id) || deleting;
  const submit = view.deleteForm.querySelector('[type="submit"]');
  submit.disabled = true;
  const neighbour = list.neighbourOf(flag._id);
  try {
    await api.deleteFlag(flag);
    state.generation += 1;
    view.deleteDialog.close();
    render(state.flags.filter((f) => f._id !== flag._id));
    state.etags.delete(state.environment);
    showMessage(`Deleted ${flag.name}.`, "notice");
    if (!neighbour || !list.focusSwitch(neighbour)) view.search.focus();
  } catch (error) {
    if (!(error instanceof ApiError) || handleAuthFailure(error)) return;
    if (error.status === 404) {
      view.deleteDialog.close();
      showMessage(`${flag.name} was already deleted.`, "notice");
      await refresh();
      return;
    }
    if (error.status === 412) {
      await refresh();
      deleting = list.flag(flag._id) || flag;
      const who = deleting.updated_by || "Someone";
      view.deleteError.textContent = `${who} changed ${flag.name} a moment ago. Delete it anyway?`;
      return;
    }
    view.deleteError.textContent = error.message;
  } finally {
    submit.disabled = false;
  }
});

view.deleteDialog.addEventListener("close", () => {
  // Back to the button that opened it, if the flag is still there.
  if (deleting && list.flag(deleting._id)) {
    const item = view.list.querySelector(`li[data-id="${CSS.escape(deleting._id)}"] .danger-text`);
    item?.focus();
  }
});

const history = { flag: null, before: null, opener: null };

async function loadHistory() {
  view.historyMore.hidden = true;
  view.historyStatus.textContent = "Loading…";
  try {
    const answer = await api.history(history.flag._id, history.before);
    for (const event of answer.data.events) view.historyList.append(eventItem(event, environmentLabel));
    history.before = answer.data.next_before;
    view.historyMore.hidden = !history.before;
    const count = view.historyList.childElementCount;
    view.historyStatus.textContent =
      count === 0 ? "No recorded changes." : `${count} ${count === 1 ? "change" : "changes"}, newest first.`;
  } catch (error) {
    if (!(error instanceof ApiError) || handleAuthFailure(error)) return;
    view.historyStatus.textContent = error.message;
  }
}

function openHistory(flag) {
  history.flag = flag;
  history.before = null;
  history.opener = document.activeElement;
  view.historyTitle.textContent = `History of ${flag.name}`;
  clear(view.historyList);
  view.historyDialog.showModal();
  loadHistory();
}

view.historyMore.addEventListener("click", loadHistory);
view.historyDialog.addEventListener("close", () => {
  if (history.opener?.isConnected) history.opener.focus();
});

// -- start ----------------------------------------------------------------------------------

async function start() {
  const token = readToken();
  if (!token) {
    signOut("");
    return;
  }
  try {
    await signIn(token);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    signOut(error.status === 401 ? "Your token is no longer accepted. Sign in again." : error.message);
  }
}

start();

// Which screen the page shows. The address names it (?page=…, the flags table when absent) with the screen's own
// parameters beside it, so every view is a link and the back button works. Query parameters rather than paths:
// /flags/… is the API's, and a static host (nginx, S3) serves index.html only at the root.

/**
 * An address's parameters: a string each, but a list for each repeatable one (REPEATABLE), which a screen knows
 * by name; hence any rather than a union every reader would have to narrow.
 * @typedef {Record<string, any>} Params
 */

/**
 * A screen as the router shows it (see createRouter).
 * @typedef {object} Screen
 * @property {HTMLElement} section
 * @property {(params: Params) => unknown} show
 * @property {() => void} [hide]
 * @property {() => unknown} [refresh]
 * @property {() => boolean | Promise<boolean>} [beforeLeave]
 * @property {() => boolean} [available]
 * @property {boolean} [admin]
 * @property {boolean} [readers]
 * @property {boolean} [editors]
 * @property {boolean} [approvals]
 */

/** @typedef {ReturnType<typeof createRouter>} Router */

const DEFAULT_PAGE = "flags";

// Parameters an address may repeat (?tag=a&tag=b), as the API's list takes them: each is always a list. Any other
// is a string, the last one given, so no screen meets a list it does not expect.
const REPEATABLE = new Set(["tag"]);

/**
 * The address's parameters: strings, and a list for each repeatable one.
 * @returns {Params}
 */
export function paramsFromUrl() {
  /** @type {Params} */
  const params = {};
  const query = new URLSearchParams(window.location.search);
  for (const name of new Set(query.keys())) {
    const values = query.getAll(name);
    params[name] = REPEATABLE.has(name) ? values.filter(Boolean) : values.at(-1);
  }
  return params;
}

/** The screen the address names. */
export function pageFromUrl() {
  return new URLSearchParams(window.location.search).get("page") || DEFAULT_PAGE;
}

/**
 * The address of a screen with its parameters (empty ones left out; a list is the parameter repeated).
 * @param {string} page
 * @param {Record<string, unknown>} [params]
 * @returns {string}
 */
export function pageHref(page, params = {}) {
  const query = new URLSearchParams();
  if (page !== DEFAULT_PAGE) query.set("page", page);
  for (const [name, given] of Object.entries(params)) {
    for (const value of Array.isArray(given) ? given : [given]) {
      if (value !== undefined && value !== null && value !== "") query.append(name, String(value));
    }
  }
  const text = query.toString();
  return `${window.location.pathname}${text ? `?${text}` : ""}`;
}

/**
 * A link to a screen that the router follows without reloading the page.
 * @param {string} page
 * @param {Record<string, unknown>} params
 * @param {string} text
 * @returns {HTMLAnchorElement}
 */
export function pageLink(page, params, text) {
  const link = document.createElement("a");
  link.href = pageHref(page, params);
  link.dataset.route = "";
  link.textContent = text;
  return link;
}

/**
 * Show one registered screen at a time: the one the address names, when it changes (links, back and forward).
 * Each screen is {section, show(params), hide()?, refresh()?, beforeLeave()?, available()?, admin?, readers?, editors?,
 * approvals?}: beforeLeave() resolves false to stay (an unsaved edit the person keeps);
 * available() false hides it whoever signs in (a feature not configured); admin screens
 * are offered to admins only, readers' to whoever reads every environment, editors' to whoever edits every one,
 * approvals' to readers of every environment where some need approval; refresh() reads again what the screen shows
 * when something changed elsewhere.
 * @param {{nav: HTMLElement}} parts the page's navigation, whose [data-page-link] links name screens
 */
export function createRouter({ nav }) {
  /** @type {Map<string, Screen>} */
  const screens = new Map();
  /** @type {NodeListOf<HTMLElement>} */
  const links = nav.querySelectorAll("[data-page-link]");
  const state = { session: null, current: null };

  /**
   * @param {string} name the page's name in the address (?page=name)
   * @param {Screen} screen
   */
  function register(name, screen) {
    screens.set(name, screen);
    screen.section.hidden = true;
  }

  function allowed(name) {
    const screen = screens.get(name);
    if (!screen || screen.available?.() === false) return false;
    if (screen.approvals) return state.session.readsEverything && state.session.approvals.size > 0;
    if (screen.readers) return state.session.readsEverything;
    if (screen.editors) return state.session.editsEverywhere;
    return !screen.admin || state.session.role === "admin";
  }

  function show() {
    if (!state.session) return;
    let name = pageFromUrl();
    if (!allowed(name)) name = DEFAULT_PAGE;
    const params = paramsFromUrl();
    if (state.current && state.current !== name) {
      const leaving = screens.get(state.current);
      leaving.section.hidden = true;
      leaving.hide?.();
    }
    state.current = name;
    for (const link of links) {
      if (link.dataset.pageLink === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const screen = screens.get(name);
    screen.section.hidden = false;
    screen.show(params);
  }

  /** Go to a screen: a new history entry unless replace. */
  function go(page, params = {}, { replace = false } = {}) {
    const url = pageHref(page, params);
    if (replace) window.history.replaceState(null, "", url);
    else window.history.pushState(null, "", url);
    show();
  }

  /** Begin showing screens for a session (its role, and what it reads and edits). */
  function start(session) {
    state.session = session;
    for (const link of links) {
      link.hidden = !allowed(link.dataset.pageLink);
    }
    show();
  }

  /** Stop at sign-out: every screen hidden and told so. */
  function stop() {
    if (state.current) {
      const screen = screens.get(state.current);
      screen.section.hidden = true;
      screen.hide?.();
    }
    state.session = null;
    state.current = null;
  }

  /** Read again what the current screen shows (a change was made elsewhere); a screen without refresh() is left. */
  function refresh() {
    if (!state.current) return undefined;
    return screens.get(state.current).refresh?.();
  }

  document.addEventListener("click", (event) => {
    const link = event.target instanceof Element ? event.target.closest("a[data-route], a[data-page-link]") : null;
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    const href = link.getAttribute("href");
    const screen = state.current ? screens.get(state.current) : null;
    Promise.resolve(screen?.beforeLeave ? screen.beforeLeave() : true).then((leave) => {
      if (!leave) return;
      window.history.pushState(null, "", href);
      show();
    });
  });
  window.addEventListener("popstate", show);

  return {
    register,
    start,
    stop,
    go,
    refresh,
    get current() {
      return state.current;
    },
  };
}

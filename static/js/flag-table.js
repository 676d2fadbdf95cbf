// The flags table: one row a flag, a switch per environment the token may read, kept in place across refreshes
// (so focus and edits survive a poll). It shows one page of the API's answer, never the whole list.

import { el, setTime } from "./dom.js";
import { openFlagEditor } from "./flag-editor.js";
import { pageHref } from "./router.js";

const NEVER = "Never";
// A row's actions, offered in its menu: [action, words, extra class].
const ROW_ACTIONS = [
  ["edit", "Edit", ""],
  ["history", "History", ""],
  ["delete", "Delete", " danger-text"],
];

// A row refilled for another flag keeps its elements and changes only what differs: a node replaced, or text set to
// what it already was, is style and layout work for the frame a keystroke waits on.
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function setAttribute(node, name, value) {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

export class FlagsTable {
  /**
   * body: the table's <tbody>; head: its header row (one th[data-environment] per configured environment);
   * actions: {toggle(flag, environment), save(flag, changes) -> Promise, history(flag), remove(flag)}.
   */
  constructor(body, head, actions) {
    this.body = body;
    this.head = head;
    this.actions = actions;
    this.rows = new Map();
    this.environments = [];
    /** @type {Map<string, string> | null} the column headings' words, read on first use */
    this.labels = null;
    this.environment = null;
    this.readOnly = true;
    // One listener for every row's buttons: a page of rows would otherwise cost hundreds of listeners.
    body.addEventListener("click", (event) => this.#clicked(event));
    // One menu for every row's actions, opened beside the row's Actions button: a row holds one button, not three.
    this.menu = el(
      "div",
      { className: "row-menu", role: "menu", hidden: true },
      ...ROW_ACTIONS.map(([action, text, extra]) =>
        el("button", { type: "button", role: "menuitem", tabindex: "-1", className: `row-menu-item${extra}`, "data-menu-action": action, text }),
      ),
    );
    /** @type {{row: any, button: HTMLButtonElement} | null} the row whose menu is open, and its button */
    this.menuFor = null;
    body.closest("table")?.after(this.menu);
    this.menu.addEventListener("click", (event) => this.#menuClicked(event));
    this.menu.addEventListener("keydown", (event) => this.#menuKey(event));
    // Focus leaving the menu (Tab, a click elsewhere) closes it, as a menu of a desktop application does.
    this.menu.addEventListener("focusout", (event) => {
      if (!(event.relatedTarget instanceof Node && this.menu.contains(event.relatedTarget))) this.#closeMenu(false);
    });
    // The menu is fixed to the window: it follows its button when the page scrolls (a scroll into view often lands
    // just after the click that opened it), and closes once the button is out of sight.
    window.addEventListener("scroll", () => this.#placeMenu(), { passive: true });
    window.addEventListener("resize", () => this.#placeMenu());
  }

  /** An environment's name as its column heading shows it: "production" -> "Production". */
  label(name) {
    // Asked for every switch of every row: the headings are read once.
    this.labels ??= new Map(
      [...this.head.querySelectorAll("th[data-environment]")].map((th) => [th.dataset.environment, th.textContent.trim()]),
    );
    return this.labels.get(name) ?? name;
  }

  #clicked(event) {
    const button = event.target.closest("button[data-action]");
    const row = button && this.rows.get(button.closest("tr[data-id]")?.dataset.id);
    if (!row || button.disabled) return;
    const action = button.dataset.action;
    if (action === "toggle") {
      const environment = button.dataset.environment;
      const editable = this.editable === null || this.editable.has(environment);
      if (!this.readOnly && editable && !row.busy.has(environment)) this.actions.toggle(row.flag, environment);
    } else if (action === "menu") {
      if (this.menuFor?.button === button) this.#closeMenu(true);
      else this.#openMenu(row, button);
    }
  }

  #act(row, action) {
    if (action === "edit") this.#openEditor(row);
    else if (action === "history") this.actions.history(row.flag);
    else if (action === "delete") this.actions.remove(row.flag);
  }

  #openMenu(row, button) {
    this.#closeMenu(false);
    this.menuFor = { row, button };
    button.setAttribute("aria-expanded", "true");
    this.menu.setAttribute("aria-label", `Actions for ${row.flag.name}`);
    this.menu.hidden = false;
    this.#placeMenu();
    /** @type {HTMLElement} */ (this.menu.firstElementChild).focus();
  }

  /** Put the open menu beside its button: its right edge on the button's, above it when there is no room below. */
  #placeMenu() {
    if (!this.menuFor) return;
    const box = this.menuFor.button.getBoundingClientRect();
    if (box.bottom < 0 || box.top > window.innerHeight || box.height === 0) {
      this.#closeMenu(false);
      return;
    }
    const height = this.menu.offsetHeight;
    const below = box.bottom + 4 + height <= window.innerHeight;
    this.menu.style.top = `${below ? box.bottom + 4 : Math.max(4, box.top - 4 - height)}px`;
    this.menu.style.left = `${Math.max(4, box.right - this.menu.offsetWidth)}px`;
  }

  /** Close the open menu; give focus back to its button when asked (Escape, a second click, an action taken). */
  #closeMenu(refocus) {
    const open = this.menuFor;
    if (!open) return;
    this.menuFor = null;
    this.menu.hidden = true;
    open.button.setAttribute("aria-expanded", "false");
    if (refocus && open.button.isConnected) open.button.focus();
  }

  #menuClicked(event) {
    const item = event.target instanceof Element ? event.target.closest("button[data-menu-action]") : null;
    const open = this.menuFor;
    if (!item || !open) return;
    // Focus goes back to the row's button first, so a dialog the action opens returns it there when it closes.
    this.#closeMenu(true);
    this.#act(open.row, item.getAttribute("data-menu-action"));
  }

  #menuKey(event) {
    const items = /** @type {HTMLElement[]} */ ([...this.menu.querySelectorAll("[role=menuitem]")]);
    const at = items.indexOf(/** @type {HTMLElement} */ (document.activeElement));
    const moves = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 };
    if (event.key === "Escape") {
      event.preventDefault();
      this.#closeMenu(true);
    } else if (event.key in moves) {
      event.preventDefault();
      items[(moves[event.key] + items.length) % items.length].focus();
    } else if (event.key === "Tab") {
      this.#closeMenu(true);
    }
  }

  /** Set the columns (environments the token reads), the environment links open in, and whether changes are offered. */
  setMode(environments, environment, readOnly, editable = null) {
    const linksChanged = environment !== this.environment;
    this.environment = environment;
    const editableKey = editable ? [...editable].join() : "";
    const changed =
      environments.join() !== this.environments.join() ||
      readOnly !== this.readOnly ||
      editableKey !== this.editableKey;
    this.environments = environments;
    this.readOnly = readOnly;
    // Where the caller may switch flags: a person's role can differ by environment (null: wherever not read-only).
    this.editable = editable;
    this.editableKey = editableKey;
    for (const heading of this.head.querySelectorAll("th[data-environment]")) {
      heading.hidden = !environments.includes(heading.dataset.environment);
    }
    this.head.querySelector("[data-column=actions]").hidden = readOnly;
    if (changed) {
      this.#closeMenu(false);
      this.rows.clear();
      this.body.replaceChildren();
    } else if (linksChanged) {
      // Only the links name the environment: a keystroke in the search box (same environment) touches no row.
      for (const row of this.rows.values()) this.#fillName(row);
    }
  }

  /**
   * Show exactly these flags, in this order, reusing the rows that already exist; return how many. The rows on
   * screen change in this frame; those below it (most of a page) once that frame is painted, so a keystroke's answer
   * shows without waiting for rows nobody sees yet.
   */
  update(flags) {
    performance.mark("ff-render-start");
    const onScreen = this.#rowsOnScreen();
    const first = onScreen < flags.length ? flags.slice(0, onScreen) : flags;
    const pending = { flags };
    this.pending = first === flags ? null : pending;
    this.#reconcile(first, first === flags);
    performance.mark("ff-render-end");
    performance.measure("ff-render", "ff-render-start", "ff-render-end");
    if (!this.pending) performance.mark("ff-render-done");
    else {
      requestAnimationFrame(() =>
        setTimeout(() => {
          // A later update has shown its own flags since.
          if (this.pending !== pending) return;
          this.pending = null;
          this.#reconcile(flags, true);
          performance.mark("ff-render-done");
        }, 0),
      );
    }
    return flags.length;
  }

  /** How many rows, from the top, reach the bottom of the window (with a few to spare: new rows may be shorter). */
  #rowsOnScreen() {
    const bottom = window.innerHeight;
    let count = 0;
    for (const item of this.body.children) {
      // A hidden table (another screen) has no layout: every row counts, as on a first build.
      const { top, height } = item.getBoundingClientRect();
      if (height === 0 || top < bottom) count += 1;
      else break;
    }
    return count === this.body.childElementCount ? Infinity : count + 5;
  }

  /**
   * Make the table's first rows these flags. final: they are all of them, and rows of any other flag go; else the
   * rows after them stay as they are (below the screen) until the final call.
   */
  #reconcile(flags, final) {
    const wanted = new Set(flags.map((flag) => flag._id));
    // Rows of flags no longer shown are filled with the new ones (a filter's answer replaces most of a page):
    // changing text in place costs far less than building and laying out new rows. One being edited is kept apart.
    // In the order they stand, so a new flag takes the place of the one it replaces and few rows move.
    const spare = [];
    for (const item of [...this.body.children]) {
      const row = this.rows.get(item.dataset.id);
      if (!row || wanted.has(item.dataset.id)) continue;
      if (row.editor === null) spare.push(row);
      else if (final) {
        this.rows.delete(item.dataset.id);
        row.item.remove();
      }
    }
    spare.reverse();
    const fragment = document.createDocumentFragment();
    for (const flag of flags) {
      const row = this.rows.get(flag._id);
      if (row) {
        this.#refresh(row, flag);
        continue;
      }
      const reused = spare.pop();
      if (reused) {
        this.rows.delete(reused.flag._id);
        reused.flag = flag;
        reused.item.dataset.id = flag._id;
        reused.shown.clear();
        reused.busy.clear();
        this.#fill(reused);
        this.rows.set(flag._id, reused);
      } else {
        const created = this.#build(flag);
        this.rows.set(flag._id, created);
        fragment.append(created.item);
      }
    }
    if (final) {
      for (const row of spare) {
        this.rows.delete(row.flag._id);
        row.item.remove();
      }
    }
    if (final && fragment.childNodes.length === flags.length) this.body.replaceChildren(fragment);
    else {
      this.body.append(fragment);
      this.#order(flags);
    }
  }

  /** Show a switch state at once (optimistic), marking it busy while the server answers; null: the flag's own. */
  showState(id, environment, enabled, busy) {
    const row = this.rows.get(id);
    if (!row) return;
    if (enabled === null) row.shown.delete(environment);
    else row.shown.set(environment, enabled);
    if (busy) row.busy.add(environment);
    else row.busy.delete(environment);
    this.#fillSwitch(row, environment);
  }

  flag(id) {
    return this.rows.get(id)?.flag;
  }

  /** Focus the first switch of a flag, or return false if it is not shown. */
  focusSwitch(id) {
    const row = this.rows.get(id);
    const first = row && row.switches.get(this.environments[0]);
    if (!first) return false;
    first.focus();
    return true;
  }

  /** Focus the Actions button of a flag (where its Delete was chosen), if it is still listed. */
  focusActions(id) {
    this.rows.get(id)?.more.focus();
  }

  /** The id of the row after (or else before) this one, for where focus goes when it leaves. */
  neighbourOf(id) {
    const item = this.rows.get(id)?.item;
    return (item?.nextElementSibling || item?.previousElementSibling)?.dataset.id ?? null;
  }

  #build(flag) {
    const nameCell = el("th", { scope: "row", className: "flag-name-cell" });
    const link = el("a", { className: "flag-name", "data-route": "" });
    const description = el("p", { className: "flag-description" });
    const stale = el("span", { className: "badge stale", text: "Stale" });
    const text = el("div", { className: "flag-text" }, link, " ", stale, description);
    nameCell.append(text);
    const item = el("tr", { className: "flag-row", "data-id": flag._id }, nameCell);
    const switches = new Map();
    for (const environment of this.environments) {
      const toggle = el(
        "button",
        {
          type: "button",
          role: "switch",
          className: "switch",
          "data-action": "toggle",
          "data-environment": environment,
        },
        el("span", { className: "switch-track", "aria-hidden": "true" }, el("span", { className: "switch-thumb" })),
        el("span", { className: "switch-text", "aria-hidden": "true" }),
      );
      switches.set(environment, toggle);
      item.append(el("td", { className: "flag-switch", "data-label": this.label(environment) }, toggle));
    }
    const tags = el("td", { className: "flag-tags", "data-label": "Tags" });
    const type = el("td", { className: "flag-type", "data-label": "Type" });
    const seen = el("td", { className: "flag-seen", "data-label": "Last seen" });
    const seenTime = document.createElement("time");
    const actor = el("span", { className: "flag-actor" });
    const when = el("time");
    // The column is headed "Changed": the words are for screen readers only, which read the cell alone.
    const changed = el(
      "td",
      { className: "flag-meta", "data-label": "Changed" },
      el("span", { className: "visually-hidden", text: "Changed by " }),
      actor,
      " ",
      when,
    );
    const more = el("button", {
      type: "button",
      className: "button small row-menu-button",
      "data-action": "menu",
      "aria-haspopup": "menu",
      "aria-expanded": "false",
      text: "Actions",
    });
    const buttons = el("div", { className: "flag-actions" }, more);
    const actionsCell = el("td", { className: "flag-actions-cell" }, buttons);
    item.append(tags, type, seen, changed, actionsCell);
    const row = {
      flag,
      item,
      nameCell,
      text,
      link,
      description,
      stale,
      switches,
      shown: new Map(),
      busy: new Set(),
      tags,
      type,
      seen,
      seenTime,
      shownTags: null,
      actor,
      when,
      actionsCell,
      buttons,
      more,
      editor: null,
    };
    this.#fill(row);
    return row;
  }

  #refresh(row, flag) {
    const before = row.flag;
    row.flag = flag;
    if (before.version !== flag.version || JSON.stringify(before) !== JSON.stringify(flag)) this.#fill(row);
  }

  #fillName(row) {
    const { flag } = row;
    setAttribute(row.link, "href", pageHref("flag", { name: flag.name, env: this.environment }));
    setText(row.link, flag.name);
    setText(row.description, flag.description || "No description");
    setAttribute(row.description, "title", flag.description || "");
    row.description.classList.toggle("muted", !flag.description);
    if (row.stale.hidden !== !flag.stale) row.stale.hidden = !flag.stale;
    setAttribute(row.stale, "title", flag.stale_reason ? `Stale: ${flag.stale_reason}` : "");
  }

  #fill(row) {
    const { flag } = row;
    this.#fillName(row);
    const tags = flag.tags || [];
    if (row.shownTags === null || row.shownTags.join("\n") !== tags.join("\n")) {
      // Each chip narrows the table to its tag.
      row.tags.replaceChildren(
        ...tags.map((tag) =>
          el("a", {
            className: "tag",
            href: pageHref("flags", { tag, env: this.environment }),
            "data-route": "",
            "aria-label": `Flags tagged ${tag}`,
            text: tag,
          }),
        ),
      );
      row.shownTags = tags;
    }
    setText(row.type, flag.type || "");
    const seen = Object.values(flag.last_evaluated_at || {})
      .filter(Boolean)
      .sort()
      .at(-1);
    if (seen) {
      if (row.seen.firstChild !== row.seenTime) row.seen.replaceChildren(row.seenTime);
      if (row.seenTime.getAttribute("datetime") !== seen || !row.seenTime.textContent) setTime(row.seenTime, seen);
    } else setText(row.seen, NEVER);
    setText(row.actor, flag.updated_by || "unknown");
    setAttribute(row.actor, "title", flag.updated_by || "unknown");
    if (row.when.getAttribute("datetime") !== flag.updated_at || !row.when.textContent) setTime(row.when, flag.updated_at);
    setAttribute(row.more, "aria-label", `Actions for ${flag.name}`);
    for (const environment of this.environments) {
      setAttribute(row.switches.get(environment), "aria-label", `Toggle ${flag.name} in ${this.label(environment)}`);
      if (!row.busy.has(environment)) row.shown.delete(environment);
      this.#fillSwitch(row, environment);
    }
    // Edit, history and delete are for admins: the API refuses all three (history included) to client tokens.
    if (row.actionsCell.hidden !== this.readOnly) row.actionsCell.hidden = this.readOnly;
    if (row.buttons.hidden !== (row.editor !== null)) row.buttons.hidden = row.editor !== null;
  }

  #fillSwitch(row, environment) {
    const toggle = row.switches.get(environment);
    const on = row.shown.get(environment) ?? Boolean(row.flag.environments[environment]);
    setAttribute(toggle, "aria-checked", on ? "true" : "false");
    setText(toggle.lastElementChild, on ? "On" : "Off");
    const off = this.readOnly || (this.editable !== null && !this.editable.has(environment));
    if (toggle.disabled !== off) toggle.disabled = off;
    if (row.busy.has(environment)) toggle.setAttribute("aria-busy", "true");
    else toggle.removeAttribute("aria-busy");
  }

  #order(flags) {
    const active = document.activeElement;
    let cursor = this.body.firstElementChild;
    for (const flag of flags) {
      const item = this.rows.get(flag._id).item;
      if (item === cursor) cursor = cursor.nextElementSibling;
      else this.body.insertBefore(item, cursor);
    }
    // Moving a row can take focus away from a control inside it; give it back.
    if (active instanceof HTMLElement && active !== document.activeElement && active.isConnected) active.focus();
  }

  #openEditor(row) {
    if (row.editor) return;
    const id = row.flag._id;
    openFlagEditor(row.flag, {
      place: (form) => {
        row.editor = form;
        row.text.hidden = true;
        row.buttons.hidden = true;
        row.nameCell.append(form);
      },
      save: (flag, changes) => this.actions.save(flag, changes),
      latest: () => this.rows.get(id)?.flag,
      closed: () => {
        row.editor = null;
        row.text.hidden = false;
        row.buttons.hidden = false;
        row.more.focus();
      },
    });
  }
}

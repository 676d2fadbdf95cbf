// The flag list: one row per flag, kept in place across refreshes (so focus and edits survive a poll),
// filtered by hiding rows rather than rebuilding them, so 1,000 flags stay quick.

import { el, setTime } from "./dom.js";
import { openFlagEditor } from "./flag-editor.js";

let prototype = null;

/** The markup of one row, without data; built once. */
function rowPrototype() {
  if (prototype) return prototype;
  const button = (action, text, extra = "") =>
    el("button", { type: "button", className: `button small${extra}`, "data-action": action, text });
  prototype = el(
    "li",
    { className: "flag" },
    el(
      "div",
      { className: "flag-main" },
      el(
        "div",
        { className: "flag-text" },
        el("h3", { className: "flag-name" }),
        el("p", { className: "flag-description" }),
      ),
      el(
        "button",
        { type: "button", role: "switch", className: "switch", "data-action": "toggle" },
        el("span", { className: "switch-track", "aria-hidden": "true" }, el("span", { className: "switch-thumb" })),
        el("span", { className: "switch-text", "aria-hidden": "true" }),
      ),
    ),
    el("p", { className: "flag-meta" }, "Changed by ", el("span", { className: "flag-actor" }), " ", el("time")),
    el(
      "div",
      { className: "flag-actions" },
      button("edit", "Edit"),
      button("history", "History"),
      button("delete", "Delete", " danger-text"),
    ),
  );
  return prototype;
}

export class FlagList {
  /**
   * listElement: the <ul>; actions: {toggle(flag), save(flag, changes) -> Promise<flag>, history(flag), remove(flag)}.
   */
  constructor(listElement, actions) {
    this.list = listElement;
    this.actions = actions;
    this.rows = new Map();
    this.environment = null;
    this.readOnly = true;
    this.query = "";
    // One listener for every row's buttons: 1,000 rows would otherwise cost 4,000 listeners.
    listElement.addEventListener("click", (event) => this.#clicked(event));
  }

  #clicked(event) {
    const button = event.target.closest("button[data-action]");
    const row = button && this.rows.get(button.closest("li.flag")?.dataset.id);
    if (!row || button.disabled) return;
    const action = button.dataset.action;
    if (action === "toggle") {
      if (!this.readOnly && !row.busy) this.actions.toggle(row.flag);
    } else if (action === "edit") {
      this.#openEditor(row);
    } else if (action === "history") {
      this.actions.history(row.flag);
    } else if (action === "delete") {
      this.actions.remove(row.flag);
    }
  }

  /** Set the environment the switches show and whether changes are offered. */
  setMode(environment, readOnly) {
    const changed = environment !== this.environment || readOnly !== this.readOnly;
    this.environment = environment;
    this.readOnly = readOnly;
    if (changed) {
      for (const row of this.rows.values()) {
        this.#fillSwitch(row);
        this.#fillActions(row);
      }
    }
  }

  /** Show exactly these flags, in this order, reusing the rows that already exist; only those matching query shown. */
  update(flags, query = this.query) {
    performance.mark("ff-render-start");
    const seen = new Set();
    const fragment = document.createDocumentFragment();
    for (const flag of flags) {
      seen.add(flag._id);
      const row = this.rows.get(flag._id);
      if (row) {
        this.#refresh(row, flag);
      } else {
        const created = this.#build(flag);
        this.rows.set(flag._id, created);
        fragment.append(created.item);
      }
    }
    for (const [id, row] of this.rows) {
      if (!seen.has(id)) {
        row.item.remove();
        this.rows.delete(id);
      }
    }
    if (fragment.childNodes.length === flags.length) {
      // First render (or every row is new): one insertion.
      this.list.replaceChildren(fragment);
    } else {
      this.list.append(fragment);
      this.#order(flags);
    }
    const counts = this.filter(query);
    performance.mark("ff-render-end");
    performance.measure("ff-render", "ff-render-start", "ff-render-end");
    return counts;
  }

  /** Hide the rows whose name and description do not contain the query; return {shown, total}. */
  filter(query) {
    performance.mark("ff-filter-start");
    this.query = query;
    const needle = query.trim().toLowerCase();
    let shown = 0;
    for (const row of this.rows.values()) {
      const visible = needle === "" || row.haystack.includes(needle);
      if (row.item.hidden === visible) row.item.hidden = !visible;
      if (visible) shown += 1;
    }
    performance.mark("ff-filter-end");
    performance.measure("ff-filter", "ff-filter-start", "ff-filter-end");
    return { shown, total: this.rows.size };
  }

  /** Show a switch state at once (optimistic), marking the row busy while the server answers. */
  showState(id, enabled, busy) {
    const row = this.rows.get(id);
    if (!row) return;
    row.shownState = enabled;
    row.busy = busy;
    this.#fillSwitch(row);
  }

  flag(id) {
    return this.rows.get(id)?.flag;
  }

  /** Focus the switch of a flag, or return false if it is not shown. */
  focusSwitch(id) {
    const row = this.rows.get(id);
    if (!row || row.item.hidden) return false;
    row.toggle.focus();
    return true;
  }

  /** Focus the Delete button of a flag, if it is still listed. */
  focusDelete(id) {
    this.rows.get(id)?.remove.focus();
  }

  /** The id of the shown row after (or else before) this one, for where focus goes when it leaves. */
  neighbourOf(id) {
    const item = this.rows.get(id)?.item;
    let next = item?.nextElementSibling;
    while (next && next.hidden) next = next.nextElementSibling;
    let previous = item?.previousElementSibling;
    while (previous && previous.hidden) previous = previous.previousElementSibling;
    return (next || previous)?.dataset.id ?? null;
  }

  #build(flag) {
    // Rows are clones of one prototype: cloning is several times faster than building each element anew.
    const item = rowPrototype().cloneNode(true);
    // Sibling steps rather than .children: live collections cost an allocation each, 1,000 times over.
    const main = item.firstElementChild;
    const meta = main.nextElementSibling;
    const buttons = meta.nextElementSibling;
    const text = main.firstElementChild;
    const toggle = text.nextElementSibling;
    const actor = meta.firstElementChild;
    const edit = buttons.firstElementChild;
    const history = edit.nextElementSibling;
    const row = {
      flag,
      busy: false,
      shownState: null,
      editor: null,
      item,
      text,
      name: text.firstElementChild,
      description: text.lastElementChild,
      toggle,
      stateText: toggle.lastElementChild,
      meta,
      actor,
      when: actor.nextElementSibling,
      buttons,
      edit,
      history,
      remove: history.nextElementSibling,
    };
    item.dataset.id = flag._id;
    this.#fill(row);
    return row;
  }

  #refresh(row, flag) {
    const before = row.flag;
    row.flag = flag;
    if (!row.busy) row.shownState = null;
    if (
      before.version !== flag.version ||
      before.updated_at !== flag.updated_at ||
      before.environments[this.environment] !== flag.environments[this.environment]
    ) {
      this.#fill(row);
    }
  }

  #fill(row) {
    const { flag } = row;
    row.name.textContent = flag.name;
    row.description.textContent = flag.description || "No description";
    row.description.classList.toggle("muted", !flag.description);
    row.haystack = `${flag.name}\n${flag.description || ""}`.toLowerCase();
    row.actor.textContent = flag.updated_by || "unknown";
    setTime(row.when, flag.updated_at);
    row.edit.setAttribute("aria-label", `Edit ${flag.name}`);
    row.history.setAttribute("aria-label", `History of ${flag.name}`);
    row.remove.setAttribute("aria-label", `Delete ${flag.name}`);
    row.toggle.setAttribute("aria-label", `Toggle ${flag.name}`);
    this.#fillSwitch(row);
    this.#fillActions(row);
  }

  #fillSwitch(row) {
    const on = row.shownState ?? Boolean(row.flag.environments[this.environment]);
    row.toggle.setAttribute("aria-checked", on ? "true" : "false");
    row.stateText.textContent = on ? "On" : "Off";
    row.toggle.disabled = this.readOnly;
    if (row.busy) row.toggle.setAttribute("aria-busy", "true");
    else row.toggle.removeAttribute("aria-busy");
  }

  #fillActions(row) {
    // Edit, history and delete are for admins: the API refuses all three (history included) to client tokens.
    row.buttons.hidden = this.readOnly || row.editor !== null;
  }

  #order(flags) {
    const active = document.activeElement;
    let cursor = this.list.firstElementChild;
    for (const flag of flags) {
      const item = this.rows.get(flag._id).item;
      if (item === cursor) cursor = cursor.nextElementSibling;
      else this.list.insertBefore(item, cursor);
    }
    // Moving a row can take focus away from a control inside it; give it back.
    if (active && active !== document.activeElement && active.isConnected) active.focus();
  }

  #openEditor(row) {
    if (row.editor) return;
    const id = row.flag._id;
    openFlagEditor(row.flag, {
      place: (form) => {
        row.editor = form;
        row.text.hidden = true;
        row.buttons.hidden = true;
        row.item.insertBefore(form, row.meta);
      },
      save: (flag, changes) => this.actions.save(flag, changes),
      latest: () => this.rows.get(id)?.flag,
      closed: () => {
        row.editor = null;
        row.text.hidden = false;
        this.#fillActions(row);
        row.edit.focus();
      },
    });
  }
}

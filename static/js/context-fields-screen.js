// The context fields screen (?page=context-fields): describe the attributes rules are written on (what each
// means, its type, the values it takes), change or remove a description, and read which attribute names
// applications actually send in each environment (learned by the service, names only).

import { ApiError } from "./api.js";
import { fact, loadList, sendForm, showErrors } from "./admin-forms.js";
import { byId, el, timeElement } from "./dom.js";

/** @import { Api } from "./api.js" */
/** @import { Screen } from "./router.js" */
/** @import { Session } from "./session.js" */

const TYPE_WORDS = {
  string: "Text",
  number: "Number",
  boolean: "true or false",
  date: "Date and time",
  semver: "Version (semver)",
};

function knownValues(text) {
  return text
    .split(",")
    .map((value) => value.trim())
    .filter(Boolean);
}

/**
 * The screen for the router.
 * @param {{api: Api, session: Session, environmentLabel: (name: string) => string}} deps
 * @returns {Screen}
 */
export function createContextFieldsScreen({ api, session, environmentLabel }) {
  const section = byId("context-fields-view");
  const form = byId("context-field-form", HTMLFormElement);
  const view = {
    name: byId("context-field-name", HTMLInputElement),
    seenNames: byId("context-field-seen-names", HTMLDataListElement),
    type: byId("context-field-type", HTMLSelectElement),
    description: byId("context-field-description", HTMLInputElement),
    values: byId("context-field-values", HTMLInputElement),
    title: byId("context-field-form-title"),
    submit: byId("context-field-submit", HTMLButtonElement),
    cancel: byId("context-field-cancel", HTMLButtonElement),
    status: byId("context-field-status"),
    list: byId("context-field-list"),
    seen: byId("context-field-seen-rows", HTMLTableSectionElement),
  };
  // The field the form changes, or null while it describes a new one.
  let editing = null;

  function editForm(field) {
    editing = field;
    form.reset();
    showErrors(form, {});
    view.title.textContent = field ? `Change the description of ${field.name}` : "Describe a field";
    view.submit.textContent = field ? "Save changes" : "Describe field";
    view.cancel.hidden = !field;
    view.name.disabled = Boolean(field);
    if (!field) return;
    view.name.value = field.name;
    view.type.value = field.type;
    view.description.value = field.description;
    view.values.value = field.values.join(", ");
    view.description.focus();
  }

  view.cancel.addEventListener("click", () => editForm(null));

  function item(field) {
    const change = el("button", {
      type: "button",
      className: "button small",
      text: "Edit",
      "aria-label": `Edit ${field.name}`,
    });
    change.addEventListener("click", () => editForm(field));
    const remove = el("button", {
      type: "button",
      className: "button small danger-text",
      text: "Remove",
      "aria-label": `Remove the description of ${field.name}`,
    });
    remove.addEventListener("click", async () => {
      try {
        await api.request("DELETE", `/context-fields/${encodeURIComponent(field.name)}`);
        if (editing?.name === field.name) editForm(null);
        await load();
        view.status.textContent = `Removed the description of ${field.name}.`;
      } catch (error) {
        if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
        view.status.textContent = error.message;
      }
    });
    return el(
      "li",
      { className: "admin-item", "data-field": field.name },
      el(
        "div",
        { className: "admin-item-head" },
        el("h3", { className: "admin-item-name", text: field.name }),
        el("div", { className: "flag-actions" }, change, remove),
      ),
      el(
        "dl",
        { className: "facts" },
        fact("Type", TYPE_WORDS[field.type] || field.type),
        fact("Means", field.description || "(not said)"),
        fact("Values", field.values.length ? field.values.join(", ") : "any"),
      ),
    );
  }

  function load() {
    return loadList({
      status: view.status,
      session,
      loading: "Loading context fields…",
      read: async () => {
        const { data } = await api.request("GET", "/context-fields");
        view.list.replaceChildren(...data.fields.map(item));
        view.seen.replaceChildren(
          ...data.seen.map((entry) =>
            el(
              "tr",
              {},
              el("th", { scope: "row", text: entry.name }),
              el("td", { text: environmentLabel(entry.environment) }),
              el("td", { text: entry.count.toLocaleString() }),
              el("td", {}, timeElement(entry.last_seen_at)),
            ),
          ),
        );
        const described = new Set(data.fields.map((field) => field.name));
        const undescribed = [...new Set(data.seen.map((entry) => entry.name))].filter((name) => !described.has(name));
        view.seenNames.replaceChildren(...undescribed.map((name) => el("option", { value: name })));
        return data.fields.length ? `${data.fields.length} described.` : "None described yet.";
      },
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      type: view.type.value,
      description: view.description.value.trim(),
      values: knownValues(view.values.value),
    };
    await sendForm({
      form,
      session,
      button: view.submit,
      send: async () => {
        if (editing) {
          const name = editing.name;
          await api.request("PATCH", `/context-fields/${encodeURIComponent(name)}`, { body });
          editForm(null);
          await load();
          view.status.textContent = `Saved ${name}.`;
          return;
        }
        body.name = view.name.value.trim();
        await api.request("POST", "/context-fields", { body });
        form.reset();
        await load();
        view.status.textContent = `Described ${body.name}.`;
      },
    });
  });

  return {
    section,
    admin: true,
    show() {
      editForm(null);
      return load();
    },
  };
}

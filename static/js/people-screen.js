// The people screen (?page=people, admins): everyone who has signed in through single sign-on, with their role,
// their roles per environment and whether they may sign in; each person's form saves what changed (PATCH /users).
// The service refuses what it must (an admin demoting or deactivating themselves); the refusal is shown as it comes.

import { fact, loadList, sendForm } from "./admin-forms.js";
import { byId, clear, el, timeElement } from "./dom.js";

/** @import { Api } from "./api.js" */
/** @import { Screen } from "./router.js" */
/** @import { Session } from "./session.js" */

const ROLES = [
  ["viewer", "Viewer: reads everything"],
  ["editor", "Editor: also changes flags"],
  ["admin", "Admin: also tokens, webhooks, people"],
];
// Where a person's role in one environment is their role; else viewer or editor there.
const SAME = "";

/**
 * The people screen for the router.
 * @param {{api: Api, session: Session, environments: string[], environmentLabel: (name: string) => string,
 *   singleSignOn: boolean}} deps
 * @returns {Screen}
 */
export function createPeopleScreen({ api, session, environments, environmentLabel, singleSignOn }) {
  const section = byId("people-view");
  const view = { status: byId("people-status"), list: byId("people-list") };

  function choice(id, label, options, value) {
    const control = el("select", { id, name: id });
    for (const [optionValue, text] of options) control.append(el("option", { value: optionValue, text }));
    control.value = value;
    return { control, wrap: el("div", { className: "field" }, el("label", { for: id, text: label }), control) };
  }

  function item(user, index) {
    const who = user.email || user.name || user.subject;
    const prefix = `person-${index}`;
    const form = el("form", { className: "admin-form", novalidate: true, "aria-label": `Roles of ${who}` });
    const role = choice(`${prefix}-role`, "Role", ROLES, user.role);
    const perEnvironment = environments.map((name) =>
      choice(
        `${prefix}-env-${name}`,
        `In ${environmentLabel(name)}`,
        [
          [SAME, "As their role"],
          ["viewer", "Viewer"],
          ["editor", "Editor"],
        ],
        user.environment_roles[name] || SAME,
      ),
    );
    const active = el("input", { type: "checkbox", id: `${prefix}-active`, checked: user.active });
    const save = el("button", { type: "submit", className: "button primary small", text: "Save" });
    const fieldset = el("fieldset", {}, el("legend", { text: "Roles per environment" }));
    for (const field of perEnvironment) fieldset.append(field.wrap);
    const sync = () => {
      // An admin is an admin everywhere: roles per environment would mean nothing.
      fieldset.disabled = role.control.value === "admin";
    };
    role.control.addEventListener("change", sync);
    sync();
    form.append(
      role.wrap,
      fieldset,
      el("div", { className: "field" }, el("label", { for: active.id }, active, " May sign in")),
      el("p", { className: "form-error", "data-form-error": "", role: "alert", tabindex: "-1" }),
      el("div", { className: "form-actions" }, save),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const wanted = {};
      environments.forEach((name, position) => {
        const value = perEnvironment[position].control.value;
        if (value !== SAME) wanted[name] = value;
      });
      const changes = {};
      if (role.control.value !== user.role) changes.role = role.control.value;
      if (JSON.stringify(wanted) !== JSON.stringify(user.environment_roles)) changes.environment_roles = wanted;
      if (active.checked !== user.active) changes.active = active.checked;
      if (!Object.keys(changes).length) {
        view.status.textContent = `Nothing to save for ${who}.`;
        return;
      }
      // Save is held while the change is sent, and an earlier refusal's words go, as on the other admin screens.
      await sendForm({
        form,
        session,
        send: async () => {
          await api.request("PATCH", `/users/${encodeURIComponent(user._id)}`, { body: changes });
          await load(`Saved ${who}.`);
        },
      });
    });
    return el(
      "li",
      { className: "admin-item", "data-user": user._id },
      el("div", { className: "admin-item-head" }, el("h3", { className: "admin-item-name", text: who })),
      el(
        "dl",
        { className: "facts" },
        user.name && user.name !== who ? fact("Name", user.name) : null,
        fact("Signed in", user.last_sign_in_at ? timeElement(user.last_sign_in_at) : "Never"),
        fact("First seen", timeElement(user.created_at)),
        fact("State", user.active ? "Active" : "Deactivated"),
      ),
      form,
    );
  }

  function load(done = "") {
    return loadList({
      status: view.status,
      session,
      read: async () => {
        const { data } = await api.request("GET", "/users");
        clear(view.list);
        data.forEach((user, index) => view.list.append(item(user, index)));
        const count = data.length === 1 ? "1 person." : `${data.length} people.`;
        return done || (data.length ? count : "Nobody has signed in through single sign-on yet.");
      },
    });
  }

  return { section, admin: true, available: () => singleSignOn, show: () => load() };
}

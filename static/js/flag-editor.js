// The inline editor of a flag's name and description, opened in the flag's row: the API's refusals appear next to
// their fields, and an edit that lost a race with someone else's is kept, for a second Save to apply on top.

import { ApiError } from "./api.js";
import { el, showFieldError } from "./dom.js";

/** @import { Flag } from "./api.js" */

/**
 * Build the editor for flag and focus it. place(form) puts it on the page; save(flag, changes) sends the changes
 * (throwing the API's refusal); latest() is the list's current copy of the flag; closed() runs once it has gone.
 * @param {Flag} flag
 * @param {{place: (form: HTMLFormElement) => void,
 *   save: (flag: Flag, changes: Record<string, any>) => Promise<unknown>, latest: () => Flag | undefined,
 *   closed: () => void}} parts
 * @returns {HTMLFormElement}
 */
export function openFlagEditor(flag, { place, save, latest, closed }) {
  const id = flag._id;
  const base = { flag };
  const nameInput = el("input", { id: `edit-name-${id}`, type: "text", autocomplete: "off", spellcheck: "false" });
  const nameError = el("p", { id: `edit-name-error-${id}`, className: "field-error" });
  nameInput.setAttribute("aria-describedby", nameError.id);
  const descriptionInput = el("textarea", { id: `edit-description-${id}`, rows: "2" });
  const descriptionError = el("p", { id: `edit-description-error-${id}`, className: "field-error" });
  descriptionInput.setAttribute("aria-describedby", descriptionError.id);
  const formError = el("p", { className: "form-error", role: "alert" });
  nameInput.value = flag.name;
  descriptionInput.value = flag.description || "";
  const cancel = el("button", { type: "button", className: "button", text: "Cancel" });
  const saveButton = el("button", { type: "submit", className: "button primary", text: "Save" });
  const form = el(
    "form",
    { className: "edit-form", novalidate: true, "aria-label": `Edit ${flag.name}` },
    el("div", { className: "field" }, el("label", { for: nameInput.id, text: "Name" }), nameInput, nameError),
    el(
      "div",
      { className: "field" },
      el("label", { for: descriptionInput.id, text: "Description" }),
      descriptionInput,
      descriptionError,
    ),
    formError,
    el("div", { className: "form-actions" }, saveButton, cancel),
  );
  const errors = { name: [nameInput, nameError], description: [descriptionInput, descriptionError] };
  const showErrors = (fieldErrors, general) => {
    for (const [field, [input, message]] of Object.entries(errors)) showFieldError(input, message, fieldErrors[field]);
    formError.textContent = general || "";
  };
  const close = () => {
    form.remove();
    closed();
  };
  cancel.addEventListener("click", close);
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const changes = {};
    if (nameInput.value !== base.flag.name) changes.name = nameInput.value;
    if (descriptionInput.value !== (base.flag.description || "")) changes.description = descriptionInput.value;
    if (Object.keys(changes).length === 0) {
      close();
      return;
    }
    saveButton.disabled = true;
    try {
      await save(base.flag, changes);
      close();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const fieldErrors = error.fieldErrors();
      let general = Object.keys(fieldErrors).some((f) => f in errors) ? "" : error.message;
      if (error.status === 412) {
        // Someone else saved first: keep what this person typed, and let a second Save apply it on top.
        base.flag = latest() ?? base.flag;
        const who = base.flag.updated_by || "Someone";
        general = `${who} changed this flag while you were editing. Save again to apply your version.`;
      }
      showErrors(fieldErrors, general);
      const firstInvalid = Object.keys(fieldErrors).find((f) => f in errors);
      (firstInvalid ? errors[firstInvalid][0] : nameInput).focus();
    } finally {
      saveButton.disabled = false;
    }
  });
  place(form);
  nameInput.focus();
  nameInput.select();
  return form;
}

// The "New flag" dialog: its form, the API's refusals next to the field they are about, the new flag into the list.

import { ApiError } from "./api.js";
import { byId, closeOnButtons, find, showFieldError } from "./dom.js";

/** @import { Api } from "./api.js" */
/** @import { FlagsTable } from "./flag-table.js" */
/** @import { FlagsView } from "./flag-table-view.js" */
/** @import { Messages } from "./messages.js" */
/** @import { Session } from "./session.js" */

/**
 * Wire the "New flag" button and its dialog; offer(allowed) shows the button to those who may create.
 * @param {{api: Api, list: FlagsTable, listView: FlagsView, messages: Messages, session: Session}} deps
 */
export function createNewFlagDialog({ api, list, listView, messages, session }) {
  const view = {
    opener: byId("new-flag", HTMLButtonElement),
    dialog: byId("create-dialog", HTMLDialogElement),
    form: byId("create-form", HTMLFormElement),
    name: byId("create-name", HTMLInputElement),
    nameError: byId("create-name-error"),
    description: byId("create-description", HTMLTextAreaElement),
    descriptionError: byId("create-description-error"),
    error: byId("create-error"),
  };
  closeOnButtons(view.dialog);

  function showErrors(fields, general) {
    showFieldError(view.name, view.nameError, fields.name);
    showFieldError(view.description, view.descriptionError, fields.description);
    view.error.textContent = general;
  }

  view.opener.addEventListener("click", () => {
    view.form.reset();
    showErrors({}, "");
    view.dialog.showModal();
    view.name.focus();
  });

  view.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const submit = find(view.form, '[type="submit"]', HTMLButtonElement);
    submit.disabled = true;
    try {
      const answer = await api.createFlag({ name: view.name.value, description: view.description.value });
      view.dialog.close();
      listView.replace(answer.data);
      messages.show(`Created ${answer.data.name}. It is off in every environment.`, "notice");
      if (!list.focusSwitch(answer.data._id)) view.opener.focus();
    } catch (error) {
      if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
      const fields = error.fieldErrors();
      showErrors(fields, fields.name || fields.description ? "" : error.message);
      (fields.description && !fields.name ? view.description : view.name).focus();
    } finally {
      submit.disabled = false;
    }
  });

  return {
    offer(allowed) {
      view.opener.hidden = !allowed;
    },
  };
}

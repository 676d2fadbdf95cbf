// The delete dialog: confirm, delete through the API, and explain a flag changed or deleted elsewhere meanwhile.

import { ApiError } from "./api.js";
import { byId, closeOnButtons, find } from "./dom.js";

/** @import { Api } from "./api.js" */
/** @import { FlagsTable } from "./flag-table.js" */
/** @import { FlagsView } from "./flag-table-view.js" */
/** @import { Messages } from "./messages.js" */
/** @import { Session } from "./session.js" */

/**
 * Wire the delete dialog; open(flag) asks about that flag.
 * @param {{api: Api, list: FlagsTable, listView: FlagsView, messages: Messages, session: Session}} deps
 */
export function createDeleteDialog({ api, list, listView, messages, session }) {
  const view = {
    dialog: byId("delete-dialog", HTMLDialogElement),
    form: byId("delete-form", HTMLFormElement),
    title: byId("delete-title"),
    error: byId("delete-error"),
  };
  closeOnButtons(view.dialog);
  let deleting = null;

  function open(flag) {
    deleting = flag;
    view.title.textContent = `Delete ${flag.name}?`;
    view.error.textContent = "";
    view.dialog.showModal();
  }

  view.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const flag = list.flag(deleting._id) || deleting;
    const submit = find(view.form, '[type="submit"]', HTMLButtonElement);
    submit.disabled = true;
    const neighbour = list.neighbourOf(flag._id);
    try {
      await api.deleteFlag(flag);
      view.dialog.close();
      listView.remove(flag._id);
      messages.show(`Deleted ${flag.name}.`, "notice");
      if (!neighbour || !list.focusSwitch(neighbour)) listView.focusSearch();
    } catch (error) {
      if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
      if (error.status === 404) {
        view.dialog.close();
        messages.show(`${flag.name} was already deleted.`, "notice");
        await listView.refresh();
        return;
      }
      if (error.status === 412) {
        await listView.refresh();
        deleting = list.flag(flag._id) || flag;
        const who = deleting.updated_by || "Someone";
        view.error.textContent = `${who} changed ${flag.name} a moment ago. Delete it anyway?`;
        return;
      }
      view.error.textContent = error.message;
    } finally {
      submit.disabled = false;
    }
  });

  view.dialog.addEventListener("close", () => {
    // Back to the row's Actions button, whose menu opened it, if the flag is still there.
    if (deleting) list.focusActions(deleting._id);
  });

  return { open };
}

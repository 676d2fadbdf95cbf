// The history dialog: a flag's audit trail, newest first, a page at a time (each event drawn by history-event.js).

import { ApiError } from "./api.js";
import { byId, clear, closeOnButtons } from "./dom.js";
import { eventItem } from "./history-event.js";

/** @import { Api } from "./api.js" */
/** @import { Session } from "./session.js" */

/**
 * Wire the history dialog; open(flag) shows that flag's changes.
 * @param {{api: Api, environmentLabel: (name: string) => string, session: Session}} deps
 */
export function createHistoryDialog({ api, environmentLabel, session }) {
  const view = {
    dialog: byId("history-dialog", HTMLDialogElement),
    title: byId("history-title"),
    status: byId("history-status"),
    list: byId("history-list"),
    more: byId("history-more", HTMLButtonElement),
  };
  closeOnButtons(view.dialog);
  const history = { flag: null, before: null, opener: null };

  async function load() {
    view.more.hidden = true;
    view.status.textContent = "Loading…";
    try {
      const answer = await api.history(history.flag._id, history.before);
      for (const event of answer.data.events) view.list.append(eventItem(event, environmentLabel));
      history.before = answer.data.next_before;
      view.more.hidden = !history.before;
      const count = view.list.childElementCount;
      view.status.textContent =
        count === 0 ? "No recorded changes." : `${count} ${count === 1 ? "change" : "changes"}, newest first.`;
    } catch (error) {
      if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
      view.status.textContent = error.message;
    }
  }

  function open(flag) {
    history.flag = flag;
    history.before = null;
    history.opener = document.activeElement;
    view.title.textContent = `History of ${flag.name}`;
    clear(view.list);
    view.dialog.showModal();
    load();
  }

  view.more.addEventListener("click", load);
  view.dialog.addEventListener("close", () => {
    if (history.opener?.isConnected) history.opener.focus();
  });

  return { open };
}

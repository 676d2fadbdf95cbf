// Changes to one flag from its row of the table: a switch (shown at once, put back if the server refuses, with a
// message saying why) and a saved inline edit.

import { ApiError } from "./api.js";

/** @import { Api } from "./api.js" */
/** @import { FlagsTable } from "./flag-table.js" */
/** @import { FlagsView } from "./flag-table-view.js" */
/** @import { Messages } from "./messages.js" */
/** @import { Session } from "./session.js" */

/**
 * What the list's switch and Save do, through the API and into the list view.
 * @param {{api: Api, list: FlagsTable, listView: FlagsView, messages: Messages,
 *   environmentLabel: (name: string) => string, session: Session}} deps
 */
export function createFlagUpdates({ api, list, listView, messages, environmentLabel, session }) {
  /** Where changes need approval a switch asks for one: the table keeps showing what is served until it applies. */
  async function requestToggle(flag, environment, was) {
    const where = environmentLabel(environment);
    try {
      await api.requestChange(flag, { environments: { [environment]: !was } });
      messages.show(
        `Asked to switch ${flag.name} ${was ? "off" : "on"} in ${where}. It changes once someone else approves the ` +
          "request (Change requests).",
        "notice",
      );
    } catch (error) {
      if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
      messages.show(`Could not ask to switch ${flag.name} ${was ? "off" : "on"} in ${where}. ${error.message}`);
    }
  }

  async function toggle(flag, environment) {
    const was = Boolean(flag.environments[environment]);
    if (session.needsApproval(environment)) return requestToggle(flag, environment, was);
    // Show the new state at once; the If-Match of api.toggleFlag makes the server refuse if the flag moved meanwhile.
    list.showState(flag._id, environment, !was, true);
    listView.changing();
    try {
      const answer = await api.toggleFlag(flag, environment);
      list.showState(flag._id, environment, null, false);
      listView.replace(answer.data);
    } catch (error) {
      list.showState(flag._id, environment, null, false);
      if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
      const where = environmentLabel(environment);
      let reason = error.message;
      if (error.status === 412) {
        reason = "It was changed elsewhere a moment ago; the table now shows its current state.";
      }
      else if (error.status === 404) reason = "It was deleted elsewhere.";
      messages.show(`Could not switch ${flag.name} ${was ? "off" : "on"} in ${where}. ${reason}`);
      await listView.refresh();
    }
  }

  /** Save an inline edit; a refusal is thrown back to the editor, which shows it next to the fields. */
  async function save(flag, changes) {
    try {
      const answer = await api.updateFlag(flag, changes);
      listView.replace(answer.data);
      messages.show(`Saved ${answer.data.name}.`, "notice");
    } catch (error) {
      if (session.handleAuthFailure(error)) return;
      // A conflict means the list is stale: refresh it so the editor can start from the current version.
      if (error instanceof ApiError && error.status === 412) await listView.refresh();
      // A rename reaches every environment: where some need approval it goes as a change request.
      if (error instanceof ApiError && error.status === 409 && error.body.error === "change_request_required") {
        await api.requestChange(flag, changes);
        messages.show(
          `${error.message.split(":")[0]}: asked for the change to ${flag.name}. It applies once someone else ` +
            "approves the request (Change requests).",
          "notice",
        );
        return;
      }
      throw error;
    }
  }

  return { toggle, save };
}

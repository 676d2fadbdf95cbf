// The segments screen (?page=segments): list segments, create one, edit its conditions, delete one no flag names
// (the API refuses a segment in use and names the flags: that message is shown as it comes).

import { ApiError } from "./api.js";
import { createConfirmDialog, fact, loadVocabulary, sendForm, showErrors, showRefusal } from "./admin-forms.js";
import { createConditionEditor } from "./condition-editor.js";
import { byId, clear, el, keepingFocus, timeElement } from "./dom.js";
import { conditionsText } from "./targeting-text.js";

/** @import { Api } from "./api.js" */
/** @import { Screen } from "./router.js" */
/** @import { Session } from "./session.js" */

const CHANGED_MEANWHILE = "Someone changed this segment meanwhile. Close this form and open it again to see theirs.";

/**
 * The segments screen for the router.
 * @param {{api: Api, session: Session}} deps
 * @returns {Screen}
 */
export function createSegmentsScreen({ api, session }) {
  const section = byId("segments-view");
  const dialog = byId("segment-dialog", HTMLDialogElement);
  const form = byId("segment-form", HTMLFormElement);
  const view = {
    opener: byId("segment-new", HTMLButtonElement),
    title: byId("segment-dialog-title"),
    name: byId("segment-name", HTMLInputElement),
    description: byId("segment-description", HTMLTextAreaElement),
    add: byId("segment-add-condition", HTMLButtonElement),
    save: byId("segment-save", HTMLButtonElement),
    status: byId("segment-status"),
    list: byId("segment-list"),
  };
  const conditions = createConditionEditor(byId("segment-conditions"), "segment-condition");
  const deleteDialog = createConfirmDialog(byId("segment-delete-dialog", HTMLDialogElement), session);
  const editing = { segment: null, opener: null };

  for (const button of dialog.querySelectorAll("[data-close]")) button.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    if (editing.opener?.isConnected) editing.opener.focus();
  });

  async function open(segment) {
    editing.segment = segment;
    editing.opener = document.activeElement;
    try {
      conditions.offer((await loadVocabulary(api)).operators);
    } catch {
      // The editor's own list of operators serves.
    }
    view.title.textContent = segment ? `Edit segment ${segment.name}` : "New segment";
    view.save.textContent = segment ? "Save segment" : "Create segment";
    view.name.value = segment?.name || "";
    view.description.value = segment?.description || "";
    conditions.set(segment?.conditions || [{ attribute: "", op: "in", values: [] }]);
    showErrors(form, {});
    dialog.showModal();
    view.name.focus();
  }

  function item(segment) {
    const edit = el("button", {
      type: "button",
      className: "button small",
      text: "Edit",
      "aria-label": `Edit ${segment.name}`,
    });
    const remove = el("button", {
      type: "button",
      className: "button small danger-text",
      text: "Delete",
      "aria-label": `Delete ${segment.name}`,
    });
    edit.addEventListener("click", () => open(segment));
    remove.addEventListener("click", () => {
      deleteDialog.ask(
        `Delete segment ${segment.name}?`,
        "Its conditions are gone for good; the audit log keeps what they were.",
        async () => {
          try {
            await api.request("DELETE", `/segments/${encodeURIComponent(segment._id)}`, { ifMatch: etag(segment) });
          } catch (error) {
            if (error instanceof ApiError && error.code === "segment_in_use") {
              const flags = (error.body.details || []).map((detail) => detail.flag).filter(Boolean);
              error.explained = `${error.message} ${flags.join(", ")}. Take it out of their rules first.`;
            }
            throw error;
          }
          await load();
          view.status.textContent = `Deleted ${segment.name}.`;
        },
      );
    });
    return el(
      "li",
      { className: "admin-item" },
      el(
        "div",
        { className: "admin-item-head" },
        el("h3", { className: "admin-item-name", text: segment.name }),
        el("div", { className: "flag-actions" }, edit, remove),
      ),
      segment.description ? el("p", { className: "flag-description", text: segment.description }) : null,
      el(
        "dl",
        { className: "facts" },
        fact("Holds when", conditionsText(segment.conditions)),
        fact("Changed", timeElement(segment.updated_at), segment.updated_by ? ` by ${segment.updated_by}` : null),
      ),
    );
  }

  // The list as last drawn, so a change elsewhere that left the segments alone (a flag toggled) redraws nothing.
  let shown = null;

  async function load({ quiet = false } = {}) {
    if (!quiet) view.status.textContent = "Loading segments…";
    try {
      const { data } = await api.request("GET", "/segments");
      const text = JSON.stringify(data);
      if (quiet && text === shown) return;
      shown = text;
      keepingFocus(view.list, () => {
        clear(view.list);
        for (const segment of data) view.list.append(item(segment));
      });
      view.status.textContent =
        data.length === 0 ? "No segments yet." : `${data.length} ${data.length === 1 ? "segment" : "segments"}.`;
    } catch (error) {
      if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
      if (!quiet) view.status.textContent = error.message;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: view.name.value.trim(), description: view.description.value, conditions: conditions.read() };
    const segment = editing.segment;
    await sendForm({
      form,
      session,
      button: view.save,
      send: async () => {
        if (segment) {
          await api.request("PUT", `/segments/${encodeURIComponent(segment._id)}`, { body, ifMatch: etag(segment) });
        } else {
          await api.request("POST", "/segments", { body });
        }
        dialog.close();
        await load();
        view.status.textContent = `${segment ? "Saved" : "Created"} ${body.name}.`;
      },
      refused: (error) => {
        if (error.status === 412) showErrors(form, {}, CHANGED_MEANWHILE);
        else showRefusal(form, error);
      },
    });
  });
  view.add.addEventListener("click", () => conditions.add());
  view.opener.addEventListener("click", () => open(null));

  return {
    section,
    editors: true,
    show: () => load(),
    /** A change was made elsewhere (the event stream): read the segments again, redrawing only if they changed. */
    refresh: () => load({ quiet: true }),
  };
}

// A segment's ETag (segments.routes.etag_of): its id and version, which If-Match names.
function etag(segment) {
  return `"${segment._id}.${segment.version}"`;
}

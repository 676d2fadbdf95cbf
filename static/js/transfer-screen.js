// The import and export screen (?page=transfer): the export downloaded through fetch (the token stays in a
// header, never a URL) as a Blob; a document uploaded, its dry-run plan shown, then applied as planned.

import { ApiError } from "./api.js";
import { fact, sendForm, showErrors, showRefusal } from "./admin-forms.js";
import { byId, el } from "./dom.js";

/** @import { Api } from "./api.js" */
/** @import { Screen } from "./router.js" */
/** @import { Session } from "./session.js" */

const OUTCOMES = [
  ["created", "Created"],
  ["updated", "Updated"],
  ["unchanged", "Unchanged"],
  ["removed", "Removed"],
];

function fileName() {
  return `feature-flags-${new Date().toISOString().slice(0, 10)}.json`;
}

/**
 * The import and export screen for the router.
 * @param {{api: Api, session: Session}} deps
 * @returns {Screen}
 */
export function createTransferScreen({ api, session }) {
  const section = byId("transfer-view");
  const form = byId("import-form", HTMLFormElement);
  const view = {
    download: byId("export-download", HTMLButtonElement),
    exportStatus: byId("export-status"),
    file: byId("import-file", HTMLInputElement),
    mode: byId("import-mode", HTMLSelectElement),
    plan: byId("import-plan"),
    planTitle: byId("import-plan-title"),
    planSummary: byId("import-plan-summary"),
    planLists: byId("import-plan-lists"),
    apply: byId("import-apply", HTMLButtonElement),
    applyError: byId("import-apply-error"),
  };
  // What the plan shown was made from: applying sends exactly these contents in that mode.
  let planned = null;

  view.download.addEventListener("click", async () => {
    view.download.disabled = true;
    view.exportStatus.textContent = "Preparing the export…";
    try {
      const { data } = await api.request("GET", "/export", { raw: true });
      const url = URL.createObjectURL(new Blob([data], { type: "application/json" }));
      const link = el("a", { href: url, download: fileName(), hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      // The download has its own copy by now; the Blob's address is let go on the next turn.
      setTimeout(() => URL.revokeObjectURL(url), 0);
      view.exportStatus.textContent = `Downloaded ${fileName()}.`;
    } catch (error) {
      if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
      view.exportStatus.textContent = error.message;
    } finally {
      view.download.disabled = false;
    }
  });

  function forget() {
    planned = null;
    view.plan.hidden = true;
  }

  /** The API's complaints about the document, placed under the file field with the flag or segment they name. */
  function documentErrors(error, contents) {
    /** @type {Record<string, string>} */
    const errors = {};
    for (const [number, item] of (error.body.details || []).entries()) {
      if (typeof item?.field !== "string") continue;
      const [kind, index, ...rest] = item.field.split(".");
      const named = contents?.[kind]?.[Number(index)]?.name;
      const what = kind === "segments" ? "Segment" : "Flag";
      const where = named ? `${what} ${named}${rest.length ? ` (${rest.join(".")})` : ""}` : item.field;
      errors[`document.${number}`] = `${where}: ${item.message}.`;
    }
    return errors;
  }

  function showPlan(answer, applied) {
    view.planTitle.textContent = applied ? "Imported" : "What the import does";
    const changed = answer.created.length + answer.updated.length + answer.removed.length;
    view.planSummary.textContent = applied
      ? `Done: ${changed} ${changed === 1 ? "flag" : "flags"} changed.`
      : changed || hasSegmentChanges(answer)
        ? "A dry run: nothing has been written yet. Apply it to make these changes."
        : "A dry run: the document matches what is here; applying it changes nothing.";
    view.planLists.replaceChildren(
      ...OUTCOMES.map(([key, label]) => fact(`${label} flags`, listOrNone(answer[key]))),
      ...(answer.segments
        ? OUTCOMES.map(([key, label]) => fact(`${label} segments`, listOrNone(answer.segments[key])))
        : []),
    );
    view.apply.hidden = applied;
    view.applyError.textContent = "";
    view.plan.hidden = false;
    view.plan.focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    forget();
    showErrors(form, {});
    const file = view.file.files[0];
    if (!file) {
      showErrors(form, { document: "Choose a document exported from this service." });
      view.file.focus();
      return;
    }
    let contents;
    try {
      contents = JSON.parse(await file.text());
    } catch {
      showErrors(form, { document: `${file.name} is not JSON: choose a document exported from this service.` });
      view.file.focus();
      return;
    }
    const mode = view.mode.value;
    await sendForm({
      form,
      session,
      send: async () => {
        const query = new URLSearchParams({ mode, dry_run: "true" });
        const { data } = await api.request("POST", `/import?${query}`, { body: contents });
        planned = { contents, mode };
        showPlan(data, false);
      },
      refused: (error) => {
        const errors = documentErrors(error, contents);
        if (Object.keys(errors).length) {
          showErrors(form, errors, error.message);
          view.file.focus();
        } else showRefusal(form, error);
      },
    });
  });

  view.apply.addEventListener("click", async () => {
    if (!planned) return;
    view.apply.disabled = true;
    view.applyError.textContent = "";
    try {
      const { data } = await api.request("POST", `/import?${new URLSearchParams({ mode: planned.mode })}`, {
        body: planned.contents,
      });
      planned = null;
      showPlan(data, true);
    } catch (error) {
      if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
      // A flag changed since the dry run (412), say: the plan is no longer what would happen.
      view.applyError.textContent = `${error.message} Preview the import again.`;
    } finally {
      view.apply.disabled = false;
    }
  });
  view.file.addEventListener("change", forget);
  view.mode.addEventListener("change", forget);

  return { section, admin: true, show() {}, hide: forget };
}

function hasSegmentChanges(answer) {
  const segments = answer.segments;
  return Boolean(segments && segments.created.length + segments.updated.length + segments.removed.length);
}

function listOrNone(names) {
  return names?.length ? names.join(", ") : "none";
}

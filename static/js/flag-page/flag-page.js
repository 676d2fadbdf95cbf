// A flag's own page (?page=flag&name=…&env=…): its details, lifecycle, and per environment its switch, targeting,
// usage, schedules, copying and Try it. Every write sends If-Match; a 412 keeps the person's edit and lets them
// choose between it and the flag as it now is. A change made elsewhere (the event stream calls refresh()) is drawn
// at once, except over an unsaved edit: then the person is offered the same choice, before they save.

import { ApiError, flagEtag } from "../api.js";
import { byId, closeOnButtons, el, find, keepingFocus, timeElement } from "../dom.js";
import { createEnvironmentTabs } from "../environment-tabs.js";
import { pageHref, pageLink } from "../router.js";
import { servingText } from "../targeting-text.js";
import { followChanges } from "./changes-elsewhere.js";
import { field, select, showErrors } from "./fields.js";
import { createPageHistory } from "./page-history.js";
import { createPendingRequests } from "./pending-requests.js";
import { createPrerequisitesEditor } from "./prerequisites-editor.js";
import { createRulesEditor } from "./rules-editor.js";
import { createSchedules } from "./schedules.js";
import { createServeEditor } from "./serve-editor.js";
import { createTryIt } from "./try-it.js";
import { trackUnsavedEdits } from "./unsaved-edits.js";
import { createUsage } from "./usage.js";
import { createVariantsEditor } from "./variants-editor.js";

/** @import { Api } from "../api.js" */
/** @import { Router, Screen } from "../router.js" */
/** @import { Session } from "../session.js" */

/**
 * Each environment's targeting with its serves following renamed variants, and a serve of a removed variant the
 * first variant instead: the API refuses variants that a serve names no longer (an absent targeting serves "on").
 */
function followVariants(flag, variants, renames) {
  const names = Object.keys(variants);
  const name = (old) => (old in variants ? old : renames[old] in variants ? renames[old] : names[0]);
  const serve = (value) => {
    if (typeof value === "string") return name(value);
    if (value && value.weights) return { ...value, weights: remap(value.weights) };
    return remap(value);
  };
  const remap = (split) => {
    const out = {};
    for (const [key, n] of Object.entries(split)) out[name(key)] = (out[name(key)] || 0) + n;
    return out;
  };
  const targeting = {};
  for (const environment of Object.keys(flag.environments)) {
    const settings = structuredClone(flag.targeting[environment] || { rules: [], serve: "on" });
    settings.serve = serve(settings.serve ?? "on");
    for (const rule of settings.rules || []) rule.serve = serve(rule.serve);
    targeting[environment] = settings;
  }
  return targeting;
}

const TYPES = ["release", "experiment", "operational", "kill-switch", "permission"];
// Why a flag is stale, in words (its stale_reason).
const STALE_REASONS = {
  marked: "marked stale by a person",
  lifetime: "older than a flag of its type is expected to live",
  unused: "no environment has evaluated it lately",
};
// What each form is called when the person is asked whether to leave it unsaved.
const FORM_NAMES = { "flag-details": "Details", "flag-variants": "Variants", "flag-targeting": "Targeting" };

const ARCHIVED = "Archived: not served and not listed. Revive it to change it.";
const CHANGED = "Changed elsewhere; showing the latest.";

/**
 * The flag screen for the router: {section, show(params), hide(), refresh()}.
 * @param {{api: Api, session: Session, environments: string[], environmentLabel: (name: string) => string,
 *   defaultEnvironment: string, go: Router["go"], pollMs: number}} deps
 * @returns {Screen}
 */
export function createFlagPage({ api, session, environments, environmentLabel, defaultEnvironment, go, pollMs }) {
  const section = byId("flag-view");
  const status = byId("flag-status");
  const conflict = byId("flag-conflict");
  const state = {
    flag: null,
    name: null,
    env: null,
    segments: [],
    editors: {},
    timer: null,
    gone: false,
  };
  const forms = {
    details: byId("flag-details", HTMLFormElement),
    variants: byId("flag-variants", HTMLFormElement),
    targeting: byId("flag-targeting", HTMLFormElement),
  };
  const unsaved = trackUnsavedEdits([forms.details, forms.variants, forms.targeting]);
  // "Saved" beside the button that saved, until the form is edited again.
  for (const form of Object.values(forms)) {
    form.addEventListener("input", () => said(form, ""));
  }
  const tabButtons = environments.map((name) =>
    el("button", {
      type: "button",
      role: "tab",
      id: `flag-tab-${name}`,
      className: "tab",
      "data-environment": name,
      "aria-controls": "flag-env-panel",
      "aria-selected": "false",
      tabindex: "-1",
      text: environmentLabel(name),
    }),
  );
  byId("flag-env-tabs").append(...tabButtons);
  const leaveDialog = byId("flag-leave-dialog", HTMLDialogElement);

  /** Whether the person may leave what they edited: at once when nothing is unsaved, else as they answer. */
  function mayLeave(which = Object.values(forms)) {
    const edited = which.filter((form) => unsaved.has(form));
    if (!edited.length || state.gone || !state.flag) return Promise.resolve(true);
    const names = edited.map((form) => FORM_NAMES[form.id]).join(" and ");
    byId("flag-leave-what").textContent = `${names} ${edited.length > 1 ? "have" : "has"} changes you have not saved; they will be lost.`;
    leaveDialog.returnValue = "";
    leaveDialog.showModal();
    return new Promise((resolve) => {
      leaveDialog.addEventListener("close", () => resolve(leaveDialog.returnValue === "leave"), { once: true });
    });
  }

  // Closing the tab, reloading or typing another address with an unsaved edit: only the browser may ask then, in
  // its own words; the in-page dialog above covers every way of leaving within the page.
  window.addEventListener("beforeunload", (event) => {
    if (section.hidden || state.gone || !state.flag) return;
    if (!Object.values(forms).some((form) => unsaved.has(form))) return;
    event.preventDefault();
    // Chromium before 119 asks only when returnValue is set.
    event.returnValue = "";
  });

  const tabs = createEnvironmentTabs(tabButtons, byId("flag-env-panel"), {
    defaultEnvironment,
    // Another environment's tab redraws the targeting editor: an unsaved edit there is the person's to drop.
    mayChange: () => mayLeave([forms.targeting]),
    selected: (environment, push) => {
      if (push) window.history.pushState(null, "", pageHref("flag", { name: state.name, env: environment }));
      state.env = environment;
      drawEnvironment();
    },
  });
  // An archived flag is read-only until revived: nothing it holds is served, and the service refuses its edits.
  const archived = () => Boolean(state.flag?.archived_at);
  const readOnly = () => !session.canEdit || archived();
  // What belongs to one environment (its switch and targeting) follows the role there, which can differ.
  const environmentReadOnly = () => !session.canEditIn(state.env) || archived();
  const changes = followChanges({
    api,
    session,
    held: () => (state.flag && !state.gone && !byId("flag-body").hidden ? state.flag : null),
    newer: (latest) => changedElsewhere(latest),
    unchanged: () => drawReadings(),
    gone: () => deletedElsewhere(),
  });
  const schedules = createSchedules(byId("flag-schedules"), {
    api,
    readOnly: false,
    changed: () => changes.refresh(),
    needsApproval: (environment) => session.needsApproval(environment),
    requested: () => pending.refresh(state.flag, state.env),
    targetingNow: () => targetingSettings(),
  });
  const usage = createUsage(byId("flag-usage"), { api });
  const history = createPageHistory(byId("flag-history"), { api, session, environmentLabel });
  const pending = createPendingRequests(byId("flag-requests-card"), byId("flag-requests"), { api, session, environmentLabel });
  const tryIt = createTryIt(byId("flag-try"), { api });
  const deleteDialog = byId("flag-delete-dialog", HTMLDialogElement);
  closeOnButtons(deleteDialog);

  const path = () => `/flags/${encodeURIComponent(state.flag._id)}`;

  /** The note for the reviewer typed beside the switch; the request it went with empties it once sent. */
  const requestComment = () => byId("flag-request-comment", HTMLInputElement).value.trim();

  // What the page says once a change request is sent: it waits for someone else.
  const REQUESTED = "Change request sent; it applies once someone else approves it";

  /**
   * Run a write; a 412 shows the conflict choice, validation errors go beside their fields under form. A PUT the
   * service refuses because it reaches an environment that needs approval (a rename, new variants) is sent as a
   * change request with the same body, when asked for one (`body`).
   */
  async function write(form, errorNode, send, body = null) {
    errorNode.textContent = "";
    try {
      const { data } = await changes.writing(send);
      showErrors(form, {});
      conflict.hidden = true;
      return data;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (session.handleAuthFailure(error)) return null;
      if (body && error.status === 409 && error.body.error === "change_request_required") {
        const asked = await write(form, errorNode, () => api.requestChange(state.flag, body, null, requestComment()));
        if (asked) {
          // The request holds the edit now: leaving the page loses nothing.
          if (Object.values(forms).includes(form)) unsaved.saved(form);
          byId("flag-request-comment", HTMLInputElement).value = "";
          status.textContent = `${error.message.split(":")[0]}. ${REQUESTED}.`;
          pending.refresh(state.flag, state.env);
        }
        return null;
      }
      if (error.status === 412) {
        conflict.hidden = false;
        byId("flag-conflict-keep", HTMLButtonElement).focus();
        return null;
      }
      const errors = error.fieldErrors();
      const unplaced = showErrors(form, errors);
      if (unplaced.length || !Object.keys(errors).length)
        errorNode.textContent = [error.message, ...unplaced].join(" ");
      return null;
    }
  }

  async function fetchFlag(name) {
    const { data, etag } = await api.request("GET", `/flags/${encodeURIComponent(name)}`);
    changes.read(etag);
    return data;
  }

  async function load(name) {
    status.textContent = "Loading…";
    byId("flag-body").hidden = true;
    unsaved.clear();
    editable();
    try {
      state.flag = await fetchFlag(name);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (session.handleAuthFailure(error)) return;
      byId("flag-heading").textContent = "Flag";
      status.textContent = error.status === 404 ? `No flag is named “${name}”.` : error.message;
      return;
    }
    const segments = await api.request("GET", "/segments").then(
      (r) => r.data,
      () => [],
    );
    state.segments = Array.isArray(segments) ? segments : segments.segments || [];
    status.textContent = "";
    byId("flag-body").hidden = false;
    drawAll();
  }

  /** Hold the flag as it now is (after a conflict), or say it is gone; false when it could not be had. */
  async function refreshVersion() {
    try {
      state.flag = await fetchFlag(state.flag._id);
      return true;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (session.handleAuthFailure(error)) return false;
      if (error.status === 404) deletedElsewhere();
      else status.textContent = error.message;
      return false;
    }
  }

  /** Names of other flags containing text, at most limit, for the prerequisites' suggestions. */
  async function suggestFlags(text, limit) {
    const query = new URLSearchParams({ environment: session.environments[0], limit: String(limit + 1) });
    if (text) query.set("q", text);
    const { data } = await api.request("GET", `/flags?${query}`);
    return data.map((flag) => flag.name).filter((other) => other !== state.flag.name).slice(0, limit);
  }

  /** Say what became of a form's save next to its button (and clear it with ""). */
  function said(form, text) {
    const node = form.querySelector(".form-status");
    if (node) node.textContent = text;
  }

  /** The top of the page: archived or not, type, tags, staleness, times, and a line per environment. */
  function drawOverview() {
    const flag = state.flag;
    const banner = byId("flag-archived-banner");
    banner.hidden = !flag.archived_at;
    banner.replaceChildren();
    if (flag.archived_at) {
      banner.append(
        el("strong", { text: "Archived " }),
        timeElement(flag.archived_at),
        ": nothing serves it and this page is read-only. Revive it (at the top) to change it.",
      );
    }
    const facts = byId("flag-facts");
    facts.replaceChildren(el("span", { className: "flag-type", text: flag.type }));
    if (flag.tags.length) {
      facts.append(
        " · ",
        el(
          "span",
          { className: "tag-links", "aria-label": "Tags" },
          ...flag.tags.map((tag) => {
            const link = pageLink("flags", { tag }, tag);
            link.className = "tag";
            link.setAttribute("aria-label", `Flags tagged ${tag}`);
            return link;
          }),
        ),
      );
    }
    facts.append(" · created ", timeElement(flag.created_at));
    if (flag.created_by) facts.append(` by ${flag.created_by}`);
    facts.append(" · changed ", timeElement(flag.updated_at));
    if (flag.updated_by) facts.append(` by ${flag.updated_by}`);
    drawStale();
    const lines = session.environments.map((environment) => {
      const open = el("button", {
        type: "button",
        className: "link-button serving-line",
        "data-environment": environment,
        "aria-label": `Open ${environmentLabel(environment)}: ${servingText(flag, environment)}`,
      });
      open.append(
        el("strong", { text: environmentLabel(environment) }),
        ` · ${servingText(flag, environment)}`,
      );
      open.addEventListener("click", async () => {
        if (environment !== state.env && !(await mayLeave([forms.targeting]))) return;
        tabs.select(environment, { push: environment !== state.env, focus: true });
      });
      const seen = flag.last_evaluated_at?.[environment];
      const when = el("span", { className: "hint" }, seen ? " last evaluated " : " never evaluated");
      if (seen) when.append(timeElement(seen));
      return el("li", { "data-environment": environment }, open, when);
    });
    byId("flag-serving").replaceChildren(...lines);
  }

  function drawStale() {
    const flag = state.flag;
    const box = byId("flag-stale");
    box.replaceChildren();
    const text = flag.stale
      ? `Stale: ${STALE_REASONS[flag.stale_reason] || "potentially stale"}. Time to remove it from the code and archive it?`
      : "Not stale.";
    box.append(el("span", { className: flag.stale ? "stale-badge" : "hint", text }));
    if (readOnly()) return;
    // A person's mark is the reason given first; age and disuse are worked out by the service, not marked.
    const marked = flag.stale_reason === "marked";
    const mark = el("button", {
      type: "button",
      className: "button small",
      id: "flag-stale-toggle",
      text: marked ? "Take the stale mark off" : "Mark stale",
    });
    mark.addEventListener("click", async () => {
      const body = { stale: !marked };
      const data = await write(section, byId("flag-details-error"), () =>
        api.request("PUT", path(), { body, ifMatch: flagEtag(state.flag) }),
      );
      if (!data) return;
      state.flag = data;
      drawOverview();
      document.getElementById("flag-stale-toggle")?.focus();
      status.textContent = data.stale_reason === "marked" ? "Marked stale." : "Stale mark taken off.";
    });
    box.append(" ", mark);
  }

  /** Draw the flag as the page holds it, leaving every form with an unsaved edit as the person left it. */
  function drawAll() {
    const flag = state.flag;
    conflict.hidden = true;
    byId("flag-heading").textContent = flag.name;
    drawOverview();
    drawLifecycle();
    if (!unsaved.has(forms.details)) drawDetails();
    if (!unsaved.has(forms.variants)) drawVariants();
    tabs.offer(session.environments);
    if (unsaved.has(forms.targeting)) drawBeside();
    else tabs.select(tabs.pick(state.env));
  }

  /** Show a newer version read over the event stream, unless the person has an unsaved edit: then offer the choice. */
  function changedElsewhere(latest) {
    if (unsaved.first()) {
      // Their edit stays, and so does the version it was made on: saving it gets the 412 the conflict is about.
      // The notice takes no focus, since the person may be typing.
      conflict.hidden = false;
      drawReadings();
      return;
    }
    state.flag = latest;
    if (latest.name !== state.name) {
      state.name = latest.name;
      window.history.replaceState(null, "", pageHref("flag", { name: latest.name, env: state.env }));
    }
    keepingFocus(section, drawAll);
    status.textContent = latest.archived_at ? `${CHANGED} ${ARCHIVED}` : CHANGED;
  }

  /** Say the flag is gone and turn every control off; what the person typed stays readable. */
  function deletedElsewhere() {
    state.gone = true;
    conflict.hidden = true;
    status.replaceChildren(
      "This flag was deleted elsewhere: nothing here can be saved. ",
      pageLink("flags", { env: state.env }, "Back to the flags"),
    );
    /** @type {NodeListOf<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement | HTMLButtonElement>} */
    const controls = section.querySelectorAll("#flag-body :is(input, select, textarea, button), #flag-lifecycle button");
    for (const control of controls) {
      if (control.disabled) continue;
      control.disabled = true;
      control.dataset.gone = "";
    }
  }

  /** Turn back on what deletedElsewhere() turned off (another flag is opened). */
  function editable() {
    state.gone = false;
    /** @type {NodeListOf<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement | HTMLButtonElement>} */
    const controls = section.querySelectorAll("[data-gone]");
    for (const control of controls) {
      control.disabled = false;
      delete control.dataset.gone;
    }
  }

  function drawLifecycle() {
    const box = byId("flag-lifecycle");
    box.replaceChildren();
    if (state.flag.archived_at) status.textContent = ARCHIVED;
    if (!session.canEdit) return;
    const archive = el("button", {
      type: "button",
      className: "button",
      text: state.flag.archived_at ? "Revive" : "Archive",
    });
    archive.addEventListener("click", async () => {
      const verb = state.flag.archived_at ? "revive" : "archive";
      const data = await write(section, byId("flag-details-error"), () =>
        api.request("POST", `${path()}/${verb}`, { ifMatch: flagEtag(state.flag) }),
      );
      if (!data) return;
      state.flag = data;
      status.textContent = verb === "archive" ? "Archived." : "Revived.";
      drawAll();
      if (!data.archived_at) status.textContent = "Revived.";
      box.querySelector("button")?.focus();
    });
    const remove = el("button", { type: "button", className: "button danger", text: "Delete" });
    remove.addEventListener("click", () => {
      byId("flag-delete-error").textContent = "";
      deleteDialog.showModal();
    });
    box.append(archive, remove);
  }

  byId("flag-delete-form", HTMLFormElement).addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await changes.writing(() => api.request("DELETE", path(), { ifMatch: flagEtag(state.flag) }));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      byId("flag-delete-error").textContent = error.message;
      return;
    }
    deleteDialog.close();
    go("flags", { env: state.env });
  });

  function drawDetails() {
    const flag = state.flag;
    const name = field("Name", "name", el("input", { type: "text", autocomplete: "off", spellcheck: "false" }));
    name.control.value = flag.name;
    const description = field("Description", "description", el("textarea", { rows: "2" }));
    description.control.value = flag.description;
    const tags = field("Tags (comma-separated)", "tags", el("input", { type: "text", autocomplete: "off" }));
    tags.control.value = flag.tags.join(", ");
    const type = field("Type", "type", select(TYPES, flag.type));
    byId("flag-details-fields").replaceChildren(name.wrap, description.wrap, tags.wrap, type.wrap);
    state.editors.details = { name, description, tags, type };
    unsaved.saved(forms.details);
    lock(byId("flag-details", HTMLFormElement));
  }

  function lock(form, off = readOnly()) {
    for (const control of form.querySelectorAll("input, textarea, select")) control.disabled = off;
    for (const control of form.querySelectorAll("[data-edit], button[type=submit]")) control.hidden = off;
  }

  byId("flag-details", HTMLFormElement).addEventListener("submit", async (event) => {
    event.preventDefault();
    const { name, description, tags, type } = state.editors.details;
    const body = {
      name: name.control.value.trim(),
      description: description.control.value,
      tags: tags.control.value
        .split(",")
        .map((t) => t.trim())
        .filter(Boolean),
      type: type.control.value,
    };
    const data = await write(
      byId("flag-details", HTMLFormElement),
      byId("flag-details-error"),
      () => api.request("PUT", path(), { body, ifMatch: flagEtag(state.flag) }),
      body,
    );
    if (!data) return;
    state.flag = data;
    state.name = data.name;
    unsaved.saved(forms.details);
    window.history.replaceState(null, "", pageHref("flag", { name: data.name, env: state.env }));
    byId("flag-heading").textContent = data.name;
    drawOverview();
    status.textContent = "Details saved.";
    said(forms.details, "Saved.");
  });

  function drawVariants() {
    state.editors.variants = createVariantsEditor(state.flag, { readOnly: readOnly() });
    byId("flag-variants-fields").replaceChildren(state.editors.variants.node);
    unsaved.saved(forms.variants);
    lock(byId("flag-variants", HTMLFormElement));
  }

  byId("flag-variants", HTMLFormElement).addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = state.editors.variants.value();
    if (value.errors) {
      showErrors(byId("flag-variants", HTMLFormElement), value.errors);
      return;
    }
    const { renames, ...body } = value;
    body.targeting = followVariants(state.flag, body.variants, renames);
    const data = await write(
      byId("flag-variants", HTMLFormElement),
      byId("flag-variants-error"),
      () => api.request("PUT", path(), { body, ifMatch: flagEtag(state.flag) }),
      body,
    );
    if (!data) return;
    state.flag = data;
    status.textContent = "Variants saved.";
    drawOverview();
    drawVariants();
    drawEnvironment();
    said(forms.variants, "Saved.");
  });

  function drawSwitch() {
    const on = Boolean(state.flag.environments[state.env]);
    const label = environmentLabel(state.env);
    const toggle = el("button", {
      type: "button",
      role: "switch",
      className: "button",
      id: "flag-env-switch",
      "aria-checked": on ? "true" : "false",
      text: `${label}: ${on ? "on" : "off"}${session.needsApproval(state.env) ? " · changes need approval" : ""}`,
      disabled: environmentReadOnly() || Boolean(state.flag.archived_at),
    });
    toggle.addEventListener("click", async () => {
      if (session.needsApproval(state.env)) {
        const asked = await write(section, byId("flag-targeting-error"), () =>
          api.requestChange(state.flag, { environments: { [state.env]: !on } }, null, requestComment()),
        );
        if (asked) {
          byId("flag-request-comment", HTMLInputElement).value = "";
          status.textContent = `${REQUESTED}: switching ${label} ${on ? "off" : "on"}.`;
          pending.refresh(state.flag, state.env);
        }
        return;
      }
      const data = await write(section, byId("flag-targeting-error"), () =>
        api.request("POST", `${path()}/toggle`, { body: { environment: state.env }, ifMatch: flagEtag(state.flag) }),
      );
      if (!data) return;
      state.flag = data;
      drawSwitch();
      drawOverview();
      document.getElementById("flag-env-switch").focus();
    });
    byId("flag-switch").replaceChildren(toggle);
    byId("flag-request-note").hidden = !session.needsApproval(state.env) || environmentReadOnly();
    drawLocalEvaluation();
  }

  /** Say when Unleash's SDKs cannot evaluate the flag in process here (they are then not sent it), and why. */
  function drawLocalEvaluation() {
    const note = byId("flag-local-evaluation");
    const here = state.flag.local_evaluation?.[state.env];
    note.hidden = !here || here.available;
    if (note.hidden) return note.replaceChildren();
    note.replaceChildren(
      el(
        "p",
        {},
        el("strong", { text: "Not sent to in-process SDKs. " }),
        `Unleash's server SDKs cannot evaluate this flag in ${environmentLabel(state.env)} exactly as the service ` +
          `does (${here.reason}), so /api/client/features leaves it out and they fall back to their defaults. ` +
          "OFREP and /api/frontend answer it as usual.",
      ),
    );
  }

  function drawEnvironment() {
    if (!state.flag || !state.env) return;
    const env = state.env;
    const targeting = state.flag.targeting[env] || { rules: [], serve: "on" };
    const base = `targeting.${env}`;
    const readOnlyHere = environmentReadOnly();
    const options = { variants: state.flag.variants, segments: state.segments, readOnly: readOnlyHere };
    state.editors.prerequisites = createPrerequisitesEditor(base, targeting.prerequisites, {
      suggest: suggestFlags,
      readOnly: readOnlyHere,
    });
    state.editors.rules = createRulesEditor(base, targeting.rules, options);
    state.editors.serve = createServeEditor(`${base}.serve`, targeting.serve, state.flag.variants, {
      readOnly: readOnlyHere,
      label: "Default serve",
    });
    // Flag-wide (every environment's splits): the context field a user keeps their bucket by.
    const sticks = field("Splits stick by (every environment)", "stickiness", el("input", {
      type: "text",
      autocomplete: "off",
      spellcheck: "false",
      list: "flag-known-attributes",
    }));
    sticks.control.value = state.flag.stickiness;
    const explain = el("p", {
      className: "hint",
      text: "A percentage split gives each value of this field a stable bucket: the same user stays in the same group. A context without it gets the default answer where a split needs it.",
    });
    byId("flag-stickiness").replaceChildren(sticks.wrap, explain);
    offerKnownAttributes(env);
    state.editors.stickiness = sticks.control;
    byId("flag-prerequisites").replaceChildren(state.editors.prerequisites.node);
    byId("flag-rules").replaceChildren(state.editors.rules.node);
    byId("flag-default-serve").replaceChildren(state.editors.serve.node);
    unsaved.saved(forms.targeting);
    byId("flag-targeting-error").textContent = "";
    lock(byId("flag-targeting", HTMLFormElement), readOnlyHere);
    for (const part of /** @type {NodeListOf<HTMLElement>} */ (section.querySelectorAll("[data-admin]"))) {
      part.hidden = readOnlyHere;
    }
    const others = session.environments.filter((name) => name !== env);
    // Where to copy is a choice, not an edit of the flag: a redraw keeps it.
    const chosen = state.editors.copyTo?.value;
    const to = field(
      "Copy to",
      "to",
      select(
        others.map((name) => [name, environmentLabel(name)]),
        others.includes(chosen) ? chosen : others[0],
      ),
    );
    byId("flag-copy-fields").replaceChildren(
      el("p", {
        className: "hint",
        text: `Copies ${environmentLabel(env)}'s on/off state and targeting, replacing the other's.`,
      }),
      to.wrap,
    );
    state.editors.copyTo = to.control;
    drawBeside();
  }

  /** What the environment's panel shows beside its targeting: the switch, Try it, usage and schedules. */
  function drawBeside() {
    drawSwitch();
    tryIt.use(state.flag, state.env);
    drawReadings();
  }

  /** The environment's usage and schedules, read again. */
  function drawReadings() {
    usage.refresh(state.flag, state.env);
    history.show(state.flag, state.env);
    find(section, ".flag-jumps [data-approvals]", HTMLElement).hidden = !session.needsApproval(state.env);
    pending.refresh(state.flag, state.env);
    if (!readOnly()) schedules.refresh(state.flag, state.env);
  }

  // Names every context may carry, offered whatever applications have sent so far.
  const STANDARD_ATTRIBUTES = ["targetingKey", "userId", "sessionId", "currentTime"];

  /** Offer, in the attribute and stickiness fields, the names applications send in this environment. */
  async function offerKnownAttributes(environment) {
    let described = [];
    let seen = [];
    if (session.canEdit) {
      try {
        const query = new URLSearchParams({ environment });
        const { data } = await api.request("GET", `/context-fields?${query}`);
        described = data.fields;
        seen = data.seen.map((entry) => entry.name);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        // Suggestions only: without them every name can still be typed.
      }
    }
    if (environment !== state.env) return;
    // Described fields say what they mean; then what applications send, then the standard names.
    const meaning = new Map(described.map((field) => [field.name, field.description]));
    const names = [...new Set([...described.map((field) => field.name), ...seen, ...STANDARD_ATTRIBUTES])];
    byId("flag-known-attributes", HTMLDataListElement).replaceChildren(
      ...names.map((name) => el("option", { value: name, label: meaning.get(name) ? `${name}: ${meaning.get(name)}` : null })),
    );
  }

  /** The environment's targeting as its editors hold it now (saved or not). */
  function targetingSettings() {
    const settings = { rules: state.editors.rules.value(), serve: state.editors.serve.value() };
    const prerequisites = state.editors.prerequisites.value();
    if (prerequisites.length) settings.prerequisites = prerequisites;
    return settings;
  }

  byId("flag-targeting", HTMLFormElement).addEventListener("submit", async (event) => {
    event.preventDefault();
    const settings = targetingSettings();
    const body = { targeting: { [state.env]: settings } };
    const stickiness = state.editors.stickiness.value.trim();
    if (stickiness !== state.flag.stickiness) body.stickiness = stickiness;
    if (session.needsApproval(state.env)) {
      const asked = await write(byId("flag-targeting", HTMLFormElement), byId("flag-targeting-error"), () =>
        api.requestChange(state.flag, body, null, requestComment()),
      );
      if (asked) {
        unsaved.saved(forms.targeting);
        byId("flag-request-comment", HTMLInputElement).value = "";
        status.textContent = `${REQUESTED}: ${environmentLabel(state.env)}'s targeting.`;
        said(forms.targeting, "Change request sent.");
        pending.refresh(state.flag, state.env);
      }
      return;
    }
    const data = await write(byId("flag-targeting", HTMLFormElement), byId("flag-targeting-error"), () =>
      api.request("PUT", path(), { body, ifMatch: flagEtag(state.flag) }),
    );
    if (!data) return;
    state.flag = data;
    unsaved.saved(forms.targeting);
    drawOverview();
    status.textContent = `Targeting in ${environmentLabel(state.env)} saved.`;
    said(forms.targeting, `Saved. ${environmentLabel(state.env)} · ${servingText(data, state.env)}`);
  });

  byId("flag-copy", HTMLFormElement).addEventListener("submit", async (event) => {
    event.preventDefault();
    const to = state.editors.copyTo.value;
    const data = await write(byId("flag-copy", HTMLFormElement), byId("flag-copy-error"), () =>
      api.request("POST", `${path()}/copy`, { body: { from: state.env, to }, ifMatch: flagEtag(state.flag) }),
    );
    if (!data) return;
    state.flag = data;
    status.textContent = `Copied ${environmentLabel(state.env)} to ${environmentLabel(to)}.`;
  });

  // Keeping rebases the edit on the flag as it now is (the next save puts it over the other change); the forms
  // without an edit show the newer flag.
  byId("flag-conflict-keep", HTMLButtonElement).addEventListener("click", async () => {
    const edited = unsaved.first();
    if (!(await refreshVersion())) return;
    keepingFocus(section, drawAll);
    status.textContent = "Kept your edit over the newer flag: save again to apply it.";
    /** @type {HTMLButtonElement | null} */ (edited?.querySelector('button[type="submit"]'))?.focus();
  });
  byId("flag-conflict-reload", HTMLButtonElement).addEventListener("click", async () => {
    if (!(await refreshVersion())) return;
    unsaved.clear();
    drawAll();
    status.textContent = "Reloaded the flag as it now is.";
  });

  function poll() {
    // While a switch is scheduled, look again now and then, so the page shows it happen.
    clearTimeout(state.timer);
    state.timer = setTimeout(
      async () => {
        if (!section.hidden && state.flag && !state.gone && schedules.pending)
          await schedules.refresh(state.flag, state.env);
        if (!section.hidden) poll();
      },
      Math.min(pollMs, 1000),
    );
  }

  return {
    section,
    async show(params) {
      state.env = params.env;
      if (params.name !== state.name || !state.flag) {
        state.name = params.name;
        state.flag = null;
        if (!params.name) {
          status.textContent = "No flag named: open one from the flags table.";
          return;
        }
        await load(params.name);
      } else {
        tabs.select(tabs.pick(params.env));
      }
      poll();
    },
    hide() {
      clearTimeout(state.timer);
      state.name = null;
      state.flag = null;
      unsaved.clear();
    },
    refresh: () => changes.refresh(),
    beforeLeave: () => mayLeave(),
  };
}

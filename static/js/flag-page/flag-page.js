// A flag's own page (?page=flag&name=…&env=…): its details, lifecycle, and per environment its switch, targeting,
// usage, schedules, copying and Try it. Every write sends If-Match; a 412 keeps the person's edit and lets them
// choose between it and the flag as it now is. A change made elsewhere (the event stream calls refresh()) is drawn
// at once, except over an unsaved edit: then the person is offered the same choice, before they save.

import { ApiError, flagEtag } from "../api.js";
import { closeOnButtons, el, keepingFocus } from "../dom.js";
import { createEnvironmentTabs } from "../environment-tabs.js";
import { pageHref, pageLink } from "../router.js";
import { followChanges } from "./changes-elsewhere.js";
import { field, select, showErrors } from "./fields.js";
import { createPendingRequests } from "./pending-requests.js";
import { createPrerequisitesEditor } from "./prerequisites-editor.js";
import { createRulesEditor } from "./rules-editor.js";
import { createSchedules } from "./schedules.js";
import { createServeEditor } from "./serve-editor.js";
import { createTryIt } from "./try-it.js";
import { trackUnsavedEdits } from "./unsaved-edits.js";
import { createUsage } from "./usage.js";
import { createVariantsEditor } from "./variants-editor.js";

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
const $ = (id) => document.getElementById(id);
const ARCHIVED = "Archived: not served and not listed. Revive it to change it.";
const CHANGED = "Changed elsewhere; showing the latest.";

/** The flag screen for the router: {section, show(params), hide(), refresh()}. */
export function createFlagPage({ api, session, environments, environmentLabel, defaultEnvironment, go, pollMs }) {
  const section = $("flag-view");
  const status = $("flag-status");
  const conflict = $("flag-conflict");
  const state = {
    flag: null,
    name: null,
    env: null,
    segments: [],
    editors: {},
    timer: null,
    gone: false,
  };
  const forms = { details: $("flag-details"), variants: $("flag-variants"), targeting: $("flag-targeting") };
  const unsaved = trackUnsavedEdits([forms.details, forms.targeting, forms.variants]);
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
  $("flag-env-tabs").append(...tabButtons);
  const tabs = createEnvironmentTabs(tabButtons, $("flag-env-panel"), {
    defaultEnvironment,
    selected: (environment, push) => {
      if (push) window.history.pushState(null, "", pageHref("flag", { name: state.name, env: environment }));
      state.env = environment;
      drawEnvironment();
    },
  });
  const readOnly = () => !session.canEdit;
  // What belongs to one environment (its switch and targeting) follows the role there, which can differ.
  const environmentReadOnly = () => !session.canEditIn(state.env);
  const changes = followChanges({
    api,
    session,
    held: () => (state.flag && !state.gone && !$("flag-body").hidden ? state.flag : null),
    newer: (latest) => changedElsewhere(latest),
    unchanged: () => drawReadings(),
    gone: () => deletedElsewhere(),
  });
  const schedules = createSchedules($("flag-schedules"), {
    api,
    readOnly: false,
    changed: () => changes.refresh(),
    needsApproval: (environment) => session.needsApproval(environment),
    requested: () => pending.refresh(state.flag, state.env),
  });
  const usage = createUsage($("flag-usage"), { api });
  const pending = createPendingRequests($("flag-requests-card"), $("flag-requests"), { api, session, environmentLabel });
  const tryIt = createTryIt($("flag-try"), { api });
  const deleteDialog = $("flag-delete-dialog");
  closeOnButtons(deleteDialog);

  const path = () => `/flags/${encodeURIComponent(state.flag._id)}`;

  /** The note for the reviewer typed beside the switch; the request it went with empties it once sent. */
  const requestComment = () => $("flag-request-comment").value.trim();

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
          $("flag-request-comment").value = "";
          status.textContent = `${error.message.split(":")[0]}. ${REQUESTED}.`;
          pending.refresh(state.flag, state.env);
        }
        return null;
      }
      if (error.status === 412) {
        conflict.hidden = false;
        $("flag-conflict-keep").focus();
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
    $("flag-body").hidden = true;
    unsaved.clear();
    editable();
    try {
      state.flag = await fetchFlag(name);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (session.handleAuthFailure(error)) return;
      $("flag-heading").textContent = "Flag";
      status.textContent = error.status === 404 ? `No flag is named “${name}”.` : error.message;
      return;
    }
    const segments = await api.request("GET", "/segments").then(
      (r) => r.data,
      () => [],
    );
    state.segments = Array.isArray(segments) ? segments : segments.segments || [];
    status.textContent = "";
    $("flag-body").hidden = false;
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

  /** Draw the flag as the page holds it, leaving every form with an unsaved edit as the person left it. */
  function drawAll() {
    const flag = state.flag;
    conflict.hidden = true;
    $("flag-heading").textContent = flag.name;
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
    for (const control of section.querySelectorAll(
      "#flag-body :is(input, select, textarea, button), #flag-lifecycle button",
    )) {
      if (control.disabled) continue;
      control.disabled = true;
      control.dataset.gone = "";
    }
  }

  /** Turn back on what deletedElsewhere() turned off (another flag is opened). */
  function editable() {
    state.gone = false;
    for (const control of section.querySelectorAll("[data-gone]")) {
      control.disabled = false;
      delete control.dataset.gone;
    }
  }

  function drawLifecycle() {
    const box = $("flag-lifecycle");
    box.replaceChildren();
    if (state.flag.archived_at) status.textContent = ARCHIVED;
    if (readOnly()) return;
    const archive = el("button", {
      type: "button",
      className: "button",
      text: state.flag.archived_at ? "Revive" : "Archive",
    });
    archive.addEventListener("click", async () => {
      const verb = state.flag.archived_at ? "revive" : "archive";
      const data = await write(section, $("flag-details-error"), () =>
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
      $("flag-delete-error").textContent = "";
      deleteDialog.showModal();
    });
    box.append(archive, remove);
  }

  $("flag-delete-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await changes.writing(() => api.request("DELETE", path(), { ifMatch: flagEtag(state.flag) }));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      $("flag-delete-error").textContent = error.message;
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
    $("flag-details-fields").replaceChildren(name.wrap, description.wrap, tags.wrap, type.wrap);
    state.editors.details = { name, description, tags, type };
    unsaved.saved(forms.details);
    lock($("flag-details"));
  }

  function lock(form, off = readOnly()) {
    for (const control of form.querySelectorAll("input, textarea, select")) control.disabled = off;
    for (const control of form.querySelectorAll("[data-edit], button[type=submit]")) control.hidden = off;
  }

  $("flag-details").addEventListener("submit", async (event) => {
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
      $("flag-details"),
      $("flag-details-error"),
      () => api.request("PUT", path(), { body, ifMatch: flagEtag(state.flag) }),
      body,
    );
    if (!data) return;
    state.flag = data;
    state.name = data.name;
    unsaved.saved(forms.details);
    window.history.replaceState(null, "", pageHref("flag", { name: data.name, env: state.env }));
    $("flag-heading").textContent = data.name;
    status.textContent = "Details saved.";
  });

  function drawVariants() {
    state.editors.variants = createVariantsEditor(state.flag, { readOnly: readOnly() });
    $("flag-variants-fields").replaceChildren(state.editors.variants.node);
    unsaved.saved(forms.variants);
    lock($("flag-variants"));
  }

  $("flag-variants").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = state.editors.variants.value();
    if (value.errors) {
      showErrors($("flag-variants"), value.errors);
      return;
    }
    const { renames, ...body } = value;
    body.targeting = followVariants(state.flag, body.variants, renames);
    const data = await write(
      $("flag-variants"),
      $("flag-variants-error"),
      () => api.request("PUT", path(), { body, ifMatch: flagEtag(state.flag) }),
      body,
    );
    if (!data) return;
    state.flag = data;
    status.textContent = "Variants saved.";
    drawVariants();
    drawEnvironment();
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
        const asked = await write(section, $("flag-targeting-error"), () =>
          api.requestChange(state.flag, { environments: { [state.env]: !on } }, null, requestComment()),
        );
        if (asked) {
          $("flag-request-comment").value = "";
          status.textContent = `${REQUESTED}: switching ${label} ${on ? "off" : "on"}.`;
          pending.refresh(state.flag, state.env);
        }
        return;
      }
      const data = await write(section, $("flag-targeting-error"), () =>
        api.request("POST", `${path()}/toggle`, { body: { environment: state.env }, ifMatch: flagEtag(state.flag) }),
      );
      if (!data) return;
      state.flag = data;
      drawSwitch();
      $("flag-env-switch").focus();
    });
    $("flag-switch").replaceChildren(toggle);
    $("flag-request-note").hidden = !session.needsApproval(state.env) || environmentReadOnly();
    drawLocalEvaluation();
  }

  /** Say when Unleash's SDKs cannot evaluate the flag in process here (they are then not sent it), and why. */
  function drawLocalEvaluation() {
    const note = $("flag-local-evaluation");
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
    $("flag-prerequisites").replaceChildren(state.editors.prerequisites.node);
    $("flag-rules").replaceChildren(state.editors.rules.node);
    $("flag-default-serve").replaceChildren(state.editors.serve.node);
    unsaved.saved(forms.targeting);
    $("flag-targeting-error").textContent = "";
    lock($("flag-targeting"), readOnlyHere);
    for (const part of section.querySelectorAll("[data-admin]")) part.hidden = readOnlyHere;
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
    $("flag-copy-fields").replaceChildren(
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
    pending.refresh(state.flag, state.env);
    if (!readOnly()) schedules.refresh(state.flag, state.env);
  }

  $("flag-targeting").addEventListener("submit", async (event) => {
    event.preventDefault();
    const settings = { rules: state.editors.rules.value(), serve: state.editors.serve.value() };
    const prerequisites = state.editors.prerequisites.value();
    if (prerequisites.length) settings.prerequisites = prerequisites;
    if (session.needsApproval(state.env)) {
      const asked = await write($("flag-targeting"), $("flag-targeting-error"), () =>
        api.requestChange(state.flag, { targeting: { [state.env]: settings } }, null, requestComment()),
      );
      if (asked) {
        $("flag-request-comment").value = "";
        status.textContent = `${REQUESTED}: ${environmentLabel(state.env)}'s targeting.`;
        pending.refresh(state.flag, state.env);
      }
      return;
    }
    const data = await write($("flag-targeting"), $("flag-targeting-error"), () =>
      api.request("PUT", path(), { body: { targeting: { [state.env]: settings } }, ifMatch: flagEtag(state.flag) }),
    );
    if (!data) return;
    state.flag = data;
    unsaved.saved(forms.targeting);
    status.textContent = `Targeting in ${environmentLabel(state.env)} saved.`;
  });

  $("flag-copy").addEventListener("submit", async (event) => {
    event.preventDefault();
    const to = state.editors.copyTo.value;
    const data = await write($("flag-copy"), $("flag-copy-error"), () =>
      api.request("POST", `${path()}/copy`, { body: { from: state.env, to }, ifMatch: flagEtag(state.flag) }),
    );
    if (!data) return;
    state.flag = data;
    status.textContent = `Copied ${environmentLabel(state.env)} to ${environmentLabel(to)}.`;
  });

  // Keeping rebases the edit on the flag as it now is (the next save puts it over the other change); the forms
  // without an edit show the newer flag.
  $("flag-conflict-keep").addEventListener("click", async () => {
    const edited = unsaved.first();
    if (!(await refreshVersion())) return;
    keepingFocus(section, drawAll);
    status.textContent = "Kept your edit over the newer flag: save again to apply it.";
    edited?.querySelector('button[type="submit"]')?.focus();
  });
  $("flag-conflict-reload").addEventListener("click", async () => {
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
  };
}

// The "one user, every flag" screen (?page=evaluate&env=…&key=…): every live flag evaluated for one context in one
// environment through OFREP's bulk evaluation, as an application there is answered, each with its variant, its
// reason in words and the rule that matched (a link to that rule's environment on the flag's page).

import { ApiError } from "./api.js";
import { byId, el } from "./dom.js";
import { pageLink } from "./router.js";

/** @import { Api } from "./api.js" */
/** @import { Router, Screen } from "./router.js" */
/** @import { Session } from "./session.js" */

// Contexts asked for lately, kept in this browser only: the service never records who was evaluated.
const RECENT_KEY = "feature-flags.recent-contexts";
const RECENT_KEPT = 10;
const REASON_WORDS = {
  STATIC: "everyone gets it (no rules)",
  DEFAULT: "no rule matched: the default",
  TARGETING_MATCH: "a rule matched",
  SPLIT: "a percentage split",
  DISABLED: "off in this environment",
  PREREQUISITE_FAILED: "a prerequisite failed",
  ERROR: "could not be evaluated",
};

function readRecent() {
  try {
    const held = JSON.parse(window.localStorage.getItem(RECENT_KEY) || "[]");
    return Array.isArray(held) ? held.filter((item) => item && typeof item.key === "string") : [];
  } catch {
    return [];
  }
}

function remember(key, attributes) {
  if (!key) return;
  const recent = [{ key, attributes }, ...readRecent().filter((item) => item.key !== key)].slice(0, RECENT_KEPT);
  try {
    window.localStorage.setItem(RECENT_KEY, JSON.stringify(recent));
  } catch {
    // Storage may be full or refused (private windows): the list is a convenience.
  }
}

/**
 * The screen for the router.
 * @param {{api: Api, session: Session, environmentLabel: (name: string) => string, router: Router}} deps
 * @returns {Screen}
 */
export function createEvaluateScreen({ api, session, environmentLabel, router }) {
  const section = byId("evaluate-view");
  const form = byId("evaluate-form", HTMLFormElement);
  const view = {
    environment: byId("evaluate-environment", HTMLSelectElement),
    key: byId("evaluate-key", HTMLInputElement),
    recent: byId("evaluate-recent", HTMLDataListElement),
    attributes: byId("evaluate-attributes", HTMLTextAreaElement),
    attributesError: byId("evaluate-attributes-error"),
    error: byId("evaluate-error"),
    status: byId("evaluate-status"),
    table: byId("evaluate-results", HTMLTableElement),
    rows: byId("evaluate-rows", HTMLTableSectionElement),
  };

  function offerRecent() {
    view.recent.replaceChildren(...readRecent().map((item) => el("option", { value: item.key })));
  }

  // A recent key picked again brings its attributes back with it.
  view.key.addEventListener("change", () => {
    const found = readRecent().find((item) => item.key === view.key.value);
    if (found) view.attributes.value = JSON.stringify(found.attributes);
  });

  function why(answer, environment) {
    const rule = answer.metadata?.rule;
    if (rule !== undefined) {
      return pageLink("flag", { name: answer.key, env: environment }, `Rule ${rule + 1}`);
    }
    if (answer.metadata?.prerequisite) return `requires ${answer.metadata.prerequisite}`;
    return answer.errorDetails || "";
  }

  function row(answer, environment) {
    const reason = answer.errorCode ? "ERROR" : answer.reason;
    return el(
      "tr",
      { "data-flag": answer.key },
      el("th", { scope: "row" }, pageLink("flag", { name: answer.key, env: environment }, answer.key)),
      el("td", {}, el("code", { text: answer.errorCode ? "—" : JSON.stringify(answer.value) })),
      el("td", { text: answer.variant ?? "—" }),
      el("td", { text: `${REASON_WORDS[reason] || reason} (${answer.errorCode || reason})` }),
      el("td", {}, why(answer, environment)),
    );
  }

  async function evaluate(environment, key, attributes) {
    view.error.textContent = "";
    const context = { ...attributes };
    if (key) context.targetingKey = key;
    const query = new URLSearchParams({ environment });
    view.status.textContent = "Evaluating…";
    try {
      const { data } = await api.request("POST", `/ofrep/v1/evaluate/flags?${query}`, { body: { context } });
      const flags = [...data.flags].sort((a, b) => a.key.localeCompare(b.key));
      view.rows.replaceChildren(...flags.map((answer) => row(answer, environment)));
      view.table.hidden = false;
      const who = key ? `“${key}”` : "a context without a targetingKey";
      view.status.textContent = `${flags.length} ${flags.length === 1 ? "flag" : "flags"} for ${who} in ${environmentLabel(environment)}.`;
      remember(key, attributes);
      offerRecent();
    } catch (error) {
      if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
      view.table.hidden = true;
      view.status.textContent = "";
      view.error.textContent = error.body.errorDetails || error.message;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    let attributes;
    try {
      attributes = JSON.parse(view.attributes.value || "{}");
      if (!attributes || typeof attributes !== "object" || Array.isArray(attributes)) {
        throw new Error("write an object, like {\"plan\": \"pro\"}");
      }
    } catch (error) {
      view.attributesError.textContent = `This is not a JSON object: ${error.message}`;
      view.attributes.setAttribute("aria-invalid", "true");
      view.attributes.focus();
      return;
    }
    view.attributesError.textContent = "";
    view.attributes.removeAttribute("aria-invalid");
    // The address holds the environment and key, so an answer can be linked to and read again.
    router.go("evaluate", { env: view.environment.value, key: view.key.value.trim() }, { replace: true });
    evaluate(view.environment.value, view.key.value.trim(), attributes);
  });

  return {
    section,
    show(params) {
      const environments = session.environments;
      view.environment.replaceChildren(
        ...environments.map((name) => el("option", { value: name, text: environmentLabel(name) })),
      );
      view.environment.value = environments.includes(params.env) ? params.env : environments.at(-1);
      offerRecent();
      if (params.key !== undefined) {
        view.key.value = params.key;
        const found = readRecent().find((item) => item.key === params.key);
        if (found) view.attributes.value = JSON.stringify(found.attributes);
      }
    },
  };
}

// Try it: evaluate the flag for a context in the selected environment through OFREP, as an SDK would, and say
// which rule matched.

import { ApiError } from "../api.js";
import { el } from "../dom.js";
import { field, showErrors } from "./fields.js";

/** @import { Api } from "../api.js" */

/**
 * The Try it part; use(flag, environment) points it at a flag and environment.
 * @param {HTMLElement} root
 * @param {{api: Api}} deps
 */
export function createTryIt(root, { api }) {
  const form = el("form", { className: "edit-form", novalidate: true });
  const key = field("targetingKey", "context.targetingKey", el("input", { type: "text", autocomplete: "off" }));
  const attributes = field(
    "Other attributes (JSON object)",
    "context",
    el("textarea", { rows: "3", spellcheck: "false" }),
  );
  attributes.control.value = "{}";
  const result = el("dl", { className: "try-result", "aria-live": "polite" });
  const formError = el("p", { className: "form-error", role: "alert" });
  const submit = el("button", { type: "submit", className: "button primary", text: "Evaluate" });
  form.append(key.wrap, attributes.wrap, formError, el("div", { className: "form-actions" }, submit));
  root.replaceChildren(form, result);
  let current = { flag: null, environment: null };

  function show(data) {
    const rule = data.metadata?.rule;
    const rows = [
      ["Value", JSON.stringify(data.value)],
      ["Variant", data.variant ?? "—"],
      ["Reason", data.reason],
      ["Matched", rule === undefined ? "No rule: the default serve" : `Rule ${rule + 1}`],
    ];
    result.replaceChildren(...rows.flatMap(([term, text]) => [el("dt", { text: term }), el("dd", { text })]));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.textContent = "";
    let context;
    try {
      context = JSON.parse(attributes.control.value || "{}");
      if (!context || typeof context !== "object" || Array.isArray(context)) throw new Error("write a JSON object");
    } catch (error) {
      showErrors(form, { context: `This is not a JSON object: ${error.message}` });
      return;
    }
    showErrors(form, {});
    if (key.control.value) context.targetingKey = key.control.value;
    // An admin token names the environment in the query; a client token is bound to its own.
    const query = new URLSearchParams({ environment: current.environment });
    const where = `/ofrep/v1/evaluate/flags/${encodeURIComponent(current.flag.name)}?${query}`;
    try {
      const { data } = await api.request("POST", where, { body: { context } });
      show(data);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      result.replaceChildren();
      formError.textContent = error.body.errorDetails || error.message;
    }
  });

  return {
    use(flag, environment) {
      if (current.environment !== environment) result.replaceChildren();
      current = { flag, environment };
    },
  };
}

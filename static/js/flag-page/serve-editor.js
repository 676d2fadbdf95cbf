// A serve: one variant for everyone, or a percentage split edited together whose sum is shown as it changes.

import { el } from "../dom.js";
import { errorSlot, field, select } from "./fields.js";

/** @import { Serve } from "../targeting-text.js" */

/**
 * Edit the serve at this API path; returns {node, value()} where value() is the API's form: a variant name or
 * {"variant": percentage, ...}. A weighted split (Unleash's) is kept as it is, not edited here.
 * @param {string} path
 * @param {Serve | undefined} serve
 * @param {Record<string, unknown>} variants
 * @param {{readOnly?: boolean, label?: string}} [options]
 */
export function createServeEditor(path, serve, variants, { readOnly = false, label = "Serve" } = {}) {
  const names = Object.keys(variants);
  if (serve && typeof serve === "object" && serve.weights) {
    const text = `${label}: a weighted split (${Object.keys(serve.weights).join(", ")}), kept as it is.`;
    return { node: el("p", { className: "hint", text }), value: () => serve };
  }
  const isSplit = Boolean(serve) && typeof serve === "object";
  const kinds = [
    ["variant", "One variant"],
    ["split", "A percentage split"],
  ];
  const kind = field(`${label}: what`, `${path}.kind`, select(kinds, isSplit ? "split" : "variant"));
  kind.control.removeAttribute("data-path");
  kind.error.remove();
  const variant = field(`${label}: variant`, path, select(names, isSplit ? names[0] : /** @type {string} */ (serve)));
  const percentages = {};
  const total = el("output", { className: "count", "aria-live": "polite" });
  const splitBox = el("fieldset", { className: "split" }, el("legend", { text: `${label}: percentages` }));
  for (const name of names) {
    const input = el("input", { type: "number", min: "0", max: "100", step: "1", inputmode: "numeric" });
    input.value = String(isSplit ? (serve[name] ?? 0) : 0);
    percentages[name] = input;
    input.addEventListener("input", showTotal);
    splitBox.append(field(`${name} %`, `${path}.${name}`, input).wrap);
  }
  splitBox.append(total);
  // One error node for the serve, whichever kind is shown: the split's sum is reported at the serve's path.
  variant.error.remove();
  const serveError = errorSlot(path);
  variant.control.setAttribute("aria-describedby", serveError.id);
  const node = el("div", { className: "serve" }, kind.wrap, variant.wrap, splitBox, serveError);

  function sum() {
    return Object.values(percentages).reduce((acc, input) => acc + (Number(input.value) || 0), 0);
  }
  function showTotal() {
    const n = sum();
    total.textContent = n === 100 ? "Total: 100 %" : `Total: ${n} % (must be 100)`;
  }
  function showKind() {
    const split = kind.control.value === "split";
    variant.wrap.hidden = split;
    splitBox.hidden = !split;
    if (split) variant.control.removeAttribute("data-path");
    else variant.control.dataset.path = path;
  }
  kind.control.addEventListener("change", showKind);
  for (const control of node.querySelectorAll("input, select")) {
    /** @type {HTMLInputElement | HTMLSelectElement} */ (control).disabled = readOnly;
  }
  showKind();
  showTotal();

  return {
    node,
    value() {
      if (kind.control.value === "variant") return variant.control.value;
      const split = {};
      for (const [name, input] of Object.entries(percentages)) {
        const n = Number(input.value) || 0;
        if (n > 0) split[name] = n;
      }
      return Object.keys(split).length ? split : { [names[0]]: 0 };
    },
  };
}

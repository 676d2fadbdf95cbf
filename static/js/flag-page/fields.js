// Controls named by the API path of the value they edit, so an error the API reports for a path lands beside them.

import { placeErrors } from "../admin-forms.js";
import { el } from "../dom.js";

/**
 * The id a control for this API path carries ("targeting.production.rules.0" -> "fp-targeting-production-rules-0").
 * @param {string} path
 * @returns {string}
 */
export function pathId(path) {
  return `fp-${path.replace(/[^A-Za-z0-9_-]/g, "-")}`;
}

/**
 * A labelled control for one API path, with the node its error appears in: {wrap, control, error}.
 * @template {HTMLElement} C
 * @param {string} labelText
 * @param {string} path
 * @param {C} control
 * @returns {{wrap: HTMLDivElement, control: C, error: HTMLParagraphElement}}
 */
export function field(labelText, path, control) {
  const id = pathId(path);
  const error = el("p", { id: `${id}-error`, className: "field-error", "data-error-for": path });
  control.id = id;
  control.dataset.path = path;
  control.setAttribute("aria-describedby", error.id);
  const wrap = el("div", { className: "field" }, el("label", { for: id, text: labelText }), control, error);
  return { wrap, control, error };
}

/**
 * An error node for a path that has no control of its own (a list, say).
 * @param {string} path
 * @returns {HTMLParagraphElement}
 */
export function errorSlot(path) {
  return el("p", { id: `${pathId(path)}-error`, className: "field-error", "data-error-for": path });
}

/**
 * A <select> of these options ([value, text] pairs or plain values), with one selected.
 * @param {Array<string | string[]>} options
 * @param {string} [selected]
 * @returns {HTMLSelectElement}
 */
export function select(options, selected) {
  const node = el("select");
  for (const option of options) {
    const [value, text] = Array.isArray(option) ? option : [option, option];
    node.append(el("option", { value, text, selected: value === selected }));
  }
  return node;
}

/**
 * A small button that runs action on click; label, when given, is its accessible name.
 * @param {string} text
 * @param {(event: MouseEvent) => void} action
 * @param {{className?: string, label?: string}} [options]
 * @returns {HTMLButtonElement}
 */
export function button(text, action, { className = "button small", label } = {}) {
  const node = el("button", { type: "button", className, text, "aria-label": label });
  node.addEventListener("click", action);
  return node;
}

/**
 * Show the API's errors ({path: message}) beside the control each path names, or the nearest enclosing one;
 * return the messages that found no place, for a form-level message.
 * @param {ParentNode} root
 * @param {Record<string, string>} errors
 * @returns {string[]}
 */
export function showErrors(root, errors) {
  const { first, unplaced } = placeErrors(root, errors);
  first?.focus();
  return unplaced;
}

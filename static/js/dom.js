// Building the page from data without ever parsing data as markup: elements come from createElement,
// text from text nodes, attributes from setAttribute. Nothing here parses a string as HTML.

/**
 * Create an element: el("button", {type: "button", className: "x", text: "Go"}, child, "text").
 * Strings among the children become text nodes.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [props] className, text, or attributes
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") node.className = String(value);
    else if (key === "text") node.textContent = String(value);
    else if (key.toLowerCase().startsWith("on")) throw new Error(`el(): use addEventListener, not ${key}`);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== undefined && child !== null && child !== false) node.append(child);
  }
  return node;
}

/**
 * The page's element with this id, as the kind the caller works with: byId("token-name", HTMLInputElement).
 * A missing element or one of another kind throws at once, naming the id, rather than failing later as undefined.
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @param {new (...args: any[]) => T} [type] the element's class; any HTML element when left out
 * @returns {T}
 */
export function byId(id, type) {
  const node = document.getElementById(id);
  const kind = type || HTMLElement;
  if (!(node instanceof kind)) throw new Error(`#${id} is ${node ? `not a ${kind.name}` : "missing from the page"}.`);
  return /** @type {T} */ (node);
}

/**
 * The first element under root that matches selector, as the kind the caller works with; throws as byId does.
 * @template {HTMLElement} T
 * @param {ParentNode} root
 * @param {string} selector
 * @param {new (...args: any[]) => T} type
 * @returns {T}
 */
export function find(root, selector, type) {
  const node = root.querySelector(selector);
  if (!(node instanceof type)) throw new Error(`${selector} is ${node ? `not a ${type.name}` : "missing"}.`);
  return node;
}

/**
 * Remove every child of a node.
 * @param {Node & ParentNode} node
 */
export function clear(node) {
  node.replaceChildren();
}

// One way to show a moment everywhere, with its time zone: a team spread over zones reads "14:00" unambiguously.
const dateTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "numeric",
  minute: "2-digit",
  timeZoneName: "short",
});

/**
 * A moment (ISO 8601) as every screen shows it, or the text as given when it is not one.
 * @param {string} iso
 * @returns {string}
 */
export function formatMoment(iso) {
  const moment = new Date(iso);
  return Number.isNaN(moment.getTime()) ? String(iso) : dateTime.format(moment);
}

/**
 * Show an ISO 8601 moment in a <time> element: readable in the person's locale, the exact UTC moment as tooltip.
 * @template {HTMLElement} N
 * @param {N} node
 * @param {string} iso
 * @returns {N}
 */
export function setTime(node, iso) {
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) {
    node.removeAttribute("datetime");
    node.textContent = "an unknown time";
    return node;
  }
  node.setAttribute("datetime", iso);
  node.title = iso;
  node.textContent = dateTime.format(moment);
  return node;
}

/**
 * A new <time> element for an ISO 8601 moment.
 * @param {string} iso
 * @returns {HTMLTimeElement}
 */
export function timeElement(iso) {
  return setTime(document.createElement("time"), iso);
}

/**
 * Show a field's error message under it (or none), and mark the field invalid for screen readers while it has one.
 * @param {Element} input
 * @param {Node} errorNode
 * @param {string} [message]
 */
export function showFieldError(input, errorNode, message) {
  errorNode.textContent = message || "";
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

/**
 * Close a <dialog> from each of its [data-close] buttons.
 * @param {HTMLDialogElement} dialog
 */
export function closeOnButtons(dialog) {
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => dialog.close());
  }
}

const FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]";

/**
 * Run draw(), then put focus back where it was inside root: the control with the same id, else the same place.
 * @param {Node} root
 * @param {() => void} draw
 */
export function keepingFocus(root, draw) {
  const active = document.activeElement;
  const inside = active && active !== document.body && root.contains(active);
  const holder = inside ? active.parentElement?.closest("[id]") : null;
  const spot = inside && {
    id: active.id,
    holder: holder?.id,
    index: holder ? [...holder.querySelectorAll(FOCUSABLE)].indexOf(active) : -1,
  };
  draw();
  if (!spot || active.isConnected) return;
  const target =
    (spot.id && document.getElementById(spot.id)) ||
    (spot.holder && spot.index >= 0 && document.getElementById(spot.holder)?.querySelectorAll(FOCUSABLE)[spot.index]);
  if (target instanceof HTMLElement) target.focus({ preventScroll: true });
}

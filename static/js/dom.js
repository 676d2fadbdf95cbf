// Building the page from data without ever parsing data as markup: elements come from createElement,
// text from text nodes, attributes from setAttribute. Nothing here parses a string as HTML.

/**
 * Create an element: el("button", {type: "button", className: "x", text: "Go"}, child, "text").
 * Strings among the children become text nodes.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.toLowerCase().startsWith("on")) throw new Error(`el(): use addEventListener, not ${key}`);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== undefined && child !== null && child !== false) node.append(child);
  }
  return node;
}

/** Remove every child of a node. */
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

/** A moment (ISO 8601) as every screen shows it, or the text as given when it is not one. */
export function formatMoment(iso) {
  const moment = new Date(iso);
  return Number.isNaN(moment.getTime()) ? String(iso) : dateTime.format(moment);
}

/** Show an ISO 8601 moment in a <time> element: readable in the person's locale, the exact UTC moment as tooltip. */
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

/** A new <time> element for an ISO 8601 moment. */
export function timeElement(iso) {
  return setTime(document.createElement("time"), iso);
}

/** Show a field's error message under it (or none), and mark the field invalid for screen readers while it has one. */
export function showFieldError(input, errorNode, message) {
  errorNode.textContent = message || "";
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

/** Close a <dialog> from each of its [data-close] buttons. */
export function closeOnButtons(dialog) {
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => dialog.close());
  }
}

const FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]";

/** Run draw(), then put focus back where it was inside root: the control with the same id, else the same place. */
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
  target?.focus({ preventScroll: true });
}

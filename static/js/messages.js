// The messages above the list: one at a time; errors stay until dismissed, notices fade after a while.

import { clear, el } from "./dom.js";

const NOTICE_MS = 8000;

/**
 * Show messages in container; dismissed() runs after a person dismisses one (to put focus somewhere useful).
 * @param {HTMLElement} container
 * @param {{dismissed: () => void}} options
 */
export function createMessages(container, { dismissed }) {
  let timer = null;

  /** Show one message, replacing any other: kind "error" (the default) or "notice". */
  function show(text, kind = "error") {
    clearTimeout(timer);
    const dismiss = el("button", { type: "button", className: "button small", text: "Dismiss" });
    dismiss.addEventListener("click", () => {
      hide();
      dismissed();
    });
    container.replaceChildren(el("div", { className: `message ${kind}` }, el("p", { text }), dismiss));
    if (kind !== "error") timer = setTimeout(hide, NOTICE_MS);
  }

  function hide() {
    clearTimeout(timer);
    clear(container);
  }

  return { show, clear: hide };
}

/** @typedef {ReturnType<typeof createMessages>} Messages */

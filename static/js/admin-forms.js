// What the admin screens share: reading a list into place, sending a form with the API's refusals placed next to
// the field their path names, a confirmation <dialog>, and the page's vocabulary (actions, operators) read from the
// API's own description.

import { ApiError } from "./api.js";
import { el, find, showFieldError } from "./dom.js";

/** @import { Api } from "./api.js" */
/** @import { Session } from "./session.js" */

/**
 * Put each error ({path: message}) in the [data-error-for] slot of its path, or of the nearest enclosing path
 * ("conditions.0.values.1" lands on "conditions.0.values"), and mark the control the slot speaks for invalid: the
 * one its data-input names, else the [data-path] of that path. The errors shown before go first. Every screen
 * places the API's refusals this way, the admin screens' forms and the flag page's editors alike.
 * @param {ParentNode} root
 * @param {Record<string, string>} errors
 * @returns {{first: HTMLElement | null, unplaced: string[]}} the first control marked, and "path: message" for
 *   each error with no slot
 */
export function placeErrors(root, errors) {
  /** @type {NodeListOf<HTMLElement>} */
  const nodes = root.querySelectorAll("[data-error-for]");
  /** @type {Map<string, HTMLElement>} */
  const slots = new Map();
  for (const node of nodes) {
    node.textContent = "";
    if (!slots.has(node.dataset.errorFor)) slots.set(node.dataset.errorFor, node);
  }
  for (const node of root.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  const unplaced = [];
  let first = null;
  for (const [path, message] of Object.entries(errors)) {
    const parts = path.split(".");
    let slot = null;
    while (parts.length && !(slot = slots.get(parts.join(".")))) parts.pop();
    if (!slot) {
      unplaced.push(path === "(body)" ? message : `${path}: ${message}`);
      continue;
    }
    const control = /** @type {HTMLElement | null} */ (
      root.querySelector(
        slot.dataset.input ? `#${CSS.escape(slot.dataset.input)}` : `[data-path="${CSS.escape(parts.join("."))}"]`,
      )
    );
    const text = slot.textContent ? `${slot.textContent} ${message}` : message;
    if (control) showFieldError(control, slot, text);
    else slot.textContent = text;
    first ??= control;
  }
  return { first, unplaced };
}

/**
 * Show each error next to the field its path names (placeErrors); what has no field goes to the form's general
 * error.
 * @param {HTMLFormElement} form
 * @param {Record<string, string>} errors path to message
 * @param {string} [general] the form's own message, said before the errors that have no field
 * @returns {HTMLElement | null} the first control marked invalid
 */
export function showErrors(form, errors, general = "") {
  const { first, unplaced } = placeErrors(form, errors);
  const generalNode = form.querySelector("[data-form-error]");
  if (generalNode) generalNode.textContent = [general, ...unplaced].filter(Boolean).join(" ");
  return first;
}

/**
 * Show an API refusal on a form: field errors next to their fields, anything else as the form's error.
 * patterns: field to the words for its pattern, said instead of the schema's regular expression.
 * @param {HTMLFormElement} form
 * @param {ApiError} error
 * @param {Record<string, string>} [patterns]
 * @returns {HTMLElement | null} the first control marked invalid
 */
export function showRefusal(form, error, patterns = {}) {
  const fields = error instanceof ApiError ? error.fieldErrors() : {};
  for (const item of error.body?.details || []) {
    if (item?.type === "string_pattern_mismatch" && patterns[item.field]) fields[item.field] = patterns[item.field];
  }
  const general = Object.keys(fields).length ? "" : error.message;
  const first = showErrors(form, fields, general);
  (first || form.querySelector("[data-form-error]"))?.focus?.();
  return first;
}

/**
 * Read what a screen lists and draw it: status says `loading` meanwhile, then the words read() returns once it has
 * drawn the list; a refusal is said there instead, unless the session takes it (a token no longer accepted).
 * @param {{status: HTMLElement, session: Session, read: () => Promise<string>, loading?: string}} options
 */
export async function loadList({ status, session, read, loading = "" }) {
  if (loading) status.textContent = loading;
  try {
    status.textContent = await read();
  } catch (error) {
    if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
    status.textContent = error.message;
  }
}

/**
 * Send what a form holds: its errors cleared and its button off while send() runs. An API refusal is shown beside
 * the fields its paths name (patterns as for showRefusal), or given to refused(error) where the screen has words of
 * its own; one the session takes (a token no longer accepted) is left to it.
 * @param {{form: HTMLFormElement, session: Session, send: () => Promise<unknown>, button?: HTMLButtonElement,
 *   patterns?: Record<string, string>, refused?: (error: ApiError) => void}} options
 */
export async function sendForm({ form, session, send, button, patterns = {}, refused }) {
  const submit = button || find(form, '[type="submit"]', HTMLButtonElement);
  submit.disabled = true;
  showErrors(form, {});
  try {
    await send();
  } catch (error) {
    if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
    if (refused) refused(error);
    else showRefusal(form, error, patterns);
  } finally {
    submit.disabled = false;
  }
}

/**
 * A confirmation <dialog>: ask(title, text, action) opens it; action() runs on confirmation and may throw an
 * ApiError, whose message then stays in the dialog. Focus goes back to the opener when it closes.
 * @param {HTMLDialogElement} dialog
 * @param {Session} session
 * @returns {{ask: (heading: string, body: string, action: () => Promise<unknown>) => void}}
 */
export function createConfirmDialog(dialog, session) {
  const form = dialog.querySelector("form");
  const title = dialog.querySelector("[data-title]");
  const text = dialog.querySelector("[data-text]");
  const error = dialog.querySelector("[data-form-error]");
  const submit = find(form, '[type="submit"]', HTMLButtonElement);
  let pending = null;
  let opener = null;

  for (const button of dialog.querySelectorAll("[data-close]")) button.addEventListener("click", () => dialog.close());

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = "";
    try {
      await pending();
      dialog.close();
    } catch (failure) {
      if (!(failure instanceof ApiError) || session.handleAuthFailure(failure)) throw failure;
      error.textContent = failure.explained || failure.message;
    } finally {
      submit.disabled = false;
    }
  });
  dialog.addEventListener("close", () => {
    if (opener?.isConnected) opener.focus();
  });

  return {
    ask(heading, body, action) {
      opener = document.activeElement;
      title.textContent = heading;
      text.textContent = body;
      error.textContent = "";
      pending = action;
      dialog.showModal();
    },
  };
}

let vocabulary = null;

/**
 * The API's closed sets, from its OpenAPI document: audit actions, webhook event patterns, condition operators.
 * @param {Api} api
 * @returns {Promise<{actions: string[], eventPatterns: string[], operators: string[]}>}
 */
export function loadVocabulary(api) {
  vocabulary =
    vocabulary ||
    api.request("GET", "/openapi.json").then(({ data }) => {
      const schemas = data.components?.schemas || {};
      const enumOf = (schema) => schema?.enum || schema?.items?.enum || [];
      return {
        actions: enumOf(schemas.AuditEvent?.properties?.action),
        eventPatterns: enumOf(schemas.WebhookCreate?.properties?.events),
        operators: enumOf(schemas.Condition?.properties?.op),
      };
    });
  vocabulary.catch(() => {
    vocabulary = null;
  });
  return vocabulary;
}

/**
 * One labelled fact of a list item (<div><dt>label</dt><dd>value…</dd></div>), for a <dl class="facts">.
 * @param {string} label
 * @param {...(Node | string | null)} value
 * @returns {HTMLDivElement}
 */
export function fact(label, ...value) {
  return el("div", { className: "fact" }, el("dt", { text: label }), el("dd", {}, ...value));
}

// The webhooks screen (?page=webhooks): create one (address, events, format, secret), list them, send a test,
// read a webhook's delivery log (status, attempts, response code, duration), delete one.

import { ApiError } from "./api.js";
import { createConfirmDialog, fact, loadList, loadVocabulary, sendForm, showErrors } from "./admin-forms.js";
import { byId, clear, el, timeElement } from "./dom.js";

/** @import { Api } from "./api.js" */
/** @import { Screen } from "./router.js" */
/** @import { Session } from "./session.js" */

// How long the log follows a test delivery before leaving it to the Refresh button.
const FOLLOW_MS = 20000;
const FOLLOW_EVERY_MS = 700;
const SETTLED = new Set(["delivered", "failed"]);
// flags.* is the one area named in the plural: its one action is a whole import.
const AREA_WORDS = { flags: "import", context_field: "context field", change_request: "change request" };

function checkbox(value, text) {
  const id = `webhook-event-${value.replace(/[^a-z]/gi, "-")}`;
  return el("label", { for: id }, el("input", { type: "checkbox", id, value }), text);
}

function deliveryTable(deliveries) {
  const head = el(
    "tr",
    {},
    ...["Event", "Status", "Attempts", "Response", "Duration", "Last attempt"].map((text) =>
      el("th", { scope: "col", text }),
    ),
  );
  const rows = deliveries.map((delivery) =>
    el(
      "tr",
      {},
      el("td", { text: delivery.action === "ping" ? "ping (test)" : delivery.action }),
      el(
        "td",
        {},
        el("span", { className: `delivery-${delivery.status}`, text: delivery.status }),
        delivery.error ? el("span", { className: "hint", text: ` ${delivery.error}` }) : null,
      ),
      el("td", { text: String(delivery.attempts) }),
      el("td", { text: delivery.response_code === null ? "none" : String(delivery.response_code) }),
      el("td", { text: delivery.duration_ms === null ? "–" : `${delivery.duration_ms} ms` }),
      el("td", {}, delivery.last_attempt_at ? timeElement(delivery.last_attempt_at) : "not yet"),
    ),
  );
  return el("table", { className: "deliveries" }, el("thead", {}, head), el("tbody", {}, ...rows));
}

/**
 * The webhooks screen for the router.
 * @param {{api: Api, session: Session}} deps
 * @returns {Screen}
 */
export function createWebhooksScreen({ api, session }) {
  const section = byId("webhooks-view");
  const form = byId("webhook-form", HTMLFormElement);
  const view = {
    url: byId("webhook-url", HTMLInputElement),
    areas: byId("webhook-areas"),
    actions: byId("webhook-actions"),
    format: byId("webhook-format", HTMLSelectElement),
    secret: byId("webhook-secret", HTMLInputElement),
    status: byId("webhook-status"),
    list: byId("webhook-list"),
    title: byId("webhook-form-title"),
    submit: byId("webhook-submit", HTMLButtonElement),
    cancel: byId("webhook-cancel-edit", HTMLButtonElement),
    unsignField: byId("webhook-unsign-field"),
    unsign: byId("webhook-unsign", HTMLInputElement),
    secretHint: byId("webhook-secret-hint"),
  };
  const SECRET_HINT = view.secretHint.textContent;
  // The webhook the form edits, or null while it makes a new one.
  let editing = null;

  /** Turn the form to editing a webhook (its fields filled in), or back to making a new one (null). */
  async function editForm(webhook) {
    editing = webhook;
    form.reset();
    showErrors(form, {});
    view.title.textContent = webhook ? `Edit the webhook to ${webhook.url}` : "New webhook";
    view.submit.textContent = webhook ? "Save changes" : "Create webhook";
    view.cancel.hidden = !webhook;
    view.unsignField.hidden = !webhook?.has_secret;
    view.secretHint.textContent = webhook
      ? `${webhook.has_secret ? "Leave empty to keep the secret it has" : "Give one to start signing"}; 16 to 256 characters.`
      : SECRET_HINT;
    if (!webhook) return;
    view.url.value = webhook.url;
    view.format.value = webhook.format;
    // The events' boxes come from the API's vocabulary, which may still be on its way.
    await offering;
    if (editing !== webhook) return;
    /** @type {NodeListOf<HTMLInputElement>} */
    const boxes = form.querySelectorAll('input[type="checkbox"][value]');
    for (const box of boxes) {
      box.checked = webhook.events.includes(box.value);
    }
    // A single action chosen is shown: the list of them is folded away otherwise.
    if (webhook.events.some((pattern) => !pattern.endsWith("*"))) form.querySelector("details").open = true;
    view.url.focus();
  }

  view.cancel.addEventListener("click", () => {
    const was = editing;
    editForm(null);
    view.status.textContent = was ? `Kept the webhook to ${was.url} as it was.` : "";
  });
  const deleteDialog = createConfirmDialog(byId("webhook-delete-dialog", HTMLDialogElement), session);
  let followTimer = null;

  // The boxes are offered once; editing waits for them.
  let offering = null;

  function offerEvents() {
    offering ||= makeEventBoxes();
    return offering;
  }

  async function makeEventBoxes() {
    let patterns = [];
    try {
      patterns = (await loadVocabulary(api)).eventPatterns;
    } catch {
      patterns = ["*"];
    }
    for (const pattern of patterns) {
      if (pattern === "*") view.areas.prepend(checkbox(pattern, "Every change"));
      else if (pattern.endsWith(".*")) {
        const area = pattern.slice(0, -2);
        view.areas.append(checkbox(pattern, `${pattern}: every ${AREA_WORDS[area] || area} action`));
      } else view.actions.append(checkbox(pattern, pattern));
    }
  }

  async function showDeliveries(webhook, region, followId) {
    clearTimeout(followTimer);
    const started = Date.now();
    const refresh = async () => {
      try {
        const { data } = await api.request("GET", `/webhooks/${encodeURIComponent(webhook.id)}/deliveries`);
        const log = region.querySelector("[data-log]");
        log.replaceChildren(
          data.length ? deliveryTable(data) : el("p", { className: "hint", text: "Nothing sent yet." }),
        );
        const followed = data.find((delivery) => delivery.id === followId);
        if (followId && !(followed && SETTLED.has(followed.status)) && Date.now() - started < FOLLOW_MS) {
          followTimer = setTimeout(refresh, FOLLOW_EVERY_MS);
        }
      } catch (error) {
        if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
        region.querySelector("[data-log]").replaceChildren(el("p", { className: "form-error", text: error.message }));
      }
    };
    region.hidden = false;
    await refresh();
  }

  function item(webhook) {
    const name = webhook.url;
    const logId = `webhook-log-${webhook.id}`;
    const test = el("button", {
      type: "button",
      className: "button small",
      text: "Send test",
      "aria-label": `Send a test to ${name}`,
    });
    const open = el("button", {
      type: "button",
      className: "button small",
      text: "Delivery log",
      "aria-expanded": "false",
      "aria-controls": logId,
      "aria-label": `Delivery log of ${name}`,
    });
    const remove = el("button", {
      type: "button",
      className: "button small danger-text",
      text: "Delete",
      "aria-label": `Delete ${name}`,
    });
    const change = el("button", { type: "button", className: "button small", text: "Edit", "aria-label": `Edit ${name}` });
    change.addEventListener("click", () => editForm(webhook));
    const refresh = el("button", { type: "button", className: "button small", text: "Refresh" });
    const region = el(
      "div",
      { id: logId, className: "delivery-log", role: "region", "aria-label": `Deliveries to ${name}`, hidden: true },
      el("div", { className: "log-head" }, el("h4", { text: "Latest deliveries, newest first" }), refresh),
      el("div", { className: "table-wrap", "data-log": "", tabindex: "0", "aria-label": `Deliveries to ${name}` }),
    );
    test.addEventListener("click", async () => {
      try {
        const { data } = await api.request("POST", `/webhooks/${encodeURIComponent(webhook.id)}/test`);
        open.setAttribute("aria-expanded", "true");
        view.status.textContent = `Test sent to ${name}; its delivery appears in the log.`;
        await showDeliveries(webhook, region, data.id);
      } catch (error) {
        if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
        view.status.textContent = error.message;
      }
    });
    open.addEventListener("click", () => {
      const opening = region.hidden;
      open.setAttribute("aria-expanded", String(opening));
      if (opening) showDeliveries(webhook, region, null);
      else region.hidden = true;
    });
    refresh.addEventListener("click", () => showDeliveries(webhook, region, null));
    remove.addEventListener("click", () => {
      deleteDialog.ask(
        `Delete the webhook to ${name}?`,
        "Nothing more is sent to it, and its delivery log goes too.",
        async () => {
          await api.request("DELETE", `/webhooks/${encodeURIComponent(webhook.id)}`);
          await load();
          view.status.textContent = `Deleted the webhook to ${name}.`;
        },
      );
    });
    return el(
      "li",
      { className: "admin-item" },
      el(
        "div",
        { className: "admin-item-head" },
        el("h3", { className: "admin-item-name", text: name }),
        el("div", { className: "flag-actions" }, test, open, change, remove),
      ),
      el(
        "dl",
        { className: "facts" },
        fact("Events", webhook.events.join(", ")),
        fact("Format", webhook.format),
        fact("Signed", webhook.has_secret ? "yes" : "no"),
        fact("Created", timeElement(webhook.created_at), webhook.created_by ? ` by ${webhook.created_by}` : null),
      ),
      region,
    );
  }

  function load() {
    return loadList({
      status: view.status,
      session,
      loading: "Loading webhooks…",
      read: async () => {
        const { data } = await api.request("GET", "/webhooks");
        clear(view.list);
        for (const webhook of data) view.list.append(item(webhook));
        if (data.length === 0) return "No webhooks yet.";
        return `${data.length} ${data.length === 1 ? "webhook" : "webhooks"}.`;
      },
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    /** @type {NodeListOf<HTMLInputElement>} */
    const boxes = form.querySelectorAll('input[type="checkbox"][value]:checked');
    const events = [...boxes].map((box) => box.value);
    const body = { url: view.url.value.trim(), events, format: view.format.value };
    if (view.secret.value) body.secret = view.secret.value;
    else if (editing && view.unsign.checked) body.secret = null;
    await sendForm({
      form,
      session,
      patterns: { url: "Give an http or https address, like https://hooks.example.com/flags." },
      send: async () => {
        if (editing) {
          await api.request("PATCH", `/webhooks/${encodeURIComponent(editing.id)}`, { body });
          editForm(null);
          await load();
          view.status.textContent = `Saved the webhook to ${body.url}.`;
          return;
        }
        await api.request("POST", "/webhooks", { body });
        form.reset();
        await load();
        view.status.textContent = `Created the webhook to ${body.url}.`;
      },
    });
  });

  return {
    section,
    admin: true,
    show() {
      offerEvents();
      load();
    },
    hide() {
      clearTimeout(followTimer);
      editForm(null);
    },
  };
}

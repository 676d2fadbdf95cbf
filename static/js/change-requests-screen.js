// The change requests screen (?page=change-requests&state=…): changes to flags in environments that need approval,
// each shown as its history entry will read, with what the caller may do about it: approve or reject someone
// else's, withdraw their own, rebase one the flag moved past. The service decides; a refusal is shown as it comes.

import { ApiError } from "./api.js";
import { el } from "./dom.js";
import { eventItem } from "./history-event.js";
import { pageLink } from "./router.js";

const LIMIT = 100;
const STATE_WORDS = {
  open: "Waiting for approval",
  approved: "Approved; applies at its moment",
  applied: "Applied",
  rejected: "Rejected",
  cancelled: "Withdrawn",
  failed: "Failed",
};

/** The change requests screen for the router. */
export function createChangeRequestsScreen({ api, session, environmentLabel, router }) {
  const section = document.getElementById("change-requests-view");
  const view = {
    state: document.getElementById("change-requests-state"),
    status: document.getElementById("change-requests-status"),
    list: document.getElementById("change-requests-list"),
    environments: document.getElementById("change-requests-environments"),
  };
  const shown = { state: "open", done: "" };

  function asEvent(request) {
    // The request as the history shows its creation: the summary and the changes, by whom, when.
    const environment = request.environments.length === 1 ? request.environments[0] : null;
    return {
      action: "change_request.created",
      actor: request.requested_by,
      at: request.created_at,
      environment,
      after: { changes: request.changes, apply_at: request.apply_at },
    };
  }

  function facts(request) {
    const lines = [`${STATE_WORDS[request.state] || request.state}.`];
    lines.push(`Changes ${request.environments.map(environmentLabel).join(", ")}; made on version ${request.base_version}.`);
    if (request.comment) lines.push(`“${request.comment}”`);
    if (request.reviewed_by) {
      const verdict = request.state === "rejected" ? "Rejected" : "Approved";
      lines.push(`${verdict} by ${request.reviewed_by}${request.review_comment ? `: “${request.review_comment}”` : ""}.`);
    }
    if (request.reason) lines.push(`Why it failed: ${request.reason}.`);
    return lines.map((text) => el("p", { className: "hint", text }));
  }

  function button(text, label, action, { primary = false } = {}) {
    const node = el("button", {
      type: "button",
      className: primary ? "button small primary" : "button small",
      text,
      "aria-label": label,
    });
    node.addEventListener("click", action);
    return node;
  }

  function actions(request, errorNode) {
    const own = request.requested_by === session.name;
    const mayReview = request.environments.every((environment) => session.canEditIn(environment));
    const act = (path, done) => async () => {
      errorNode.textContent = "";
      try {
        await api.request("POST", `/change-requests/${encodeURIComponent(request._id)}/${path}`, { body: {} });
        shown.done = done;
        await load();
      } catch (error) {
        if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
        errorNode.textContent = error.message;
        errorNode.focus();
      }
    };
    const name = request.flag_name;
    const buttons = [];
    const waiting = request.state === "open" || request.state === "approved";
    if (request.state === "open" && !own && mayReview) {
      buttons.push(button("Approve", `Approve the change to ${name}`, act("approve", `Approved the change to ${name}.`), { primary: true }));
    }
    if (waiting && !own && mayReview) {
      buttons.push(button("Reject", `Reject the change to ${name}`, act("reject", `Rejected the change to ${name}.`)));
    }
    if (waiting && (own || session.role === "admin")) {
      buttons.push(button("Withdraw", `Withdraw the change to ${name}`, act("cancel", `Withdrew the change to ${name}.`)));
    }
    if ((request.state === "open" || request.state === "failed") && mayReview) {
      buttons.push(button("Rebase", `Rebase the change to ${name} on its current version`, act("rebase", `Rebased the change to ${name}.`)));
    }
    return buttons;
  }

  function item(request) {
    const errorNode = el("p", { className: "form-error", role: "alert", tabindex: "-1" });
    const subject = pageLink("flag", { name: request.flag_name }, request.flag_name);
    const entry = eventItem(asEvent(request), environmentLabel, { subject });
    entry.dataset.changeRequest = request._id;
    entry.dataset.state = request.state;
    entry.append(...facts(request), el("div", { className: "form-actions" }, ...actions(request, errorNode)), errorNode);
    return entry;
  }

  /** Read the list again (what the person just did stays said, in place of the count, until they move on). */
  async function load() {
    const query = new URLSearchParams({ limit: String(LIMIT) });
    if (shown.state) query.set("state", shown.state);
    try {
      const { data } = await api.request("GET", `/change-requests?${query}`);
      const requests = data.change_requests;
      view.list.replaceChildren(...requests.map(item));
      const empty = shown.state === "open" ? "No change waits for approval." : "None.";
      view.status.textContent = shown.done || (requests.length ? `${requests.length} shown.` : empty);
    } catch (error) {
      if (!(error instanceof ApiError) || session.handleAuthFailure(error)) return;
      view.status.textContent = error.message;
    }
  }

  view.state.addEventListener("change", () => {
    router.go("change-requests", { state: view.state.value || "all" });
  });

  return {
    section,
    approvals: true,
    show(params) {
      shown.state = params.state === "all" ? "" : params.state || "open";
      shown.done = "";
      view.state.value = shown.state;
      view.environments.textContent = [...session.approvals].map(environmentLabel).join(", ");
      return load();
    },
    refresh: () => load(),
  };
}

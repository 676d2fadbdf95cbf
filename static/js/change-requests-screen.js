// The change requests screen (?page=change-requests&state=…): changes to flags in environments that need approval,
// each shown as its history entry will read, with what the caller may do about it: approve or reject someone
// else's, withdraw their own, rebase one the flag moved past. The service decides; a refusal is shown as it comes.

import { loadList } from "./admin-forms.js";
import { ApiError } from "./api.js";
import { byId, el } from "./dom.js";
import { changeRequestEvent, eventItem } from "./history-event.js";
import { pageLink } from "./router.js";

/** @import { Api } from "./api.js" */
/** @import { Router, Screen } from "./router.js" */
/** @import { Session } from "./session.js" */

const LIMIT = 100;
const STATE_WORDS = {
  open: "Waiting for approval",
  approved: "Approved; applies at its moment",
  applied: "Applied",
  rejected: "Rejected",
  cancelled: "Withdrawn",
  failed: "Failed",
};

/**
 * The change requests screen for the router.
 * @param {{api: Api, session: Session, environmentLabel: (name: string) => string, router: Router}} deps
 * @returns {Screen}
 */
export function createChangeRequestsScreen({ api, session, environmentLabel, router }) {
  const section = byId("change-requests-view");
  const view = {
    state: byId("change-requests-state", HTMLSelectElement),
    status: byId("change-requests-status"),
    list: byId("change-requests-list"),
    environments: byId("change-requests-environments"),
  };
  const shown = { state: "open", done: "" };

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

  function button(text, label, path, action, { primary = false } = {}) {
    const node = el("button", {
      type: "button",
      className: primary ? "button small primary" : "button small",
      text,
      "aria-label": label,
      "data-path": path,
    });
    node.addEventListener("click", action);
    return node;
  }

  function actions(request, errorNode, commentField) {
    const own = request.requested_by === session.name;
    const mayReview = request.environments.every((environment) => session.canEditIn(environment));
    const act = (path, done) => async () => {
      errorNode.textContent = "";
      // A rebase carries no comment; approving, rejecting and withdrawing say why, if the person wrote it.
      const comment = path === "rebase" ? "" : commentField?.value.trim() || "";
      try {
        await api.request("POST", `/change-requests/${encodeURIComponent(request._id)}/${path}`, {
          body: comment ? { comment } : {},
        });
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
      buttons.push(button("Approve", `Approve the change to ${name}`, "approve", act("approve", `Approved the change to ${name}.`), { primary: true }));
    }
    if (waiting && !own && mayReview) {
      buttons.push(button("Reject", `Reject the change to ${name}`, "reject", act("reject", `Rejected the change to ${name}.`)));
    }
    if (waiting && (own || session.role === "admin")) {
      buttons.push(button("Withdraw", `Withdraw the change to ${name}`, "cancel", act("cancel", `Withdrew the change to ${name}.`)));
    }
    if ((request.state === "open" || request.state === "failed") && mayReview) {
      buttons.push(button("Rebase", `Rebase the change to ${name} on its current version`, "rebase", act("rebase", `Rebased the change to ${name}.`)));
    }
    return buttons;
  }

  function commentInput(request) {
    const id = `change-request-comment-${request._id}`;
    const field = el("input", { id, type: "text", maxlength: "500", className: "change-request-comment", autocomplete: "off" });
    return { field, node: el("p", { className: "field" }, el("label", { for: id, text: "Comment (optional)" }), field) };
  }

  function item(request) {
    const errorNode = el("p", { className: "form-error", role: "alert", tabindex: "-1" });
    const subject = pageLink("flag", { name: request.flag_name }, request.flag_name);
    const entry = eventItem(changeRequestEvent(request), environmentLabel, { subject });
    entry.dataset.changeRequest = request._id;
    entry.dataset.state = request.state;
    const comment = commentInput(request);
    const buttons = actions(request, errorNode, comment.field);
    const asks = buttons.some((node) => node.dataset.path !== "rebase");
    entry.append(...facts(request), asks ? comment.node : null, el("div", { className: "form-actions" }, ...buttons), errorNode);
    return entry;
  }

  /** Read the list again (what the person just did stays said, in place of the count, until they move on). */
  function load() {
    const query = new URLSearchParams({ limit: String(LIMIT) });
    if (shown.state) query.set("state", shown.state);
    return loadList({
      status: view.status,
      session,
      read: async () => {
        const { data } = await api.request("GET", `/change-requests?${query}`);
        const requests = data.change_requests;
        view.list.replaceChildren(...requests.map(item));
        const empty = shown.state === "open" ? "No change waits for approval." : "None.";
        return shown.done || (requests.length ? `${requests.length} shown.` : empty);
      },
    });
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

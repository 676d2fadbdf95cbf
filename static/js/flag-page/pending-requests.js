// The change requests still to come in one environment of the flag (open, or approved for a later moment), read as
// their history entries will, so whoever asked sees them beside what is served. Only where changes need approval.

import { ApiError } from "../api.js";
import { el, timeElement } from "../dom.js";
import { changeRequestEvent, eventItem } from "../history-event.js";
import { pageLink } from "../router.js";

/** @import { Api } from "../api.js" */
/** @import { Session } from "../session.js" */

/**
 * The part of the page listing open requests; refresh(flag, environment) draws it, hidden where none can be.
 * @param {HTMLElement} card shown only where requests can be
 * @param {HTMLElement} root
 * @param {{api: Api, session: Session, environmentLabel: (name: string) => string}} deps
 */
export function createPendingRequests(card, root, { api, session, environmentLabel }) {
  async function refresh(flag, environment) {
    card.hidden = !(session.needsApproval(environment) && session.readsEverything);
    if (card.hidden) return;
    let found;
    try {
      // Open ones wait for a review, approved ones for their moment: both are still to come.
      found = await Promise.all(
        ["open", "approved"].map((state) => {
          const query = new URLSearchParams({ flag: flag._id, state, limit: "100" });
          return api.request("GET", `/change-requests?${query}`);
        }),
      );
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      root.replaceChildren(el("p", { className: "note", text: error.message }));
      return;
    }
    const waiting = found
      .flatMap(({ data }) => data.change_requests)
      .filter((request) => request.environments.includes(environment));
    if (!waiting.length) {
      root.replaceChildren(el("p", { className: "hint", text: "No change request waits here." }));
      return;
    }
    const list = el("ol", { className: "history", "aria-label": "Change requests to come" });
    for (const request of waiting) {
      const entry = eventItem(changeRequestEvent(request), environmentLabel);
      if (request.comment) entry.append(el("p", { className: "hint", text: `“${request.comment}”` }));
      const state = el("p", { className: "hint" });
      // An approved request still to come waits for its moment; one approved for now is applied at once.
      if (request.state === "approved") {
        state.append(`Approved by ${request.reviewed_by}; applies at `, timeElement(request.apply_at), ".");
      } else state.append("Waiting for someone else's approval.");
      entry.append(state);
      list.append(entry);
    }
    root.replaceChildren(
      list,
      el("p", { className: "hint" }, pageLink("change-requests", {}, "Review them on the Change requests screen")),
    );
  }
  return { refresh };
}

// The change requests that wait for approval in one environment of the flag, read as their history entries will,
// so whoever asked for a change sees it waiting beside what is served. Shown only where changes need approval.

import { ApiError } from "../api.js";
import { el } from "../dom.js";
import { eventItem } from "../history-event.js";
import { pageLink } from "../router.js";

/** The part of the page listing open requests; refresh(flag, environment) draws it, hidden where none can be. */
export function createPendingRequests(card, root, { api, session, environmentLabel }) {
  async function refresh(flag, environment) {
    card.hidden = !(session.needsApproval(environment) && session.readsEverything);
    if (card.hidden) return;
    let data;
    try {
      const query = new URLSearchParams({ flag: flag._id, state: "open", limit: "100" });
      ({ data } = await api.request("GET", `/change-requests?${query}`));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      root.replaceChildren(el("p", { className: "note", text: error.message }));
      return;
    }
    const waiting = data.change_requests.filter((request) => request.environments.includes(environment));
    if (!waiting.length) {
      root.replaceChildren(el("p", { className: "hint", text: "No change here waits for approval." }));
      return;
    }
    const list = el("ol", { className: "history", "aria-label": "Waiting for approval" });
    for (const request of waiting) {
      list.append(
        eventItem(
          {
            action: "change_request.created",
            actor: request.requested_by,
            at: request.created_at,
            environment: request.environments.length === 1 ? request.environments[0] : null,
            after: { changes: request.changes, apply_at: request.apply_at },
          },
          environmentLabel,
        ),
      );
    }
    root.replaceChildren(
      list,
      el("p", { className: "hint" }, pageLink("change-requests", {}, "Review them on the Change requests screen")),
    );
  }
  return { refresh };
}

// How often one environment evaluated the flag in the last 24 hours, by variant: bars for the eye, a table for
// everyone (the bars are hidden from screen readers), when it last asked, and which in-process applications did.

import { ApiError } from "../api.js";
import { el, timeElement } from "../dom.js";

/** The usage part of the page; refresh(flag, environment) draws it. */
export function createUsage(root, { api }) {
  async function refresh(flag, environment) {
    let data;
    try {
      ({ data } = await api.request("GET", `/flags/${encodeURIComponent(flag._id)}/usage`));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      root.replaceChildren(el("p", { className: "note", text: error.message }));
      return;
    }
    const usage = data.environments[environment] || { last_24_hours: {}, last_evaluated_at: null, applications: [] };
    const counts = Object.entries(usage.last_24_hours).sort((a, b) => b[1] - a[1]);
    const most = Math.max(1, ...counts.map(([, n]) => n));
    const last = el("p", { className: "hint" });
    if (usage.last_evaluated_at) last.append("Last evaluated ", timeElement(usage.last_evaluated_at), ".");
    else last.append("Never evaluated in this environment.");
    const reporting = applications(usage.applications || []);
    if (!counts.length) {
      const none = el("p", { className: "hint", text: "No evaluations in the last 24 hours." });
      root.replaceChildren(last, none, ...reporting);
      return;
    }
    const bars = el("div", { className: "usage-bars", "aria-hidden": "true" });
    for (const [variant, n] of counts) {
      const bar = el("span", { className: "usage-bar" });
      // Script-set styles are allowed by the page's CSP, unlike style="" attributes.
      bar.style.setProperty("--share", `${(100 * n) / most}%`);
      bars.append(el("div", { className: "usage-row" }, el("span", { className: "usage-label", text: variant }), bar));
    }
    const table = el(
      "table",
      { className: "usage-table" },
      el("caption", { text: "Evaluations in the last 24 hours, by variant" }),
      el(
        "thead",
        {},
        el("tr", {}, el("th", { scope: "col", text: "Variant" }), el("th", { scope: "col", text: "Evaluations" })),
      ),
      el(
        "tbody",
        {},
        ...counts.map(([variant, n]) =>
          el("tr", {}, el("th", { scope: "row", text: variant }), el("td", { text: n.toLocaleString() })),
        ),
      ),
    );
    root.replaceChildren(last, bars, table, ...reporting);
  }
  return { refresh };
}

/** Which applications evaluating in process (Unleash SDKs) reported the flag here: nothing if none did. */
function applications(reporting) {
  if (!reporting.length) return [];
  return [
    el("h3", { text: "Applications evaluating it in process" }),
    el(
      "ul",
      { className: "plain-list" },
      ...reporting.map((application) =>
        el("li", {}, el("strong", { text: application.name }), " · last reported ", timeElement(application.last_seen_at)),
      ),
    ),
  ];
}

// How often one environment evaluated the flag in the last 24 hours, by variant: bars for the eye, a table for
// everyone (the bars are hidden from screen readers), when it last asked, and which in-process applications did.

import { ApiError } from "../api.js";
import { el, formatMoment, timeElement } from "../dom.js";

/** @import { Api } from "../api.js" */

// Colours a chart's variants take in turn (app.css, both themes).
const VARIANT_COLOURS = 6;

/** The last 24 hours hour by hour, each hour's evaluations stacked by variant; and the same as a table. */
function hourly(hours, variants) {
  const total = (hour) => Object.values(hour.variants).reduce((sum, n) => sum + n, 0);
  const peak = Math.max(1, ...hours.map(total));
  const chart = el("div", { className: "usage-hours", "aria-hidden": "true" });
  for (const hour of hours) {
    const column = el("div", {
      className: "usage-hour",
      title: `${formatMoment(hour.hour)}: ${total(hour).toLocaleString()} evaluations`,
    });
    variants.forEach((variant, index) => {
      const n = hour.variants[variant] || 0;
      if (!n) return;
      const segment = el("span", { className: `usage-segment usage-variant-${index % VARIANT_COLOURS}` });
      segment.style.setProperty("--share", `${(100 * n) / peak}%`);
      column.append(segment);
    });
    chart.append(column);
  }
  const legend = el(
    "ul",
    { className: "usage-legend", "aria-hidden": "true" },
    ...variants.map((variant, index) =>
      el("li", {}, el("span", { className: `usage-swatch usage-variant-${index % VARIANT_COLOURS}` }), variant),
    ),
  );
  const table = el(
    "table",
    { className: "usage-table usage-hours-table" },
    el("caption", { text: "Evaluations hour by hour, by variant" }),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { scope: "col", text: "Hour" }),
        ...variants.map((variant) => el("th", { scope: "col", text: variant })),
      ),
    ),
    el(
      "tbody",
      {},
      ...hours
        .filter((hour) => total(hour) > 0)
        .map((hour) =>
          el(
            "tr",
            { "data-hour": hour.hour },
            el("th", { scope: "row" }, timeElement(hour.hour)),
            ...variants.map((variant) => el("td", { text: (hour.variants[variant] || 0).toLocaleString() })),
          ),
        ),
    ),
  );
  return [
    el("h3", { text: "Hour by hour" }),
    chart,
    legend,
    el("details", { className: "hint-box" }, el("summary", { text: "The hours as a table" }), table),
  ];
}

/**
 * The usage part of the page; refresh(flag, environment) draws it.
 * @param {HTMLElement} root
 * @param {{api: Api}} deps
 */
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
    const variants = counts.map(([variant]) => variant);
    root.replaceChildren(last, bars, table, ...hourly(usage.hours || [], variants), ...reporting);
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

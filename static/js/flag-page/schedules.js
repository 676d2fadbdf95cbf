// A flag's scheduled switches in one environment: make one, see each one's state in words, cancel a pending one.

import { ApiError } from "../api.js";
import { el, timeElement } from "../dom.js";
import { button, field, select, showErrors } from "./fields.js";

function described(schedule) {
  const what =
    schedule.enabled === true ? "Switch on" : schedule.enabled === false ? "Switch off" : "Replace targeting";
  const line = el("span", {}, `${what} at `, timeElement(schedule.at), " — ");
  if (schedule.state === "pending") line.append("pending.");
  else if (schedule.state === "cancelled")
    line.append(`cancelled${schedule.cancelled_by ? ` by ${schedule.cancelled_by}` : ""}.`);
  else if (schedule.state === "failed") line.append(`failed: ${schedule.reason || "the change could not be made"}.`);
  else if (schedule.late) {
    line.append(
      "applied late, at ",
      timeElement(schedule.applied_at),
      " (no instance of the service was running at the moment it was due).",
    );
  } else line.append("applied.");
  return line;
}

/**
 * The schedules part of the page; refresh(flag, environment) draws it for one flag and environment.
 * changed(): a schedule came due while shown (the flag changed); needsApproval(environment): whether a change there
 * goes through a change request, which then carries the moment;
 * requested(): one was sent; targetingNow(): the Targeting editor's targeting (saved or not), or null.
 * @param {HTMLElement} root
 * @param {{api: import("../api.js").Api, readOnly: boolean, changed: () => void,
 *   needsApproval?: (environment: string) => boolean, requested?: () => void,
 *   targetingNow?: () => Record<string, any> | null}} options
 */
export function createSchedules(
  root,
  { api, readOnly, changed, needsApproval = () => false, requested = () => {}, targetingNow = () => null },
) {
  const form = el("form", { className: "edit-form", novalidate: true });
  const when = field("When", "at", el("input", { type: "datetime-local", step: "1" }));
  const action = field(
    "Change",
    "enabled",
    select(
      [
        ["true", "Switch on"],
        ["false", "Switch off"],
        ["targeting", "Replace targeting with the Targeting editor's"],
      ],
      "true",
    ),
  );
  const explain = el("p", {
    className: "hint",
    text: "Replacing targeting applies the rules, default serve and prerequisites the Targeting editor above holds now (saved or not) at that moment, and leaves today's as they are until then.",
  });
  const formError = el("p", { className: "form-error", role: "alert" });
  form.append(
    when.wrap,
    action.wrap,
    explain,
    formError,
    el(
      "div",
      { className: "form-actions" },
      el("button", { type: "submit", className: "button primary", text: "Schedule" }),
    ),
  );
  const list = el("ul", { className: "schedules", "aria-label": "Scheduled changes" });
  const status = el("p", { className: "count", role: "status" });
  root.replaceChildren(...(readOnly ? [] : [form]), status, list);
  let current = { flag: null, environment: null, pending: false };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.textContent = "";
    const moment = new Date(when.control.value);
    if (!when.control.value || Number.isNaN(moment.getTime())) {
      showErrors(form, { at: "Choose a date and time." });
      return;
    }
    const targeting = action.control.value === "targeting" ? targetingNow() : null;
    const change = targeting ? { targeting } : { enabled: action.control.value === "true" };
    try {
      if (needsApproval(current.environment)) {
        // A schedule would skip the approval: a change request carries the moment instead.
        const asked = targeting
          ? { targeting: { [current.environment]: targeting } }
          : { environments: { [current.environment]: change.enabled } };
        await api.requestChange(current.flag, asked, moment.toISOString());
        showErrors(form, {});
        status.textContent = "Change request sent; it applies at that moment once someone else approves it.";
        requested();
        return;
      }
      await api.request("POST", `/flags/${encodeURIComponent(current.flag._id)}/schedules`, {
        body: { at: moment.toISOString(), environment: current.environment, ...change },
      });
      showErrors(form, {});
      await refresh(current.flag, current.environment);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const unplaced = showErrors(form, error.fieldErrors());
      // A refused targeting names the editor's fields (targeting.rules.0...): said here, as they are not in this form.
      if (unplaced.length || !Object.keys(error.fieldErrors()).length) {
        formError.textContent = [error.message, ...unplaced].join(" ");
      }
    }
  });

  async function refresh(flag, environment) {
    current = { ...current, flag, environment };
    let data;
    try {
      ({ data } = await api.request("GET", `/flags/${encodeURIComponent(flag._id)}/schedules`));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      status.textContent = error.status === 403 ? "Schedules are shown to admins." : error.message;
      return;
    }
    const items = (Array.isArray(data) ? data : data.schedules || []).filter((s) => s.environment === environment);
    const wasPending = current.pending;
    current.pending = items.some((s) => s.state === "pending");
    status.textContent = items.length ? "" : "Nothing is scheduled here.";
    list.replaceChildren(
      ...items.map((schedule) => {
        const item = el("li", { "data-state": schedule.state }, described(schedule));
        if (schedule.state === "pending" && !readOnly) {
          item.append(
            " ",
            button(
              "Cancel",
              async () => {
                await api.request(
                  "DELETE",
                  `/flags/${encodeURIComponent(flag._id)}/schedules/${encodeURIComponent(schedule._id)}`,
                );
                await refresh(current.flag, current.environment);
                status.textContent = "Cancelled.";
              },
              { label: `Cancel the change at ${schedule.at}` },
            ),
          );
        }
        return item;
      }),
    );
    if (wasPending && !current.pending) changed();
  }

  return {
    refresh,
    get pending() {
      return current.pending;
    },
  };
}

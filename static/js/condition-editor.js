// Editing a list of conditions (attribute, operator, values) with the keyboard: one row a condition, each field
// labelled with its row's number and with a place for the API's error about it (conditions.N.attribute, …).

import { el } from "./dom.js";
import { OPERATOR_LABELS, parseValues } from "./operators.js";

/**
 * The editor over an <ol>: set(conditions), read() and an add() for the "Add condition" button.
 * @param {HTMLElement} list the <ol> the conditions are drawn in
 * @param {string} idPrefix
 */
export function createConditionEditor(list, idPrefix) {
  let operators = Object.keys(OPERATOR_LABELS);
  let made = 0;

  function renumber() {
    [...list.children].forEach((row, index) => {
      const number = index + 1;
      for (const node of /** @type {NodeListOf<HTMLElement>} */ (row.querySelectorAll("[data-error-for]"))) {
        node.dataset.errorFor = node.dataset.errorFor.replace(/^conditions\.\d+/, `conditions.${index}`);
      }
      for (const label of /** @type {NodeListOf<HTMLLabelElement>} */ (row.querySelectorAll("label[data-part]"))) {
        label.textContent = `${label.dataset.part} ${number}`;
      }
      row.querySelector("[data-remove]").setAttribute("aria-label", `Remove condition ${number}`);
    });
  }

  function field(id, part, control, errorPath) {
    const error = el("p", {
      id: `${id}-error`,
      className: "field-error",
      "data-error-for": errorPath,
      "data-input": id,
    });
    control.id = id;
    control.setAttribute("aria-describedby", `${id}-error`);
    return el("div", { className: "field" }, el("label", { for: id, "data-part": part }), control, error);
  }

  function row(condition = { attribute: "", op: "in", values: [] }) {
    const key = `${idPrefix}-${++made}`;
    const attribute = el("input", { type: "text", autocomplete: "off", spellcheck: "false" });
    attribute.value = condition.attribute || "";
    const op = el("select", {});
    for (const name of operators) op.append(el("option", { value: name, text: OPERATOR_LABELS[name] || name }));
    op.value = condition.op || "in";
    const values = el("input", { type: "text", autocomplete: "off", spellcheck: "false" });
    values.value = (condition.values || []).join(", ");
    const remove = el("button", {
      type: "button",
      className: "button small danger-text",
      text: "Remove",
      "data-remove": "",
    });
    const item = el(
      "li",
      { className: "condition" },
      field(`${key}-attribute`, "Attribute", attribute, "conditions.0.attribute"),
      field(`${key}-op`, "Operator", op, "conditions.0.op"),
      field(`${key}-values`, "Values", values, "conditions.0.values"),
      el("p", { className: "field-error", "data-error-for": "conditions.0" }),
      el("div", { className: "condition-actions" }, remove),
    );
    remove.addEventListener("click", () => {
      const next = item.nextElementSibling || item.previousElementSibling;
      item.remove();
      renumber();
      (next?.querySelector("input") || list.closest("fieldset").querySelector("button:not([data-remove])"))?.focus();
    });
    return item;
  }

  return {
    /** Offer these operators (the API's list) in every row made from now on. */
    offer(names) {
      if (names?.length) operators = names;
    },
    set(conditions) {
      list.replaceChildren(...conditions.map(row));
      renumber();
    },
    add() {
      const item = row();
      list.append(item);
      renumber();
      item.querySelector("input").focus();
    },
    read() {
      return [...list.children].map((item) => {
        /** @type {NodeListOf<HTMLInputElement | HTMLSelectElement>} */
        const controls = item.querySelectorAll("input, select");
        const [attribute, op, values] = controls;
        return { attribute: attribute.value.trim(), op: op.value, values: parseValues(values.value, op.value) };
      });
    },
  };
}

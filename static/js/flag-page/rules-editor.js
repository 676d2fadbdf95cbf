// An environment's ordered rules: each rule's conditions and segments, and what it serves. Rules are kept as data
// and drawn again after each change of shape (add, remove, move), focus returning to the control that was used.

import { el } from "../dom.js";
import { OPERATOR_LABELS, parseValues } from "../operators.js";
import { button, errorSlot, field, select } from "./fields.js";
import { createServeEditor } from "./serve-editor.js";

/**
 * Edit the rules at `${base}.rules`; returns {node, value()} with value() the API's list of rules.
 * @param {string} base
 * @param {Array<Record<string, any>> | undefined} rules
 * @param {{variants: Record<string, unknown>, segments: Array<{name: string}>, readOnly: boolean}} options
 */
export function createRulesEditor(base, rules, { variants, segments, readOnly }) {
  const model = structuredClone(rules || []);
  const node = el("div", { className: "rules" });
  let serves = [];

  function collect() {
    // What the person chose in each serve goes back into the model before a redraw.
    model.forEach((rule, index) => {
      rule.serve = serves[index].value();
    });
  }

  function change(mutate, focusSelector) {
    collect();
    mutate();
    draw();
    (node.querySelector(focusSelector) || node.querySelector("[data-add-rule]"))?.focus();
  }

  function whenItem(rule, r, item, i) {
    const path = `${base}.rules.${r}.when.${i}`;
    const remove = readOnly
      ? null
      : button("Remove", () => change(() => rule.when.splice(i, 1), `[data-add-condition="${r}"]`), {
          label: `Remove condition ${i + 1} of rule ${r + 1}`,
        });
    if ("segment" in item) {
      const names = segments.map((segment) => segment.name);
      if (item.segment && !names.includes(item.segment)) names.unshift(item.segment);
      const picker = field("Segment", `${path}.segment`, select(names, item.segment));
      item.segment ||= picker.control.value;
      picker.control.addEventListener("change", () => (item.segment = picker.control.value));
      picker.control.disabled = readOnly;
      return el("li", { className: "condition" }, picker.wrap, remove);
    }
    // Offered: the attribute names applications send here (the page fills #flag-known-attributes); any name may be typed.
    const attribute = field(
      "Attribute",
      `${path}.attribute`,
      el("input", { type: "text", autocomplete: "off", list: "flag-known-attributes" }),
    );
    attribute.control.value = item.attribute || "";
    attribute.control.addEventListener("input", () => (item.attribute = attribute.control.value.trim()));
    const op = field("Operator", `${path}.op`, select(Object.entries(OPERATOR_LABELS), item.op || "in"));
    const values = field(
      "Values (comma-separated)",
      `${path}.values`,
      el("input", { type: "text", autocomplete: "off" }),
    );
    values.control.value = (item.values || []).join(", ");
    values.control.addEventListener("input", () => (item.values = parseValues(values.control.value, item.op)));
    op.control.addEventListener("change", () => {
      item.op = op.control.value;
      item.values = parseValues(values.control.value, item.op);
    });
    for (const control of [attribute.control, op.control, values.control]) control.disabled = readOnly;
    return el("li", { className: "condition" }, attribute.wrap, op.wrap, values.wrap, remove);
  }

  function moveButton(r, to, word) {
    const target = r + to;
    const moved = button(
      `Move ${word}`,
      () =>
        change(() => model.splice(target, 0, ...model.splice(r, 1)), `[data-rule="${target}"] [data-move="${word}"]`),
      { label: `Move rule ${r + 1} ${word}` },
    );
    moved.dataset.move = word;
    moved.disabled = target < 0 || target >= model.length;
    return moved;
  }

  function ruleNode(rule, r) {
    const path = `${base}.rules.${r}`;
    const list = el("ul", { className: "conditions", "aria-label": `Conditions of rule ${r + 1}` });
    rule.when.forEach((item, i) => list.append(whenItem(rule, r, item, i)));
    const serve = createServeEditor(`${path}.serve`, rule.serve, variants, { readOnly, label: `Rule ${r + 1} serves` });
    serves.push(serve);
    const box = el(
      "fieldset",
      { className: "rule", "data-rule": String(r) },
      el("legend", { text: `Rule ${r + 1}` }),
      el("p", { className: "hint", text: "Matches when every condition holds." }),
      list,
      errorSlot(`${path}.when`),
    );
    if (!readOnly) {
      const addCondition = button("Add condition", () =>
        change(
          () => rule.when.push({ attribute: "", op: "in", values: [] }),
          `[data-rule="${r}"] .condition:last-child input`,
        ),
      );
      addCondition.dataset.addCondition = String(r);
      const addSegment = button("Add segment", () =>
        change(
          () => rule.when.push({ segment: segments[0]?.name || "" }),
          `[data-rule="${r}"] .condition:last-child select`,
        ),
      );
      addSegment.disabled = !segments.length;
      box.append(el("div", { className: "form-actions" }, addCondition, addSegment));
    }
    box.append(serve.node, errorSlot(path));
    if (!readOnly) {
      const remove = button("Remove rule", () => change(() => model.splice(r, 1), "[data-add-rule]"), {
        className: "button small danger",
        label: `Remove rule ${r + 1}`,
      });
      box.append(el("div", { className: "form-actions" }, moveButton(r, -1, "up"), moveButton(r, 1, "down"), remove));
    }
    return box;
  }

  function draw() {
    serves = [];
    node.replaceChildren();
    model.forEach((rule, r) => node.append(ruleNode(rule, r)));
    if (!model.length) node.append(el("p", { className: "hint", text: "No rules: everyone gets the default serve." }));
    node.append(errorSlot(`${base}.rules`));
    if (!readOnly) {
      const add = button("Add rule", () =>
        change(
          () => model.push({ when: [{ attribute: "", op: "in", values: [] }], serve: Object.keys(variants)[0] }),
          `[data-rule="${model.length}"] input`,
        ),
      );
      add.dataset.addRule = "";
      node.append(add);
    }
  }

  draw();
  return {
    node,
    value() {
      collect();
      // A condition row left blank (the one a new rule starts with) is no condition: a rule may hold segments only.
      const blank = (item) => "attribute" in item && !item.attribute && !(item.values || []).length;
      return structuredClone(model).map((rule) => ({ ...rule, when: rule.when.filter((item) => !blank(item)) }));
    },
  };
}

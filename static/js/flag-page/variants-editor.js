// A flag's variants: one type for all, names and values (object values as JSON, checked before saving), and the
// variant served while the flag is off.

import { el } from "../dom.js";
import { button, errorSlot, field, select } from "./fields.js";

/** @import { Flag } from "../api.js" */

const TYPES = [
  ["boolean", "Boolean"],
  ["string", "String"],
  ["number", "Number"],
  ["object", "Object (JSON)"],
];

function typeOf(value) {
  if (typeof value === "boolean" || typeof value === "string" || typeof value === "number") return typeof value;
  return "object";
}

function shown(value, type) {
  return type === "object" ? JSON.stringify(value, null, 2) : String(value);
}

/**
 * Edit variants and off_variant; returns {node, value()} where value() is {variants, off_variant, renames} (old name
 * to new) or {errors}.
 * @param {Flag} flag
 * @param {{readOnly: boolean}} options
 */
export function createVariantsEditor(flag, { readOnly }) {
  const entries = Object.entries(flag.variants);
  const rows = entries.map(([name, value]) => ({ name, was: name, text: shown(value, typeOf(value)) }));
  const type = field("Type", "variants.type", select(TYPES, typeOf(entries[0]?.[1])));
  type.control.removeAttribute("data-path");
  type.error.remove();
  const list = el("ul", { className: "conditions", "aria-label": "Variants" });
  const off = field(
    "Served while off",
    "off_variant",
    select(
      entries.map(([name]) => name),
      flag.off_variant,
    ),
  );
  const node = el("div", { className: "variants" }, type.wrap, list, errorSlot("variants"));

  function draw(focusLast = false) {
    list.replaceChildren();
    rows.forEach((row, i) => {
      const name = field("Name", `variants.${i}.name`, el("input", { type: "text", autocomplete: "off" }));
      name.control.value = row.name;
      name.control.addEventListener("input", () => {
        row.name = name.control.value.trim();
        offOptions();
      });
      const input =
        type.control.value === "object"
          ? el("textarea", { rows: "3", spellcheck: "false" })
          : el("input", { type: "text" });
      const value = field("Value", `variants.${row.name}`, input);
      input.value = row.text;
      input.addEventListener("input", () => (row.text = input.value));
      name.control.addEventListener("change", () => {
        // Its errors are reported by name: the value's path follows the name.
        input.dataset.path = `variants.${row.name}`;
        value.error.dataset.errorFor = `variants.${row.name}`;
      });
      const remove = readOnly
        ? null
        : button(
            "Remove",
            () => {
              rows.splice(i, 1);
              draw();
              offOptions();
              /** @type {HTMLElement | null} */ (node.querySelector("[data-add-variant]"))?.focus();
            },
            { label: `Remove variant ${i + 1}` },
          );
      list.append(el("li", { className: "condition" }, name.wrap, value.wrap, remove));
    });
    for (const control of node.querySelectorAll("input, textarea, select")) {
      /** @type {HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement} */ (control).disabled = readOnly;
    }
    if (focusLast) /** @type {HTMLInputElement | null} */ (list.querySelector(".condition:last-child input"))?.focus();
  }

  function offOptions() {
    // The off variant follows a rename; a removed one falls back to the first variant.
    const renamed = rows.find((row) => row.was === off.control.dataset.was);
    const chosen = renamed ? renamed.name : off.control.value;
    off.control.replaceChildren(
      ...rows.filter((row) => row.name).map((row) => el("option", { value: row.name, text: row.name })),
    );
    if (rows.some((row) => row.name === chosen)) off.control.value = chosen;
    off.control.dataset.was = rows.find((row) => row.name === off.control.value)?.was ?? "";
  }
  off.control.dataset.was = flag.off_variant;
  off.control.addEventListener("change", () => {
    off.control.dataset.was = rows.find((row) => row.name === off.control.value)?.was ?? "";
  });

  type.control.addEventListener("change", () => draw());
  if (!readOnly) {
    const add = button("Add variant", () => {
      rows.push({ name: "", was: null, text: "" });
      draw(true);
    });
    add.dataset.addVariant = "";
    node.append(add);
  }
  node.append(off.wrap);
  draw();

  return {
    node,
    value() {
      const variants = {};
      const errors = {};
      const kind = type.control.value;
      for (const row of rows) {
        const path = `variants.${row.name}`;
        if (kind === "object") {
          try {
            variants[row.name] = JSON.parse(row.text);
            if (!variants[row.name] || typeof variants[row.name] !== "object" || Array.isArray(variants[row.name])) {
              errors[path] = 'Write a JSON object, like {"color": "blue"}.';
            }
          } catch (error) {
            errors[path] = `This is not valid JSON: ${error.message}`;
          }
        } else if (kind === "number") {
          const n = Number(row.text);
          if (row.text.trim() === "" || !Number.isFinite(n)) errors[path] = "Write a number.";
          variants[row.name] = n;
        } else if (kind === "boolean") {
          if (!["true", "false"].includes(row.text.trim())) errors[path] = "Write true or false.";
          variants[row.name] = row.text.trim() === "true";
        } else {
          variants[row.name] = row.text;
        }
      }
      if (Object.keys(errors).length) return { errors };
      const renames = Object.fromEntries(rows.filter((row) => row.was).map((row) => [row.was, row.name]));
      return { variants, off_variant: off.control.value, renames };
    },
  };
}

// An environment's prerequisites: other flags that must serve one of the listed variants for this one to be served.

import { el } from "../dom.js";
import { button, errorSlot, field } from "./fields.js";
import { parseValues } from "../operators.js";

// Names offered while typing a required flag: the API's first matches, never every flag (there may be 10,000).
const SUGGESTIONS = 20;

/**
 * Edit the prerequisites at `${base}.prerequisites`; returns {node, value()} in the API's form.
 * suggest(text) resolves to flag names containing text, offered as the person types.
 * @param {string} base
 * @param {Array<{flag: string, variants: Array<string | number>}> | undefined} prerequisites
 * @param {{suggest: (text: string, limit: number) => Promise<string[]>, readOnly: boolean}} options
 */
export function createPrerequisitesEditor(base, prerequisites, { suggest, readOnly }) {
  const model = structuredClone(prerequisites || []);
  const node = el("div", { className: "prerequisites" });
  const listId = `${base.replace(/\W/g, "-")}-flag-names`;
  const names = el("datalist", { id: listId });
  let asked = 0;

  async function offer(text) {
    const ticket = ++asked;
    const found = await suggest(text, SUGGESTIONS).catch(() => []);
    // An answer to an older keystroke does not replace a newer one's.
    if (ticket === asked) names.replaceChildren(...found.map((name) => el("option", { value: name })));
  }

  function draw(focusLast = false) {
    node.replaceChildren(names);
    const list = el("ul", { className: "conditions", "aria-label": "Prerequisites" });
    model.forEach((item, i) => {
      const path = `${base}.prerequisites.${i}`;
      const flag = field(
        "Required flag",
        `${path}.flag`,
        el("input", { type: "text", list: listId, autocomplete: "off" }),
      );
      flag.control.value = item.flag;
      flag.control.addEventListener("input", () => {
        item.flag = flag.control.value.trim();
        offer(item.flag);
      });
      flag.control.addEventListener("focus", () => offer(flag.control.value.trim()), { once: true });
      const variants = field("Serving one of (comma-separated)", `${path}.variants`, el("input", { type: "text" }));
      variants.control.value = item.variants.join(", ");
      variants.control.addEventListener("input", () => (item.variants = parseValues(variants.control.value, "in")));
      for (const control of [flag.control, variants.control]) control.disabled = readOnly;
      const remove = readOnly
        ? null
        : button(
            "Remove",
            () => {
              model.splice(i, 1);
              draw();
              /** @type {HTMLElement | null} */ (node.querySelector("[data-add-prerequisite]"))?.focus();
            },
            { label: `Remove prerequisite ${i + 1}` },
          );
      list.append(el("li", { className: "condition" }, flag.wrap, variants.wrap, remove));
    });
    if (!model.length) node.append(el("p", { className: "hint", text: "None: this flag depends on no other." }));
    node.append(list, errorSlot(`${base}.prerequisites`));
    if (!readOnly) {
      const add = button("Add prerequisite", () => {
        model.push({ flag: "", variants: ["on"] });
        draw(true);
      });
      add.dataset.addPrerequisite = "";
      node.append(add);
    }
    if (focusLast) /** @type {HTMLInputElement | null} */ (node.querySelector(".condition:last-child input"))?.focus();
  }

  draw();
  return { node, value: () => structuredClone(model) };
}

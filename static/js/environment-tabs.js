// The environment tabs: which ones a token may see, which one is selected, and the keys of the tabs pattern.

/**
 * Drive the tabs (role="tab", one per environment) of tabpanel; selected(environment, push) runs on each selection,
 * push saying whether it deserves a new history entry. mayChange(), when given, is asked (and may resolve false)
 * before the person's click or key moves to another tab.
 * @param {HTMLButtonElement[]} tabs
 * @param {HTMLElement} tabpanel
 * @param {{defaultEnvironment: string, selected: (environment: string, push: boolean) => void,
 *   mayChange?: () => boolean | Promise<boolean>}} options
 */
export function createEnvironmentTabs(tabs, tabpanel, { defaultEnvironment, selected, mayChange }) {
  let allowed = [];

  /** An environment's name as its tab shows it: "production" -> "Production". */
  function label(name) {
    const tab = tabs.find((t) => t.dataset.environment === name);
    return tab ? tab.textContent.trim() : name;
  }

  /** Show only these environments' tabs. */
  function offer(environments) {
    allowed = environments;
    for (const tab of tabs) tab.hidden = !environments.includes(tab.dataset.environment);
  }

  /** The environment to show for a wish (from the address, say): it if offered, else the default, else the first. */
  function pick(wanted) {
    if (wanted && allowed.includes(wanted)) return wanted;
    return allowed.includes(defaultEnvironment) ? defaultEnvironment : allowed[0];
  }

  function select(environment, { push = false, focus = false } = {}) {
    for (const tab of tabs) {
      const isSelected = tab.dataset.environment === environment;
      tab.setAttribute("aria-selected", isSelected ? "true" : "false");
      tab.tabIndex = isSelected ? 0 : -1;
      if (isSelected) {
        tabpanel.setAttribute("aria-labelledby", tab.id);
        if (focus) tab.focus();
      }
    }
    selected(environment, push);
  }

  /** A selection the person made: asked first when they leave another environment's tab. */
  async function choose(environment, options) {
    const current = tabs.find((t) => t.getAttribute("aria-selected") === "true")?.dataset.environment;
    if (mayChange && environment !== current && !(await mayChange())) return;
    select(environment, options);
  }

  for (const tab of tabs) {
    tab.addEventListener("click", () => choose(tab.dataset.environment, { push: true }));
    tab.addEventListener("keydown", (event) => {
      // The tabs pattern: arrows move between tabs (and select), Home and End jump to the ends.
      const shownTabs = tabs.filter((t) => !t.hidden);
      const index = shownTabs.indexOf(tab);
      let target = null;
      if (event.key === "ArrowRight") target = shownTabs[(index + 1) % shownTabs.length];
      else if (event.key === "ArrowLeft") target = shownTabs[(index - 1 + shownTabs.length) % shownTabs.length];
      else if (event.key === "Home") target = shownTabs[0];
      else if (event.key === "End") target = shownTabs[shownTabs.length - 1];
      if (!target) return;
      event.preventDefault();
      choose(target.dataset.environment, { push: true, focus: true });
    });
  }

  return { label, offer, pick, select };
}

// Every visible control and its accessible name, computed the simple way (aria-label, aria-labelledby, <label>, text):
// the start of the markup of each control whose name is empty.
() => {
  const controls = document.querySelectorAll("button, input, textarea, select, a[href], [role=switch], [role=tab]");
  const nameOf = (node) => {
    if (node.getAttribute("aria-label")) return node.getAttribute("aria-label");
    const ids = node.getAttribute("aria-labelledby");
    if (ids) return ids.split(" ").map((id) => document.getElementById(id)?.textContent || "").join(" ");
    if (node.labels && node.labels.length) return node.labels[0].textContent;
    return node.textContent;
  };
  return [...controls]
    .filter((node) => node.checkVisibility() && !nameOf(node).trim())
    .map((node) => node.outerHTML.slice(0, 80));
}

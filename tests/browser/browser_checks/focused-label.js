// The accessible name of the focused element, computed the simple way (aria-label, <label>, text).
() => {
  const node = document.activeElement;
  if (!node) return "";
  if (node.getAttribute("aria-label")) return node.getAttribute("aria-label");
  if (node.labels && node.labels.length) return node.labels[0].textContent.trim();
  return node.textContent.trim();
}

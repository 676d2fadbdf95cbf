// What the page's address holds: the environment shown (?env=) and the search (?q=), so a link opens the same view.

/** The environment the address asks for, or null. */
export function environmentFromUrl() {
  return new URLSearchParams(window.location.search).get("env");
}

/** The search the address carries, or "". */
export function searchFromUrl() {
  return new URLSearchParams(window.location.search).get("q") || "";
}

/** Put this environment and search into the address: a new history entry when push, else in place. */
export function writeUrl(environment, search, push) {
  const params = new URLSearchParams(window.location.search);
  params.set("env", environment);
  const query = search.trim();
  if (query) params.set("q", query);
  else params.delete("q");
  const url = `${window.location.pathname}?${params}${window.location.hash}`;
  if (url === `${window.location.pathname}${window.location.search}${window.location.hash}`) return;
  if (push) window.history.pushState(null, "", url);
  else window.history.replaceState(null, "", url);
}

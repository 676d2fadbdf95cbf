// Every live flag of one environment, held in the page after the first table is on screen, so that a keystroke's
// first page is found here within the frame instead of after a round trip. The API stays the authority: the table
// still asks it for every view, and its answer (the same objects when nothing changed) confirms or corrects what the
// index showed. The index answers only what it knows it answers alike; anything else (archived flags, a value the
// API would refuse, a page after the first, a search the two could match differently) is left to the API.

// The API's bound on q (ListQuery.q): a longer search is the API's to refuse, not the index's to answer.
const MAX_QUERY = 200;
const SORTS = new Set(["name", "-name", "updated_at", "-updated_at", "created_at", "-created_at"]);
const STATES = new Set(["on", "off"]);
const STALE = new Set(["true", "false"]);
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
// The characters whose case folding (Python's str.casefold, which the API searches with) holds ASCII letters, where
// JavaScript's toLowerCase differs ("ß" folds to "ss"): for an ASCII search, every other text matches alike.
const FOLDS_TO_ASCII = /[\u00df\u0130\u0149\u017f\u01f0\u1e96-\u1e9a\u1e9e\u212a\ufb00-\ufb06]/;

export class FlagIndex {
  constructor(api) {
    this.api = api;
    this.environment = null;
    this.flags = null;
    this.texts = null;
    this.etag = null;
    // False once a change may have made the flags held here out of date; they are then not used until read again.
    this.fresh = false;
    this.loading = null;
  }

  /** Read every live flag of the environment again in the background (a 304 when none changed since). */
  load(environment) {
    if (this.loading && this.loadingFor === environment) return this.loading;
    if (this.fresh && this.environment === environment) return Promise.resolve();
    const etag = this.environment === environment ? this.etag : null;
    this.loadingFor = environment;
    const path = `/flags?${new URLSearchParams({ environment })}`;
    const loading = this.api
      .request("GET", path, { ifNoneMatch: etag })
      .then((answer) => {
        // A newer load (another environment, or one after a change) owns the index now.
        if (this.loading !== loading) return;
        if (answer.status !== 304) {
          this.flags = answer.data;
          const texts = answer.data.map((flag) => `${flag.name}\n${flag.description ?? ""}`);
          this.searchable = !texts.some((text) => FOLDS_TO_ASCII.test(text));
          this.texts = texts.map((text) => text.toLowerCase());
          this.etag = answer.etag;
        }
        this.environment = environment;
        this.fresh = !this.stale;
        performance.mark("ff-index-loaded");
      })
      .catch(() => {
        // The table works without the index (every view from the API); the next view tries again.
      })
      .finally(() => {
        if (this.loading === loading) this.loading = null;
      });
    this.stale = false;
    this.loading = loading;
    return loading;
  }

  /** A change was made or announced: until read again, the index may show what no longer is. */
  invalidate() {
    this.fresh = false;
    // A load under way may have been answered before the change.
    this.stale = this.loading !== null;
  }

  /** Forget every flag (at sign-out). */
  clear() {
    this.environment = null;
    this.flags = null;
    this.texts = null;
    this.etag = null;
    this.fresh = false;
    this.loading = null;
  }

  /**
   * The first page of the list as GET /flags would answer these filters in this environment, with how many match
   * and how many flags there are in all: {flags, total, all}; null when the index cannot tell.
   */
  firstPage(environment, filters, limit) {
    if (!this.fresh || this.environment !== environment || !this.flags) return null;
    const { q = "", tag, type, state, stale, archived, sort = "name" } = filters;
    if (archived || !SORTS.has(sort) || q.length > MAX_QUERY || !PRINTABLE_ASCII.test(q)) return null;
    if (q && !this.searchable) return null;
    if ((state && !STATES.has(state)) || (stale && !STALE.has(stale))) return null;
    const needle = q.toLowerCase();
    // Several tags narrow the list to flags carrying every one, as the API's repeated tag does.
    const tags = [tag ?? []].flat();
    const wantStale = stale === undefined ? null : stale === "true";
    const positions = [];
    for (let position = 0; position < this.flags.length; position += 1) {
      const flag = this.flags[position];
      if (tags.length && !tags.every((one) => flag.tags.includes(one))) continue;
      if (type && flag.type !== type) continue;
      if (state && Boolean(flag.environments[environment]) !== (state === "on")) continue;
      if (wantStale !== null && flag.stale !== wantStale) continue;
      if (needle && !this.texts[position].includes(needle)) continue;
      positions.push(position);
    }
    const field = sort.replace(/^-/, "");
    if (field !== "name") {
      // The API's order: by the time (a flag without one is the oldest), ties by name, which is the index's order.
      const at = (position) => this.flags[position][field] ?? "";
      positions.sort((a, b) => (at(a) < at(b) ? -1 : at(a) > at(b) ? 1 : a - b));
    }
    if (sort.startsWith("-")) positions.reverse();
    return {
      flags: positions.slice(0, limit).map((position) => this.flags[position]),
      total: positions.length,
      all: this.flags.length,
    };
  }
}

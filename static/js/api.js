// The API client: every request carries the session's token in a header (never in a URL),
// and every answer comes back as {status, data, etag, headers} or a thrown ApiError with the server's message.

/**
 * A flag as GET /flags/{id} answers it (the shapes the screens read; the API's schema has the rest).
 * @typedef {object} Flag
 * @property {string} _id
 * @property {string} name
 * @property {number} version
 * @property {string} type
 * @property {string} [description]
 * @property {string[]} [tags]
 * @property {Record<string, boolean>} environments whether the flag is on, per environment
 * @property {Record<string, any>} [variants]
 * @property {Record<string, any>} [targeting] per environment
 * @property {string} [off_variant] what a switched-off environment serves
 * @property {string} [stickiness] the context attribute a percentage split sticks to
 * @property {boolean} [archived]
 * @property {string} [created_at]
 * @property {string} [updated_at]
 * @property {string} [updated_by]
 */

/**
 * An error the API answered with: {"error": code, "message": ..., "details": [{field, message, type}]}, and what
 * else a refusal carries (a segment in use names its flags in details, an evaluation its errorDetails).
 * @typedef {{error?: string, message?: string, field?: string, details?: Array<Record<string, any>>,
 *   [key: string]: any}} ErrorBody
 */

/**
 * What request() sends besides method and path. token: a token other than the session's, for this request only;
 * raw: the body as text, as sent.
 * @typedef {object} RequestOptions
 * @property {any} [body] sent as JSON
 * @property {string | null} [ifMatch]
 * @property {string | null} [ifNoneMatch]
 * @property {string | null} [token]
 * @property {boolean} [raw]
 */

/**
 * A successful answer: data is the parsed JSON (null for 304 or an empty body), or the text when raw.
 * @typedef {object} ApiAnswer
 * @property {number} status
 * @property {any} data
 * @property {string | null} etag
 * @property {Headers} [headers]
 */

export class ApiError extends Error {
  /**
   * An error answer from the API, or status 0 when the service could not be reached.
   * @param {number} status
   * @param {ErrorBody | null} body
   */
  constructor(status, body) {
    super((body && body.message) || `The service answered ${status}.`);
    this.status = status;
    this.code = (body && body.error) || (status === 0 ? "unreachable" : "http_error");
    /** @type {ErrorBody} */
    this.body = body || {};
    /** @type {string | undefined} the message in the words of the screen that caught it, when it has better ones */
    this.explained = undefined;
  }

  /**
   * Map each field the API complained about to its message: {"name": "..."}.
   * @returns {Record<string, string>}
   */
  fieldErrors() {
    /** @type {Record<string, string>} */
    const errors = {};
    for (const item of this.body.details || []) {
      if (item && typeof item.field === "string" && !(item.field in errors)) {
        errors[item.field] = friendlyMessage(item);
      }
    }
    if (typeof this.body.field === "string" && !(this.body.field in errors)) {
      errors[this.body.field] = this.message;
    }
    return errors;
  }
}

// The API words each refusal as what to do ("give a whole number"); here it becomes a sentence beside its control,
// on every screen. A flag's name gets its rule spelled out, as the API's pattern cannot be read by people.
function friendlyMessage(item) {
  if (item.type === "string_pattern_mismatch" && item.field === "name") {
    return "Use 1 to 100 letters, digits, “-”, “_” or “.”, without spaces.";
  }
  return asSentence(item.message || "this value is not valid");
}

/**
 * Text as a sentence: a capital first letter and a full stop.
 * @param {unknown} text
 * @returns {string}
 */
export function asSentence(text) {
  const trimmed = String(text).trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/**
 * The If-Match value that changes this version of the flag and no other.
 * @param {{_id: string, version: number}} flag
 * @returns {string}
 */
export function flagEtag(flag) {
  // The API's ETag for one flag is its id and version (see flags.etag_of).
  return `"${flag._id}.${flag.version}"`;
}

export class Api {
  /**
   * @param {string} base the API's address ("" for the page's own origin)
   * @param {() => string | null} getToken the session's token, read at each request
   */
  constructor(base, getToken) {
    this.base = base.replace(/\/+$/, "");
    this.getToken = getToken;
    // A person's session (single sign-on): its cookie goes with each request, and its CSRF token with each change.
    this.personal = false;
    /** @type {string | null} */
    this.csrfToken = null;
  }

  /**
   * Send one request; resolve with the answer, or throw an ApiError for an error answer or none at all.
   * @param {string} method
   * @param {string} path from the API's base, with its query
   * @param {RequestOptions} [options]
   * @returns {Promise<ApiAnswer>}
   */
  async request(method, path, { body, ifMatch, ifNoneMatch, token, raw = false } = {}) {
    /** @type {Record<string, string>} */
    const headers = { Accept: "application/json" };
    const secret = token ?? this.getToken();
    if (secret) headers.Authorization = `Bearer ${secret}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (ifMatch) headers["If-Match"] = ifMatch;
    if (ifNoneMatch) headers["If-None-Match"] = ifNoneMatch;
    const personal = this.personal && !secret;
    if (personal && this.csrfToken && !["GET", "HEAD"].includes(method)) headers["X-CSRF-Token"] = this.csrfToken;
    let response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        // A token travels in its header; a signed-in person's session in the cookie of this origin only.
        credentials: personal ? "same-origin" : "omit",
      });
    } catch {
      throw new ApiError(0, { message: "The service cannot be reached. Check your connection; retrying shortly." });
    }
    const etag = response.headers.get("ETag");
    if (response.status === 304) return { status: 304, data: null, etag, headers: response.headers };
    let data = null;
    const text = await response.text();
    // raw: the body as sent (an export keeps its bytes, key order included); errors are JSON either way.
    if (raw && response.ok) return { status: response.status, data: text, etag };
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return { status: response.status, data, etag, headers: response.headers };
  }

  /**
   * @param {string} environment
   * @param {string | null} [etag] the last answer's, so an unchanged list answers 304
   * @param {string | null} [token]
   */
  listFlags(environment, etag, token) {
    const query = new URLSearchParams({ environment });
    return this.request("GET", `/flags?${query}`, { ifNoneMatch: etag, token });
  }

  /** @param {string | null} [token] */
  listTokens(token) {
    return this.request("GET", "/tokens", { token });
  }

  /** @param {Record<string, any>} fields */
  createFlag(fields) {
    return this.request("POST", "/flags", { body: fields });
  }

  /**
   * @param {Flag} flag the version the changes were made to; a newer one on the server answers 412
   * @param {Record<string, any>} changes
   */
  updateFlag(flag, changes) {
    return this.request("PUT", `/flags/${encodeURIComponent(flag._id)}`, { body: changes, ifMatch: flagEtag(flag) });
  }

  /**
   * Ask for a change to a flag where changes need approval (a PUT body); its field errors name the PUT's fields,
   * as the forms that send it know them.
   * @param {Flag} flag
   * @param {Record<string, any>} changes
   * @param {string | null} [applyAt] an ISO 8601 moment
   * @param {string} [comment]
   * @returns {Promise<ApiAnswer>}
   */
  async requestChange(flag, changes, applyAt = null, comment = "") {
    const body = { flag: flag._id, changes, base_version: flag.version };
    if (applyAt) body.apply_at = applyAt;
    if (comment) body.comment = comment;
    try {
      return await this.request("POST", "/change-requests", { body });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      for (const item of error.body.details || []) {
        if (typeof item?.field === "string") item.field = item.field.replace(/^changes\./, "").replace(/^apply_at$/, "at");
      }
      throw error;
    }
  }

  /**
   * @param {Flag} flag
   * @param {string} environment
   */
  toggleFlag(flag, environment) {
    return this.request("POST", `/flags/${encodeURIComponent(flag._id)}/toggle`, {
      body: { environment },
      ifMatch: flagEtag(flag),
    });
  }

  /** @param {Flag} flag */
  deleteFlag(flag) {
    return this.request("DELETE", `/flags/${encodeURIComponent(flag._id)}`, { ifMatch: flagEtag(flag) });
  }

  /**
   * A page of a flag's audit events, newest first.
   * @param {string} flagId
   * @param {string | null} [before] the id of the last event of the page before
   */
  history(flagId, before) {
    const query = new URLSearchParams({ limit: "50" });
    if (before) query.set("before", before);
    return this.request("GET", `/flags/${encodeURIComponent(flagId)}/history?${query}`);
  }
}

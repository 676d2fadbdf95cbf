// The API client: every request carries the session's token in a header (never in a URL),
// and every answer comes back as {status, data, etag, headers} or a thrown ApiError with the server's message.

export class ApiError extends Error {
  /** An error answer from the API, or status 0 when the service could not be reached. */
  constructor(status, body) {
    super((body && body.message) || `The service answered ${status}.`);
    this.status = status;
    this.code = (body && body.error) || (status === 0 ? "unreachable" : "http_error");
    this.body = body || {};
  }

  /** Map each field the API complained about to its message: {"name": "..."}. */
  fieldErrors() {
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

/** Text as a sentence: a capital first letter and a full stop. */
export function asSentence(text) {
  const trimmed = String(text).trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

export function flagEtag(flag) {
  // The API's ETag for one flag is its id and version (see flags.etag_of).
  return `"${flag._id}.${flag.version}"`;
}

export class Api {
  constructor(base, getToken) {
    this.base = base.replace(/\/+$/, "");
    this.getToken = getToken;
    // A person's session (single sign-on): its cookie goes with each request, and its CSRF token with each change.
    this.personal = false;
    this.csrfToken = null;
  }

  async request(method, path, { body, ifMatch, ifNoneMatch, token, raw = false } = {}) {
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

  listFlags(environment, etag, token) {
    const query = new URLSearchParams({ environment });
    return this.request("GET", `/flags?${query}`, { ifNoneMatch: etag, token });
  }

  listTokens(token) {
    return this.request("GET", "/tokens", { token });
  }

  createFlag(fields) {
    return this.request("POST", "/flags", { body: fields });
  }

  updateFlag(flag, changes) {
    return this.request("PUT", `/flags/${encodeURIComponent(flag._id)}`, { body: changes, ifMatch: flagEtag(flag) });
  }

  /**
   * Ask for a change to a flag where changes need approval (a PUT body); its field errors name the PUT's fields,
   * as the forms that send it know them.
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

  toggleFlag(flag, environment) {
    return this.request("POST", `/flags/${encodeURIComponent(flag._id)}/toggle`, {
      body: { environment },
      ifMatch: flagEtag(flag),
    });
  }

  deleteFlag(flag) {
    return this.request("DELETE", `/flags/${encodeURIComponent(flag._id)}`, { ifMatch: flagEtag(flag) });
  }

  history(flagId, before) {
    const query = new URLSearchParams({ limit: "50" });
    if (before) query.set("before", before);
    return this.request("GET", `/flags/${encodeURIComponent(flagId)}/history?${query}`);
  }
}

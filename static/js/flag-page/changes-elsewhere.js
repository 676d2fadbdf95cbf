// The flag a page shows, read again whenever the service says something changed (its event stream, see live.js):
// an unchanged flag costs a 304 (If-None-Match with the ETag last read), a newer version goes to the page to draw or
// to offer against an unsaved edit, a 404 says it is gone. The page's own writes are counted, so that its write,
// read back before its answer arrives, is not taken for a change made elsewhere.

import { ApiError } from "../api.js";

/** @import { Api, Flag } from "../api.js" */
/** @import { Session } from "../session.js" */

/**
 * Follow the flag held() names (null while none is shown); newer(latest), unchanged() and gone() say what a read
 * found. Returns {refresh(), writing(send), read(etag)}.
 * @param {{api: Api, session: Session, held: () => Flag | null, newer: (latest: Flag) => void,
 *   unchanged: () => void, gone: () => void}} deps
 */
export function followChanges({ api, session, held, newer, unchanged, gone }) {
  const state = { etag: null, reading: false, again: false, writing: 0, writes: 0 };

  /** Read the flag again; never two reads at a time, nor one during a write (it is read after instead). */
  async function refresh() {
    if (!held()) return;
    if (state.reading || state.writing) {
      state.again = true;
      return;
    }
    state.reading = true;
    try {
      do {
        state.again = false;
        await readAgain();
      } while (state.again && !state.writing && held());
    } finally {
      state.reading = false;
    }
  }

  async function readAgain() {
    const flag = held();
    const writes = state.writes;
    let answer = null;
    let failure = null;
    try {
      answer = await api.request("GET", `/flags/${encodeURIComponent(flag._id)}`, { ifNoneMatch: state.etag });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      failure = error;
    }
    const now = held();
    if (now?._id !== flag._id) return;
    if (state.writes !== writes) {
      state.again = true;
      return;
    }
    if (failure) {
      if (session.handleAuthFailure(failure)) return;
      if (failure.status === 404) gone();
      // Anything else (the service out of reach a moment) is tried again on the next change.
      return;
    }
    if (answer.status !== 304) state.etag = answer.etag;
    // Another ETag for the same version only means usage or staleness moved, which no editor shows.
    if (answer.data && answer.data.version > now.version) newer(answer.data);
    else unchanged();
  }

  /** Run one of the page's writes (send() resolves to the API's answer); a change heard meanwhile is read after. */
  async function writing(send) {
    state.writing += 1;
    state.writes += 1;
    try {
      const answer = await send();
      if (answer?.etag) state.etag = answer.etag;
      return answer;
    } finally {
      state.writing -= 1;
      // After the caller has taken in the write's answer, not before: it is the version the page then holds.
      if (state.again && !state.writing) setTimeout(refresh, 0);
    }
  }

  /** Note the ETag of a read of the flag, for the next refresh's If-None-Match. */
  function read(etag) {
    state.etag = etag;
  }

  return { refresh, writing, read };
}

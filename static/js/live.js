// Changes made elsewhere, as they happen: the service's event stream (GET /changes names it) says when anything a
// person could see has changed, and every subscriber reads again what it shows. EventSource reconnects by itself;
// a ticket that expired (the reconnect is refused) is replaced by asking /changes again. Where the stream cannot be
// had (an older service, a proxy that buffers it), polling takes over until it can.

/** @import { Api, ApiError } from "./api.js" */
/** @import { Poller } from "./polling.js" */

const RETRY_MS = [1000, 2000, 5000, 10000, 30000];

/**
 * Follow the service's changes once started; subscribers are called (without arguments) on each one.
 * @param {{api: Api, poller: Poller, active: () => boolean, authFailed: (error: ApiError) => boolean}} deps
 */
export function createLiveUpdates({ api, poller, active, authFailed }) {
  const subscribers = new Set();
  const state = { source: null, failures: 0, timer: null, generation: 0, streaming: false };

  function notify() {
    for (const subscriber of subscribers) subscriber();
  }

  async function connect() {
    const generation = state.generation;
    let answer;
    try {
      answer = await api.request("GET", "/changes");
    } catch (error) {
      // A revoked token ends the session here, as on any other request; anything else is tried again.
      if (generation === state.generation && !authFailed(error)) retryLater();
      return;
    }
    if (generation !== state.generation || !active()) return;
    const path = answer.data && answer.data.stream;
    if (typeof path !== "string" || !path.startsWith("/")) {
      retryLater();
      return;
    }
    const source = new EventSource(api.base + path);
    state.source = source;
    source.addEventListener("open", () => {
      state.failures = 0;
      state.streaming = true;
      poller.stop();
    });
    source.addEventListener("message", notify);
    source.addEventListener("error", () => {
      if (source.readyState !== EventSource.CLOSED) return;
      // Refused on reconnect (an expired ticket, a revoked token) or gone: ask for a new URL, polling meanwhile.
      source.close();
      if (state.source === source) state.source = null;
      retryLater();
    });
  }

  function retryLater() {
    state.streaming = false;
    if (!active()) return;
    poller.start();
    const delay = RETRY_MS[Math.min(state.failures, RETRY_MS.length - 1)];
    state.failures += 1;
    clearTimeout(state.timer);
    state.timer = setTimeout(connect, delay);
  }

  /** Start following changes (a session began). */
  function start() {
    stop();
    connect();
  }

  /** Stop following (a session ended): the stream closed, no timer left. */
  function stop() {
    state.generation += 1;
    clearTimeout(state.timer);
    state.timer = null;
    state.failures = 0;
    state.streaming = false;
    if (state.source) state.source.close();
    state.source = null;
    poller.stop();
  }

  /** Call fn on every change; returns a function that stops doing so. */
  function subscribe(fn) {
    subscribers.add(fn);
    return () => subscribers.delete(fn);
  }

  return {
    start,
    stop,
    subscribe,
    get streaming() {
      return state.streaming;
    },
  };
}

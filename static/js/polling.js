// Polling for changes made elsewhere: a refresh every interval while active, none while the tab is hidden,
// and one at once when it is shown again.

/**
 * Call refresh() every intervalMs once started, for as long as active() holds; never two at a time.
 * @param {() => unknown} refresh
 * @param {number} intervalMs
 * @param {() => boolean} active
 */
export function createPoller(refresh, intervalMs, active) {
  let timer = null;
  let running = false;

  const tick = async () => {
    if (!document.hidden && !running) {
      running = true;
      try {
        await refresh();
      } finally {
        running = false;
      }
    }
    if (active()) timer = setTimeout(tick, intervalMs);
  };

  function start() {
    stop();
    timer = setTimeout(tick, intervalMs);
  }

  function stop() {
    clearTimeout(timer);
    timer = null;
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && active()) refresh();
  });

  return { start, stop };
}

/** @typedef {ReturnType<typeof createPoller>} Poller */

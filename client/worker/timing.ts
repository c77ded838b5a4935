/** The worker's clock and its way of letting queued messages run. */
import type { Clock } from '../../shared/device/ports.ts';

/** Date.now and setTimeout as the device core's Clock. */
export const browserClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * Lets queued messages (comlink calls such as rank()) run: resolves from a new task, after the events
 * already waiting. MessageChannel, because nested setTimeout(0) is clamped to 4 ms.
 */
export function yieldToMessages(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof MessageChannel !== 'function') {
      setTimeout(resolve, 0);
      return;
    }
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(null);
  });
}

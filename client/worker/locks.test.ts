import { afterEach, describe, expect, it, vi } from 'vitest';
import { webLocks } from './locks.ts';
import { browserClock, yieldToMessages } from './timing.ts';

afterEach(() => vi.unstubAllGlobals());

/** navigator.locks with the ifAvailable semantics of the Web Locks API, in memory. */
function fakeLocks(): { held: Set<string> } {
  const held = new Set<string>();
  vi.stubGlobal('navigator', {
    locks: {
      async request<T>(
        name: string,
        _o: { ifAvailable: boolean },
        fn: (lock: unknown) => Promise<T>,
      ): Promise<T> {
        if (held.has(name)) return fn(null);
        held.add(name);
        try {
          return await fn({ name });
        } finally {
          held.delete(name);
        }
      },
    },
  });
  return { held };
}

describe('webLocks', () => {
  it('runs the work under the lock, and not at all while another holder has it', async () => {
    fakeLocks();
    let release: () => void = () => {};
    const first = webLocks.ifAvailable('x', () => new Promise<string>((r) => (release = () => r('first'))));
    expect(await webLocks.ifAvailable('x', async () => 'second')).toBeNull();
    expect(await webLocks.ifAvailable('y', async () => 'other lock')).toBe('other lock');
    release();
    expect(await first).toBe('first');
    expect(await webLocks.ifAvailable('x', async () => 'after')).toBe('after');
  });
  it('runs unlocked where the browser has no Web Locks', async () => {
    vi.stubGlobal('navigator', {});
    expect(await webLocks.ifAvailable('x', async () => 1)).toBe(1);
  });
});

describe('worker timing', () => {
  it('yields to queued messages and keeps time with timers', async () => {
    const order: string[] = [];
    const y = yieldToMessages().then(() => order.push('yielded'));
    await Promise.resolve();
    order.push('sync');
    await y;
    expect(order).toEqual(['sync', 'yielded']);
    const fired = await new Promise<boolean>((resolve) => {
      const h = browserClock.setTimer(() => resolve(false), 5);
      browserClock.clearTimer(h);
      browserClock.setTimer(() => resolve(true), 1);
    });
    expect(fired).toBe(true);
    expect(Math.abs(browserClock.now() - Date.now())).toBeLessThan(1000);
  });
});

/**
 * Web Locks as the device core's LockPort: the tabs of one shop origin share the lock, so only one of them
 * runs a contribution pass at a time (and then sees the others' ledger entries). Without the API (old
 * browsers) the pass runs unlocked, as before.
 */
import type { LockPort } from '../../shared/device/ports.ts';

interface LockManagerLike {
  request<T>(name: string, opts: { ifAvailable: boolean }, fn: (lock: unknown) => Promise<T>): Promise<T>;
}

/** Runs `fn` under the named lock when no other tab holds it; null when one does. */
export const webLocks: LockPort = {
  async ifAvailable<T>(name: string, fn: () => Promise<T>): Promise<T | null> {
    const locks = (navigator as unknown as { locks?: LockManagerLike }).locks;
    if (!locks) return fn();
    const NONE = Symbol('held');
    const r = await locks.request<T | typeof NONE>(name, { ifAvailable: true }, (lock) =>
      lock ? fn() : Promise.resolve(NONE),
    );
    return r === NONE ? null : (r as T);
  },
};

import { describe, expect, it } from 'vitest';
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS, backoffDelay, isRetryable, randomId } from './http.ts';

describe('backoffDelay', () => {
  it('doubles per attempt with jitter in [exp/2, exp) and stops at the cap', () => {
    for (let a = 1; a <= 6; a++) {
      const exp = BACKOFF_BASE_MS * 2 ** (a - 1);
      expect(backoffDelay(a, 0)).toBe(exp / 2);
      expect(backoffDelay(a, 0.999)).toBeLessThan(exp);
    }
    expect(backoffDelay(40, 0.999)).toBeLessThanOrEqual(BACKOFF_MAX_MS);
  });
  it('spreads devices that failed together', () => {
    const ds = new Set(Array.from({ length: 50 }, () => Math.round(backoffDelay(3, Math.random()))));
    expect(ds.size).toBeGreaterThan(25);
  });
});

describe('isRetryable / randomId', () => {
  it('retries server errors, rate limits and timeouts only', () => {
    expect([500, 503, 429, 408].every(isRetryable)).toBe(true);
    expect([400, 409, 413, 422].some(isRetryable)).toBe(false);
  });
  it('makes protocol-valid, distinct ids', () => {
    const ids = new Set(Array.from({ length: 100 }, randomId));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{16,64}$/);
  });
});

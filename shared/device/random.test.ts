import { describe, expect, it } from 'vitest';
import { cryptoUniform, randomId } from './random.ts';
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS, backoffDelay, isRetryable } from './rules.ts';

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

describe('cryptoUniform', () => {
  it('stays in [0, 1) and is spread over it', () => {
    const xs = Array.from({ length: 2000 }, cryptoUniform);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
  });
});

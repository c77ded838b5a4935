import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, FedrankError, isFedrankError, type ErrorCode } from './errors.ts';

describe('error catalogue', () => {
  it('gives every code a message and a status', () => {
    for (const [code, e] of Object.entries(ERRORS)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(e.message.length).toBeGreaterThan(5);
      expect(e.status === 0 || (e.status >= 400 && e.status < 600)).toBe(true);
    }
  });

  it('is documented, code by code with its status, in the README', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const [code, e] of Object.entries(ERRORS)) {
      // Table cells, trimmed: prettier pads the columns.
      const cells = readme
        .split('\n')
        .map((l) => l.split('|').map((c) => c.trim()))
        .find((c) => c[1] === `\`${code}\``);
      expect(cells, `README lacks a row for ${code}`).toBeDefined();
      expect(cells![2]).toBe(e.status === 0 ? '—' : String(e.status));
    }
  });

  it('builds errors that carry code, status and detail', () => {
    const err = new FedrankError('UPDATE_STALE' satisfies ErrorCode, 'base version 3 < 5');
    expect(err.status).toBe(409);
    expect(err.message).toContain('base version 3 < 5');
    expect(isFedrankError(err)).toBe(true);
    expect(isFedrankError({ name: 'FedrankError', code: 'NOPE' })).toBe(false);
    expect(isFedrankError(new Error('x'))).toBe(false);
  });
});

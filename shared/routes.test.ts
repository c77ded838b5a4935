import { describe, expect, it } from 'vitest';
import { DEVICE_DB_NAME, ID_PATTERN, ROUTES, decodeEpsilon, encodeEpsilon } from './routes.ts';

describe('shared HTTP contract names', () => {
  it('encodes an infinite epsilon one way on the wire, and reads it back', () => {
    const wire = JSON.parse(JSON.stringify({ e: encodeEpsilon(Number.POSITIVE_INFINITY) })).e as number;
    expect(Number.isFinite(wire)).toBe(true);
    expect(decodeEpsilon(wire)).toBe(Number.POSITIVE_INFINITY);
    expect(decodeEpsilon(encodeEpsilon(3.25))).toBe(3.25);
  });
  it('names the routes, ids and database once', () => {
    expect(Object.values(ROUTES).every((r) => r.startsWith('/v1/'))).toBe(true);
    expect(ID_PATTERN.test('a'.repeat(16))).toBe(true);
    expect(ID_PATTERN.test('a'.repeat(15))).toBe(false);
    expect(ID_PATTERN.test('a b'.repeat(8))).toBe(false);
    expect(DEVICE_DB_NAME).toBe('fedrank');
  });
});

import { decodeEpsilon, encodeEpsilon } from '../shared/routes.ts';
import { describe, expect, it } from 'vitest';
import {
  isPermutation,
  parseWorkerInit,
  parseWorkerStatus,
  sanitizeEvent,
  sanitizeItem,
  sanitizeItems,
} from './wire.ts';

describe('sanitizeItem', () => {
  it('keeps known fields as plain data and coerces numeric ids and prices', () => {
    expect(
      sanitizeItem({ id: 42, category: 'hats', brand: 'b', price: '12.5', attributes: ['red', 3, ''], x: 1 }),
    ).toEqual({
      id: '42',
      category: 'hats',
      brand: 'b',
      price: 12.5,
      attributes: ['red', '3'],
    });
  });
  it('rejects items without a usable id and drops bad optional fields', () => {
    expect(sanitizeItem(null)).toBeNull();
    expect(sanitizeItem({ id: '' })).toBeNull();
    expect(sanitizeItem({ id: {} })).toBeNull();
    expect(sanitizeItem({ id: 'a', price: -1, category: 7 })).toEqual({ id: 'a', category: '7' });
    expect(sanitizeItem({ id: 'a', price: Number.NaN })).toEqual({ id: 'a' });
  });
  it('bounds string lengths and attribute counts', () => {
    const it = sanitizeItem({ id: 'x'.repeat(1000), attributes: Array(50).fill('a') })!;
    expect(it.id.length).toBe(256);
    expect(it.attributes!.length).toBe(16);
  });
});

describe('sanitizeItems / sanitizeEvent', () => {
  it('rejects the whole list when one entry is unusable', () => {
    expect(sanitizeItems([{ id: 'a' }, { nope: 1 }])).toBeNull();
    expect(sanitizeItems('x')).toBeNull();
    expect(sanitizeItems([{ id: 'a' }, { id: 'b' }])).toEqual([{ id: 'a' }, { id: 'b' }]);
  });
  it('accepts only the four interaction types', () => {
    expect(sanitizeEvent({ type: 'click', item: { id: 'a' }, query: 'red' })).toEqual({
      type: 'click',
      item: { id: 'a' },
      query: 'red',
    });
    expect(sanitizeEvent({ type: 'hack', item: { id: 'a' } })).toBeNull();
    expect(sanitizeEvent({ type: 'purchase' })).toBeNull();
  });
});

describe('isPermutation', () => {
  it('accepts exactly the permutations of 0..n-1', () => {
    expect(isPermutation([2, 0, 1], 3)).toBe(true);
    expect(isPermutation([0, 0, 1], 3)).toBe(false);
    expect(isPermutation([0, 1], 3)).toBe(false);
    expect(isPermutation([0, 1, 3], 3)).toBe(false);
    expect(isPermutation([0, 1.5, 2], 3)).toBe(false);
    expect(isPermutation('012', 3)).toBe(false);
  });
});

const status = {
  ready: true,
  backend: 'wasm',
  backendReason: 'measured',
  modelVersion: 3,
  modelId: 'm',
  eventsStored: 5,
  updatesSent: 1,
  updatesPending: 0,
  epsilonSpent: 1.5,
  epsilonBudget: 8,
  privacyDelta: 1e-5,
  budgetExhausted: false,
  dp: 'on',
  optedOut: false,
  storage: 'indexeddb',
  personalized: true,
  globalWeight: 0.5,
  lastError: null,
};

describe('parseWorkerStatus / parseWorkerInit', () => {
  it('accepts a well-formed status and drops unknown fields', () => {
    expect(parseWorkerStatus({ ...status, extra: 1 })).toEqual(status);
  });
  it('rejects malformed statuses', () => {
    for (const bad of [
      { ...status, backend: 'gpu' },
      { ...status, eventsStored: -1 },
      { ...status, epsilonSpent: Number.NaN },
      { ...status, storage: 'disk' },
      { ...status, ready: 'yes' },
      { ...status, globalWeight: 1.5 },
      { ...status, globalWeight: Number.NaN },
      { ...status, personalized: undefined },
      null,
    ]) {
      expect(parseWorkerStatus(bad)).toBeNull();
    }
  });
  it('validates the init request', () => {
    const ok = {
      server: 'https://a',
      backend: null,
      epsilonCap: 8,
      evalReports: false,
      dpOff: false,
      gpcOptOut: false,
    };
    expect(parseWorkerInit(ok)).toEqual({ ...ok, tokens: { mode: 'pow' } });
    const relay = { mode: 'relay', url: 'https://shop.example/fedrank/tokens' };
    expect(parseWorkerInit({ ...ok, tokens: relay })?.tokens).toEqual(relay);
    expect(parseWorkerInit({ ...ok, tokens: { mode: 'relay', url: 'javascript:x' } })).toBeNull();
    expect(parseWorkerInit({ ...ok, backend: 'tpu' })).toBeNull();
    expect(parseWorkerInit({ ...ok, epsilonCap: -1 })).toBeNull();
    expect(parseWorkerInit({ ...ok, server: 5 })).toBeNull();
  });
  it('carries dp on/off and an infinite epsilon in its one wire encoding', () => {
    expect(parseWorkerStatus({ ...status, dp: 'off' })?.dp).toBe('off');
    expect(parseWorkerStatus({ ...status, dp: 'maybe' })).toBeNull();
    expect(parseWorkerStatus({ ...status, dp: undefined })).toBeNull();
    const infinite = parseWorkerStatus({ ...status, epsilonSpent: encodeEpsilon(Number.POSITIVE_INFINITY) });
    expect(decodeEpsilon(infinite!.epsilonSpent)).toBe(Number.POSITIVE_INFINITY);
    expect(parseWorkerStatus({ ...status, epsilonSpent: Number.POSITIVE_INFINITY })).toBeNull();
    const init = { server: null, backend: null, epsilonCap: 8, evalReports: false, gpcOptOut: false };
    expect(parseWorkerInit(init)).toBeNull();
    expect(parseWorkerInit({ ...init, dpOff: 'yes' })).toBeNull();
    expect(parseWorkerInit({ ...init, dpOff: true })?.dpOff).toBe(true);
  });
});

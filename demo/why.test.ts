import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FedrankStatus } from '../client/types.ts';

interface Why {
  summary: string;
  rows: [string, string][];
}
/** The page script as the browser runs it, with `window` being this object. */
const root: { fedrankWhy?: (s: unknown) => Why } = {};
new Function(readFileSync(join(import.meta.dirname, 'public', 'why.js'), 'utf8')).call(root);
const explain = root.fedrankWhy!;

const BASE: FedrankStatus = {
  version: 't',
  ready: true,
  backend: 'wasm',
  backendReason: 'measured',
  modelVersion: 3,
  modelId: 'm',
  eventsStored: 40,
  updatesSent: 0,
  updatesPending: 0,
  epsilonSpent: 0,
  epsilonBudget: 8,
  epsilonAgainst: 'server',
  privacyDelta: 1e-5,
  budgetExhausted: false,
  dp: 'on',
  optedOut: false,
  gpc: false,
  storage: 'indexeddb',
  personalized: false,
  globalWeight: 1,
  lastError: null,
};
const row = (w: Why, k: string): string | undefined => w.rows.find((r) => r[0] === k)?.[1];

describe('the demo’s "Why this order?" panel', () => {
  it('says "not personalized" before any click, with or without a shared model', () => {
    const withModel = explain(BASE);
    expect(row(withModel, 'Personalized')).toBe('no');
    expect(withModel.summary).toMatch(/not personalized to you yet/);
    const none = explain({ ...BASE, modelVersion: null, modelId: null, globalWeight: null });
    expect(row(none, 'Personalized')).toBe('no');
    expect(none.summary).toMatch(/shop’s own order/);
  });

  it('tells on-device only from with the shared model, and gives the safeguard’s weight', () => {
    const full = explain({ ...BASE, personalized: true });
    expect(row(full, 'Personalized')).toBe('yes');
    expect(full.summary).toMatch(/plus the shared model at weight 1\b/);
    expect(explain({ ...BASE, personalized: true, globalWeight: 0.25 }).summary).toMatch(
      /weight 0\.25 \(lowered/,
    );
    expect(explain({ ...BASE, personalized: true, globalWeight: 0 }).summary).toMatch(
      /on this device only: .*shared model ranks your own clicks worse/,
    );
  });

  it('says the privacy budget is spent and that learning stays on the device', () => {
    const w = explain({ ...BASE, personalized: true, budgetExhausted: true, epsilonSpent: 7.9 });
    expect(row(w, 'Privacy')).toMatch(/privacy budget spent .*: learning stays on this device/);
    expect(row(explain(BASE), 'Privacy')).not.toMatch(/budget spent/);
  });

  for (const code of ['SDK_ORIGIN_REFUSED', 'SDK_SERVER_UNREACHABLE']) {
    it(`explains ${code}: personalized on this device alone`, () => {
      const s = { ...BASE, modelVersion: null, modelId: null, globalWeight: null, lastError: code };
      expect(row(explain(s), 'Shared model')).toMatch(
        new RegExp(`^none: .*\\(${code}\\); learning stays on this device`),
      );
      const after = explain({ ...s, personalized: true });
      expect(row(after, 'Personalized')).toBe('yes');
      expect(after.summary).toMatch(/your clicks, on this device only \(no shared model\)/);
    });
  }

  it('is not personalized when the shopper opted out, and says so while loading', () => {
    const w = explain({ ...BASE, personalized: true, optedOut: true, ready: false });
    expect(row(w, 'Personalized')).toBe('no');
    expect(w.summary).toMatch(/opted out/);
    expect(explain(null).summary).toBe('SDK not loaded yet');
  });
});

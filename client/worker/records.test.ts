import { describe, expect, it } from 'vitest';
import { DEFAULT_SPEC, initGlobalParams } from '../../shared/model/spec.ts';
import { manifest } from '../../e2e/sdk/support.ts';
import { checkEvent, checkLedger, checkModel, checkOutbox, checkPersonal, checkSetting } from './records.ts';

describe('stored record validation', () => {
  it('events', () => {
    expect(checkEvent({ seq: 1, type: 'click', item: { id: 'a' }, time: 5, query: 'q' })).toEqual({
      seq: 1,
      type: 'click',
      item: { id: 'a' },
      time: 5,
      query: 'q',
    });
    expect(checkEvent({ seq: 1, type: 'click', item: { nope: 1 }, time: 5 })).toBeNull();
    expect(checkEvent({ type: 'click', item: { id: 'a' }, time: 5 })).toBeNull();
    expect(checkEvent({ seq: 1, type: 'view', item: { id: 'a' }, time: 5 })).toBeNull();
  });
  it('the cached model: manifest parsed, parameter count and finiteness checked', () => {
    const params = initGlobalParams(DEFAULT_SPEC);
    const good = { key: 'global', manifest: manifest(), manifestEtag: '"m"', weightsEtag: null, params };
    expect(checkModel(good)).not.toBeNull();
    expect(checkModel({ ...good, params: params.slice(1) })).toBeNull();
    const nan = params.slice();
    nan[7] = Number.NaN;
    expect(checkModel({ ...good, params: nan })).toBeNull();
    expect(checkModel({ ...good, manifest: { ...manifest(), protocol: 2 } })).toBeNull();
    expect(checkModel({ ...good, params: Array.from(params) })).toBeNull();
  });
  it('personal state, outbox, ledger, settings', () => {
    const state = {
      history: [{ ids: [1, 2], attrs: [3] }],
      affinity: { 3: 1.5 },
      positives: 1,
      updatedAt: 9,
    };
    expect(checkPersonal({ key: 'state', modelId: 'm', seq: 0, state })).not.toBeNull();
    expect(
      checkPersonal({ key: 'state', modelId: 'm', seq: 0, state: { ...state, affinity: { 3: 'x' } } }),
    ).toBeNull();
    const ob = {
      key: 'k'.repeat(20),
      body: new Uint8Array(2),
      modelId: 'm',
      baseVersion: 1,
      round: 1,
      createdAt: 1,
      attempts: 0,
      nextAttemptAt: 1,
    };
    expect(checkOutbox(ob)).not.toBeNull();
    expect(checkOutbox({ ...ob, key: 'short' })).toBeNull();
    expect(checkOutbox({ ...ob, body: [1, 2] })).toBeNull();
    // The per-round client id, when present, must be a protocol id (it goes into a header).
    expect(checkOutbox({ ...ob, clientId: 'c'.repeat(20) })).not.toBeNull();
    expect(checkOutbox({ ...ob, clientId: 'c d'.repeat(8) })).toBeNull();
    expect(checkOutbox({ ...ob, clientId: 7 })).toBeNull();
    const led = {
      seq: 1,
      time: 1,
      key: 'k',
      round: 1,
      modelVersion: 1,
      clipNorm: 1,
      noiseMultiplier: 1,
      noiseStd: 1,
      noiseMode: 'local',
      sigma: 1,
      q: 1,
      preClipNorm: 3,
      delta: 1e-5,
    };
    expect(checkLedger(led)).not.toBeNull();
    expect(checkLedger({ ...led, sigma: -1 })).toBeNull();
    expect(checkLedger({ ...led, q: 2 })).toBeNull();
    expect(checkSetting.optedOut('yes')).toBe(false);
    expect(checkSetting.backend({ fingerprint: 'f', backend: 'webgpu', reason: 'r' })).toBe(true);
    expect(checkSetting.backend({ fingerprint: 'f', backend: 'tpu', reason: 'r' })).toBe(false);
  });
});

describe('records from an older version', () => {
  it('ignore a stored stable client id: the device no longer reads one', () => {
    expect(Object.keys(checkSetting).sort()).toEqual([
      'backend',
      'optedOut',
      'tokens',
      'trainedSeq',
      'updatesSent',
    ]);
  });
  it('accept a stored token wallet only in its shape', () => {
    const tok = 'A'.repeat(40);
    expect(checkSetting.tokens({ update: [tok], eval: [], held: { ['k'.repeat(20)]: tok } })).toBe(true);
    expect(checkSetting.tokens({ update: ['short'], eval: [], held: {} })).toBe(false);
    expect(checkSetting.tokens({ update: [], eval: [], held: { bad: tok } })).toBe(false);
    expect(checkSetting.tokens({ update: [], held: {} })).toBe(false);
  });
  it('accept every event type the SDK tracks, and nothing else', () => {
    for (const type of ['impression', 'click', 'add_to_cart', 'purchase']) {
      expect(checkEvent({ seq: 1, type, item: { id: 'a' }, time: 1 })).not.toBeNull();
    }
    expect(checkEvent({ seq: 1, type: 'view', item: { id: 'a' }, time: 1 })).toBeNull();
    expect(checkEvent({ seq: 1, type: 'click', item: { id: '' }, time: 1 })).toBeNull();
    expect(checkEvent({ seq: -1, type: 'click', item: { id: 'a' }, time: 1 })).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { manifest, trainingConfig } from '../../e2e/sdk/support.ts';
import { FedrankError } from '../errors.ts';
import { DEFAULT_SPEC, initGlobalParams } from '../model/spec.ts';
import type { ModelManifest } from '../protocol.ts';
import { ID_PATTERN } from '../routes.ts';
import { Device } from './device.ts';
import type { DeviceConfig } from './device.ts';
import { FakeClock, FakeLearner, FakeLock, FakeModelSource, FakeSubmitter, settle } from './fakes.ts';
import type { EvalSink, LockPort } from './ports.ts';
import { cryptoRandom } from './random.ts';
import type { EventRecord } from './records.ts';
import { MemoryStore } from './store.ts';

const PARAMS = initGlobalParams(DEFAULT_SPEC);
const CFG: DeviceConfig = {
  hasServer: true,
  epsilonCap: 8,
  evalReports: false,
  gpcOptOut: false,
  dpOff: false,
};

interface Rig {
  device: Device;
  store: MemoryStore;
  clock: FakeClock;
  models: FakeModelSource;
  submitter: FakeSubmitter;
  learner: FakeLearner;
  evals: { reports: number } & EvalSink;
}

function rig(
  over: Partial<DeviceConfig> = {},
  m: ModelManifest = manifest(),
  shared?: { store?: MemoryStore; submitter?: FakeSubmitter; lock?: LockPort; clock?: FakeClock },
): Rig {
  const store = shared?.store ?? new MemoryStore('indexeddb');
  const clock = shared?.clock ?? new FakeClock();
  const models = new FakeModelSource(m, PARAMS, () => new FedrankError('SDK_SERVER_UNREACHABLE', 'down'));
  const submitter = shared?.submitter ?? new FakeSubmitter();
  const learner = new FakeLearner();
  const evals = {
    reports: 0,
    async sendEval(): Promise<void> {
      evals.reports++;
    },
  };
  const ports = { store, clock, random: cryptoRandom, models, submitter, evals, learner };
  const device = new Device(shared?.lock ? { ...ports, lock: shared.lock } : ports, { ...CFG, ...over });
  return { device, store, clock, models, submitter, learner, evals };
}

/** A browsing session: impressions of 20 items and clicks on the first `clicks` of them. */
function session(clicks: number, t0 = 1): EventRecord[] {
  const item = (i: number) => ({ id: `sku-${i}`, category: `c${i % 4}`, brand: `b${i % 3}`, price: 10 + i });
  const evs: EventRecord[] = [];
  for (let i = 0; i < 20; i++) evs.push({ type: 'impression', item: item(i), time: t0 + i });
  for (let i = 0; i < clicks; i++) evs.push({ type: 'click', item: item(i), time: t0 + 100 + i });
  return evs;
}

async function started(r: Rig): Promise<Rig> {
  await r.device.open();
  await r.device.resume();
  return r;
}

describe('device core', () => {
  it('click -> contribution -> upload -> ack, with a ledger entry and a fresh client id', async () => {
    const r = await started(rig());
    await r.device.track(session(3));
    const res = await r.device.idle();
    expect(res).toMatchObject({ trained: true, queued: true, decision: { ok: true, round: 7 } });
    expect(r.submitter.calls).toHaveLength(1);
    const c = r.submitter.calls[0]!;
    expect(c.record.round).toBe(7);
    expect(c.clientId).toMatch(ID_PATTERN);
    expect(c.record.key).toMatch(ID_PATTERN);
    const st = r.device.status();
    expect(st).toMatchObject({ updatesSent: 1, updatesPending: 0, budgetExhausted: false, lastError: null });
    expect(st.epsilonSpent).toBeGreaterThan(0);
    expect(await r.store.ledger()).toHaveLength(1);
    expect(await r.store.outbox()).toEqual([]);
  });

  it('waits for enough new interactions, and contributes once per round', async () => {
    const r = await started(rig());
    await r.device.track(session(2));
    expect((await r.device.idle()).trained).toBe(false);
    expect(r.learner.trainings).toBe(0);
    await r.device.track(session(1, 1000));
    expect((await r.device.idle()).trained).toBe(true);
    await r.device.track(session(3, 2000));
    await r.clock.advance(10_000);
    const again = await r.device.idle();
    expect(again.decision).toMatchObject({ ok: false, why: 'already-contributed' });
    expect(r.submitter.calls).toHaveLength(1);
  });

  it('uses an unlinkable client id per round', async () => {
    const r = await started(rig());
    await r.device.track(session(3));
    await r.device.idle();
    r.models.manifest = { ...manifest(2), round: { ...manifest().round!, id: 8 } };
    await r.device.track(session(3, 1000));
    await r.clock.advance(10 * 60_000);
    await r.device.idle();
    expect(r.submitter.calls.map((c) => c.record.round)).toEqual([7, 8]);
    expect(r.submitter.calls[0]!.clientId).not.toBe(r.submitter.calls[1]!.clientId);
  });

  it('stops contributing (and evaluating) when the budget is exhausted, and keeps personalizing', async () => {
    const r = await started(rig({ epsilonCap: 0.5, evalReports: true }));
    await r.device.track(session(3));
    const before = r.device.personal.positives;
    const res = await r.device.idle();
    expect(res.decision).toMatchObject({ ok: false, why: 'budget-exhausted' });
    // No training, no report; the on-device safeguard still scores (nothing of it leaves the device).
    expect(r.learner.trainings + r.evals.reports).toBe(0);
    expect(r.submitter.calls).toHaveLength(0);
    expect(r.device.status().budgetExhausted).toBe(true);
    expect(before).toBeGreaterThan(0);
  });

  it('spends the budget one contribution at a time and then stops', async () => {
    // sigma 1 at delta 1e-5: one contribution costs about 4.4, two about 6.5, three exceed 8.
    const r = await started(rig({ evalReports: true }));
    let round = 7;
    for (let i = 0; i < 4; i++) {
      r.models.manifest = { ...manifest(1 + i), round: { ...manifest().round!, id: round++ } };
      await r.clock.advance(10 * 60_000);
      await r.device.track(session(3, 1000 * i));
      await r.device.idle();
    }
    expect(r.submitter.calls.length).toBeGreaterThanOrEqual(1);
    expect(r.submitter.calls.length).toBeLessThan(4);
    expect(r.device.status().budgetExhausted).toBe(true);
    expect(r.device.status().epsilonSpent).toBeLessThanOrEqual(8);
    expect(r.evals.reports).toBeLessThanOrEqual(r.submitter.calls.length);
  });

  it('forget() during training leaves nothing to send', async () => {
    const r = await started(rig());
    await r.device.track(session(3));
    const release = r.learner.hold();
    const pass = r.device.idle();
    await r.learner.started;
    await r.device.forget();
    release();
    await pass;
    await r.clock.advance(60 * 60_000);
    expect(r.submitter.calls).toHaveLength(0);
    expect(await r.store.outbox()).toEqual([]);
    expect(await r.store.ledger()).toEqual([]);
    expect(await r.store.events()).toEqual([]);
    expect(r.device.status()).toMatchObject({ eventsStored: 0, updatesPending: 0, epsilonSpent: 0 });
  });

  it('forget() while an upload waits for a retry drops it', async () => {
    const r = await started(rig());
    r.submitter.answer = () => ({ kind: 'retry', code: 'SDK_SERVER_UNREACHABLE' });
    await r.device.track(session(3));
    await r.device.idle();
    expect(await r.store.outbox()).toHaveLength(1);
    await r.device.forget();
    r.submitter.answer = (c) => ({
      kind: 'accepted',
      ack: { accepted: true, duplicate: false, round: c.record.round, modelVersion: 1 },
    });
    await r.clock.advance(60 * 60_000);
    expect(r.submitter.calls).toHaveLength(1);
  });

  it('refuses a manifest below its floors before any training or noise', async () => {
    const low = [
      manifest(1, trainingConfig({ noiseMultiplier: 0.1 })),
      { ...manifest(), privacy: { ...manifest().privacy, delta: 1e-3 } },
      manifest(1, trainingConfig({ noiseMultiplier: 0 })),
    ];
    for (const m of low) {
      const r = await started(rig({}, m));
      await r.device.track(session(3));
      const res = await r.device.idle();
      expect(res.decision).toMatchObject({ ok: false, why: 'below-floors' });
      expect(r.learner.trainings).toBe(0);
      expect(r.submitter.calls).toHaveLength(0);
      expect(r.device.status().lastRefusal).toBe('below-floors');
    }
  });

  it('accepts a noiseless manifest only with DP explicitly off, and says so', async () => {
    const r = await started(rig({ dpOff: true }, manifest(1, trainingConfig({ noiseMultiplier: 0 }))));
    await r.device.track(session(3));
    expect((await r.device.idle()).trained).toBe(true);
    expect(r.device.status().dp).toBe('off');
    expect(r.submitter.calls).toHaveLength(1);
  });

  it('server down: the manifest is asked again with backoff, uploads are retried with backoff', async () => {
    const r = await started(rig());
    r.models.down = true;
    await r.clock.advance(10 * 60_000);
    await r.device.idle();
    const fetches = r.models.fetches;
    await r.device.idle();
    expect(r.models.fetches).toBe(fetches);
    expect(r.device.status().lastError).toBe('SDK_SERVER_UNREACHABLE');
    r.models.down = false;
    await r.clock.advance(15 * 60_000);
    await r.device.track(session(3));
    r.submitter.answer = () => ({ kind: 'retry', code: 'SDK_SERVER_UNREACHABLE' });
    await r.device.idle();
    expect(r.submitter.calls).toHaveLength(1);
    expect(r.device.status()).toMatchObject({ updatesSent: 0, updatesPending: 1 });
    const wait = r.clock.nextTimerIn()!;
    expect(wait).toBeGreaterThanOrEqual(1000);
    // Nothing is retried before the backoff delay; then it is, and the ack empties the outbox.
    await r.clock.advance(wait - 1);
    expect(r.submitter.calls).toHaveLength(1);
    r.submitter.answer = (c) => ({
      kind: 'accepted',
      ack: { accepted: true, duplicate: false, round: c.record.round, modelVersion: 1 },
    });
    await r.clock.advance(1);
    await settle();
    expect(r.submitter.calls).toHaveLength(2);
    expect(r.submitter.calls[1]!.clientId).toBe(r.submitter.calls[0]!.clientId);
    expect(r.device.status()).toMatchObject({ updatesSent: 1, updatesPending: 0 });
  });

  it('drops a contribution the server rejects for good', async () => {
    const r = await started(rig());
    r.submitter.answer = () => ({ kind: 'rejected', code: 'UPDATE_STALE' });
    await r.device.track(session(3));
    await r.device.idle();
    expect(r.device.status()).toMatchObject({ updatesSent: 0, updatesPending: 0, lastError: 'UPDATE_STALE' });
  });

  it('opting out clears the outbox and stops everything', async () => {
    const r = await started(rig());
    r.submitter.answer = () => ({ kind: 'retry', code: 'SDK_SERVER_UNREACHABLE' });
    await r.device.track(session(3));
    await r.device.idle();
    expect(await r.store.outbox()).toHaveLength(1);
    await r.device.setOptOut(true);
    expect(await r.store.outbox()).toEqual([]);
    await r.clock.advance(60 * 60_000);
    await r.device.track(session(3, 5000));
    await r.device.idle();
    expect(r.submitter.calls).toHaveLength(1);
    expect(r.device.status()).toMatchObject({ optedOut: true, updatesPending: 0 });
    // forget() keeps the choice itself
    await r.device.forget();
    expect(await r.store.getSetting('optedOut')).toBe(true);
  });

  it('with memory-only storage learns locally but never uploads', async () => {
    const store = new MemoryStore('memory');
    const r = await started(rig({}, manifest(), { store }));
    await r.device.track(session(3));
    const res = await r.device.idle();
    expect(res.decision).toMatchObject({ ok: false, why: 'memory-only' });
    expect(r.device.personal.positives).toBe(3);
    expect(r.submitter.calls).toHaveLength(0);
  });

  it('two tabs of one shopper contribute once to a round', async () => {
    const store = new MemoryStore('indexeddb');
    const submitter = new FakeSubmitter();
    const lock = new FakeLock();
    const clock = new FakeClock();
    const a = await started(rig({}, manifest(), { store, submitter, lock, clock }));
    const b = await started(rig({}, manifest(), { store, submitter, lock, clock }));
    await a.device.track(session(3));
    await b.device.track(session(3, 500));
    const releaseA = a.learner.hold();
    const pa = a.device.idle();
    await a.learner.started;
    // Tab b's pass while a trains: the lock is held, so b does nothing.
    await b.device.idle();
    releaseA();
    await pa;
    // Afterwards b sees a's ledger entry for the round.
    await clock.advance(10_000);
    const rb = await b.device.idle();
    expect(rb.decision).toMatchObject({ ok: false, why: 'already-contributed' });
    expect(submitter.calls).toHaveLength(1);
    expect(await store.ledger()).toHaveLength(1);
  });

  it('sends an evaluation report before training when asked to', async () => {
    const r = await started(rig({ evalReports: true }));
    await r.device.track(session(3));
    await r.device.idle();
    expect(r.evals.reports).toBe(1);
    expect(r.learner.scorings).toBeGreaterThan(0);
  });

  it('rebuilds personal state from the stored events on a new model id, and keeps it across a restart', async () => {
    const store = new MemoryStore('indexeddb');
    const r = await started(rig({}, manifest(), { store }));
    await r.device.track(session(3));
    const again = await started(rig({}, manifest(), { store }));
    expect(again.device.personal.positives).toBe(3);
    expect(again.device.status().eventsStored).toBe(23);
  });

  it("sends a round's evaluation report under that round's client id only", async () => {
    const ids: string[] = [];
    const r = await started(rig({ evalReports: true }));
    r.evals.sendEval = async (_rep, id) => void ids.push(id);
    await r.device.track(session(3));
    await r.device.idle();
    expect(ids).toEqual([r.submitter.calls[0]!.clientId]);
  });

  it('rebuilds the ranker on a new model id, and only updates its weights on a new version', async () => {
    const seen: [number, boolean][] = [];
    const r = rig();
    const device = new Device(
      {
        store: r.store,
        clock: r.clock,
        random: cryptoRandom,
        models: r.models,
        submitter: r.submitter,
        evals: r.evals,
        learner: r.learner,
      },
      CFG,
      { onModel: (m, same) => void seen.push([m.manifest.version, same]) },
    );
    await device.open();
    await device.resume();
    r.models.manifest = manifest(2);
    await r.clock.advance(10 * 60_000);
    await device.idle();
    r.models.manifest = { ...manifest(3), modelId: 'another-model' };
    await r.clock.advance(10 * 60_000);
    await device.idle();
    expect(seen).toEqual([
      [1, false],
      [2, true],
      [3, false],
    ]);
    expect(device.status().modelId).toBe('another-model');
  });

  it('ignores events while opted out, does nothing without a server, and close() leaves no timer', async () => {
    const off = await started(rig({ hasServer: false }));
    await off.device.track(session(3));
    expect(await off.device.idle()).toEqual({ trained: false, queued: false, decision: null });
    expect(off.models.fetches).toBe(0);
    const r = await started(rig());
    r.submitter.answer = () => ({ kind: 'retry', code: 'SDK_SERVER_UNREACHABLE' });
    await r.device.track(session(3));
    await r.device.idle();
    expect(r.clock.nextTimerIn()).not.toBeNull();
    r.device.close();
    expect(r.clock.nextTimerIn()).toBeNull();
    await r.device.setOptOut(true);
    await r.device.track(session(3, 900));
    expect(r.device.status().eventsStored).toBe(23);
  });
});

import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeTensor } from '../codec/tensor-codec.ts';
import { encodeItem } from '../model/features.ts';
import type { EncodedItem } from '../model/features.ts';
import { sameItem } from '../model/personal.ts';
import { Ranker } from '../model/ranker.ts';
import { DEFAULT_SPEC, initGlobalParams, mulberry32, paramCount, tableRows } from '../model/spec.ts';
import type { ModelSpec } from '../model/spec.ts';
import type { TrainingConfig } from '../protocol.ts';
import {
  buildExamples,
  isSingleStep,
  makeUpdatePayload,
  sampleSharedNegatives,
  sparseToDense,
  trainLocal,
  trainLocalAsync,
  trainLocalBatched,
} from './local-update.ts';
import { afterEach, vi } from 'vitest';
import type { Interaction, SparseDelta } from './local-update.ts';
import type { TrainingExample } from '../model/ranker.ts';

const spec: ModelSpec = { ...DEFAULT_SPEC, itemBuckets: 512, attrBuckets: 64, queryBuckets: 64, dim: 16 };
const catalog: EncodedItem[] = Array.from({ length: 50 }, (_, i) =>
  encodeItem(spec, { id: `p${i}`, category: `c${i % 5}` }),
);
const config: TrainingConfig = {
  clipNorm: 1,
  noiseMultiplier: 0,
  noiseMode: 'local',
  expectedClientsPerRound: 10,
  localEpochs: 2,
  learningRate: 0.2,
  batchSize: 4,
  sharedNegatives: 0,
  lossReduction: 'mean',
  minNewEvents: 1,
  updateEncoding: 'f32',
};

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('buildExamples', () => {
  const log: Interaction[] = [
    { item: catalog[1]!, kind: 'impression', time: 1 },
    { item: catalog[2]!, kind: 'impression', time: 2 },
    { item: catalog[3]!, kind: 'impression', time: 3 },
    { item: catalog[2]!, kind: 'click', time: 4, query: [7] },
    { item: catalog[2]!, kind: 'purchase', time: 5 },
    { item: catalog[9]!, kind: 'impression', time: 6 },
    { item: catalog[4]!, kind: 'cart', time: 7 },
    { item: catalog[8]!, kind: 'impression', time: 8 },
  ];

  it('makes one example per positive step with skipped impressions as negatives', () => {
    const ex = buildExamples(spec, [...log].reverse(), catalog, mulberry32(1), { sampledNegatives: 5 });
    expect(ex).toHaveLength(2);
    const [a, b] = ex as [(typeof ex)[0], (typeof ex)[0]];
    expect(a.positive).toEqual(catalog[2]);
    expect(a.context.history).toEqual([]);
    expect(a.context.query).toEqual([7]);
    // Shown and skipped: 1 and 3 (2 was chosen).
    expect(a.negatives.slice(0, 2)).toEqual([catalog[1], catalog[3]]);
    expect(a.negatives).toHaveLength(7);
    expect(b.positive).toEqual(catalog[4]);
    expect(b.context.history).toEqual([catalog[2]]);
    expect(b.negatives[0]).toEqual(catalog[9]);
    for (const e of ex) {
      for (const n of e.negatives) {
        expect(sameItem(n, e.positive)).toBe(false);
        expect(e.context.history.some((h) => sameItem(h, n))).toBe(false);
      }
    }
  });

  it('builds nothing from impressions only, and copes with an empty pool', () => {
    expect(
      buildExamples(
        spec,
        log.filter((e) => e.kind === 'impression'),
        catalog,
        Math.random,
      ),
    ).toEqual([]);
    const ex = buildExamples(spec, log, [], Math.random, { sampledNegatives: 5 });
    expect(ex[0]!.negatives).toHaveLength(2);
  });
});

describe('trainLocal and makeUpdatePayload', () => {
  const clicks: Interaction[] = [0, 5, 10, 15, 20, 25].map((i, t) => ({
    item: catalog[i]!,
    kind: 'click',
    time: t,
  }));

  it('returns delta = local - global and keeps tensors at baseline', () => {
    const before = tf.memory().numTensors;
    const global = initGlobalParams(spec, 4);
    const ranker = new Ranker(spec, global);
    const examples = buildExamples(spec, clicks, catalog, mulberry32(2));
    const { delta, loss } = trainLocal(ranker, global, examples, config);
    const local = ranker.getGlobal();
    expect(delta.length).toBe(paramCount(spec));
    for (let i = 0; i < delta.length; i += 97) expect(delta[i]).toBeCloseTo(local[i]! - global[i]!, 6);
    expect(delta.some((v) => v !== 0)).toBe(true);
    expect(Number.isFinite(loss) && loss > 0).toBe(true);
    // The input global vector is untouched.
    expect(global).toEqual(initGlobalParams(spec, 4));
    ranker.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('trainLocalAsync runs the same steps, yielding between mini-batches, with no tensors left', async () => {
    const before = tf.memory().numTensors;
    const global = initGlobalParams(spec, 4);
    const examples = buildExamples(spec, clicks, catalog, mulberry32(2));
    // The same shuffle for both runs: the two variants must then give the same update.
    const seeded = (): void => {
      const rnd = mulberry32(9);
      vi.spyOn(Math, 'random').mockImplementation(rnd);
    };
    const a = new Ranker(spec, global);
    seeded();
    const sync = trainLocal(a, global, examples, config);
    vi.restoreAllMocks();
    const b = new Ranker(spec, global);
    seeded();
    let yields = 0;
    const asyncR = await trainLocalAsync(b, global, examples, config, async () => {
      yields++;
      await new Promise<void>((r) => setTimeout(r, 0));
    });
    vi.restoreAllMocks();
    expect(yields).toBe(config.localEpochs * Math.ceil(examples.length / config.batchSize));
    expect(asyncR.loss).toBeCloseTo(sync.loss, 5);
    for (let i = 0; i < sync.delta.length; i += 31) expect(asyncR.delta[i]).toBeCloseTo(sync.delta[i]!, 5);
    a.dispose();
    b.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a spec with hostile catalog weights changes the local step, not the clip of what is sent', () => {
    // docs/privacy.md: a server may publish any attrWeights; the guarantee rests on the clip and noise alone.
    const hostile: ModelSpec = {
      ...spec,
      personalWeight: 100,
      attrWeights: new Array(spec.attrBuckets).fill(1000),
    };
    const global = initGlobalParams(spec, 4);
    const h = { modelId: 'seqdot-v1-test', baseVersion: 0, round: 1 };
    const sent = (s: ModelSpec): Float32Array => {
      const ranker = new Ranker(s, global);
      const examples = buildExamples(s, clicks, catalog, mulberry32(2));
      const { delta } = trainLocal(ranker, global, examples, { ...config, learningRate: 50 });
      ranker.dispose();
      return decodeTensor(makeUpdatePayload(delta, config, h).body, { maxCount: delta.length }).values;
    };
    const plain = sent(spec);
    const attacked = sent(hostile);
    expect(attacked.some((v, i) => Math.abs(v - plain[i]!) > 1e-6)).toBe(true);
    for (const v of [plain, attacked]) {
      expect(Math.sqrt(v.reduce((a, x) => a + x * x, 0))).toBeLessThanOrEqual(config.clipNorm * (1 + 1e-5));
    }
  });

  it('encodes a clipped update that decodes to the privatized delta', () => {
    const delta = new Float32Array(paramCount(spec)).map((_, i) => (i % 3) - 1);
    const h = { modelId: 'seqdot-v1-test', baseVersion: 3, round: 4 };
    const { body, preClipNorm, noiseStd } = makeUpdatePayload(delta, config, h);
    expect(noiseStd).toBe(0);
    expect(preClipNorm).toBeCloseTo(Math.sqrt(delta.reduce((s, v) => s + v * v, 0)), 2);
    const { header, values } = decodeTensor(body, { maxCount: delta.length });
    expect(header).toMatchObject({ kind: 'delta', ...h, count: delta.length, encoding: 'f32' });
    const norm = Math.sqrt(values.reduce((s, v) => s + v * v, 0));
    expect(norm).toBeCloseTo(config.clipNorm, 4);
    const i8 = makeUpdatePayload(delta, { ...config, updateEncoding: 'i8', noiseMultiplier: 1 }, h);
    expect(i8.noiseStd).toBeGreaterThan(0);
    expect(i8.body.length).toBeLessThan(body.length / 3.5);
  });
});

describe('sampleSharedNegatives', () => {
  it('draws count distinct pool items, consuming one uniform each, or returns the whole pool', () => {
    let calls = 0;
    const rnd = mulberry32(5);
    const counted = (): number => (calls++, rnd());
    for (const count of [0, 1, 7, 49]) {
      calls = 0;
      const got = sampleSharedNegatives(catalog, count, counted);
      expect(got).toHaveLength(count);
      expect(new Set(got).size).toBe(count);
      for (const it of got) expect(catalog).toContain(it);
      expect(calls).toBe(count);
    }
    for (const count of [50, 51, 4096]) {
      calls = 0;
      const all = sampleSharedNegatives(catalog, count, counted);
      expect(all).toEqual(catalog);
      expect(all).not.toBe(catalog); // a copy: callers may not alias the pool
      expect(calls).toBe(0);
    }
    expect(sampleSharedNegatives([], 3, counted)).toEqual([]);
  });

  it('includes every item with probability count / pool size', () => {
    // Uniform sampling without replacement includes each item with probability p = 5/50, independently
    // across draws: an item's count over T draws is Binomial(T, p), sd = sqrt(T p (1-p)) = 42.4 for T = 20k.
    const T = 20_000;
    const k = 5;
    const p = k / catalog.length;
    const index = new Map(catalog.map((it, i) => [it, i]));
    const freq = new Array<number>(catalog.length).fill(0);
    const rnd = mulberry32(11);
    for (let t = 0; t < T; t++)
      for (const it of sampleSharedNegatives(catalog, k, rnd)) freq[index.get(it)!]!++;
    const sd = Math.sqrt(T * p * (1 - p));
    // 5 sd: a false alarm for one of 50 items has probability ~ 50 * 5.7e-7 (and the seed is fixed).
    for (const f of freq) expect(Math.abs(f - T * p)).toBeLessThan(5 * sd);
    // Not all stuck at the mean either (a degenerate round-robin would be): the spread looks binomial.
    const variance = freq.reduce((s, f) => s + (f - T * p) ** 2, 0) / freq.length;
    expect(variance).toBeGreaterThan(0.3 * sd * sd);
    expect(variance).toBeLessThan(3 * sd * sd);
  });
});

describe('shared negatives in local training', () => {
  const D = spec.dim + 1;
  /** Single-step training: one epoch, every client's examples in one batch. */
  const single: TrainingConfig = { ...config, localEpochs: 1, batchSize: 8, sharedNegatives: 6 };
  // A small pool that the clients' positives and histories come from, so masking is exercised.
  const pool = catalog.slice(0, 12);

  /** A client with `n` examples: clicks on pool items (no two in a row alike), skipped impressions. */
  function clientExamples(seed: number, n: number): TrainingExample[] {
    const rnd = mulberry32(seed);
    const log: Interaction[] = [];
    let prev = -1;
    for (let k = 0; k < n; k++) {
      let i = Math.floor(rnd() * pool.length);
      if (i === prev) i = (i + 1) % pool.length;
      prev = i;
      log.push({ item: catalog[20 + ((seed + k) % 30)]!, kind: 'impression', time: 2 * k });
      log.push({ item: pool[i]!, kind: 'click', time: 2 * k + 1, ...(k % 2 ? { query: [k] } : {}) });
    }
    const ex = buildExamples(spec, log, catalog, mulberry32(seed + 100), { sampledNegatives: 2 });
    expect(ex).toHaveLength(n);
    return ex;
  }

  /** A sparse delta as a full parameter vector. */
  const denseOf = (d: SparseDelta): Float32Array => sparseToDense(d, paramCount(spec), D);

  /** A random source that has already given `skip` uniforms of mulberry32(seed). */
  function advanced(seed: number, skip: number): () => number {
    const rnd = mulberry32(seed);
    for (let i = 0; i < skip; i++) rnd();
    return rnd;
  }

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each([
    ['one common draw', true, 'mean'],
    ['a draw per client', false, 'mean'],
    ['one common draw, summed losses', true, 'sum'],
  ] as const)(
    "trainLocalBatched gives each client trainLocal's delta and loss (%s)",
    (_, common, reduction) => {
      vi.spyOn(Math, 'random').mockImplementation(mulberry32(21)); // trainLocal's shuffle
      const t: TrainingConfig = { ...single, lossReduction: reduction };
      const sizes = [1, 3, 5, 8];
      const clients = sizes.map((n, c) => clientExamples(30 + c, n));
      for (const ex of clients) expect(isSingleStep(ex.length, t)).toBe(true);
      const global = initGlobalParams(spec, 6);
      const before = tf.memory().numTensors;
      const ranker = new Ranker(spec, global);
      const withRanker = tf.memory().numTensors;
      const seed = 77;
      const got = trainLocalBatched(ranker, global, clients, t, { pool, random: mulberry32(seed) }, common);
      expect(tf.memory().numTensors).toBe(withRanker);
      expect(got).toHaveLength(clients.length);
      const lr = t.learningRate;
      clients.forEach((examples, c) => {
        const d = got[c]!;
        expect(new Set(d.rows).size).toBe(d.rows.length);
        expect(d.rowValues).toHaveLength(d.rows.length * D);
        expect(d.dense).toHaveLength(paramCount(spec) - tableRows(spec) * D);
        // The same draw trainLocal would make: the common one is the first; otherwise clients draw in order,
        // each consuming one uniform per negative (the pool is larger than sharedNegatives).
        const skip = common ? 0 : c * t.sharedNegatives;
        const want = trainLocal(ranker, global, examples, t, { pool, random: advanced(seed, skip) });
        const gotDense = denseOf(d);
        let maxErr = 0;
        let maxAbs = 0;
        for (let i = 0; i < gotDense.length; i++) {
          maxErr = Math.max(maxErr, Math.abs(gotDense[i]! - want.delta[i]!));
          maxAbs = Math.max(maxAbs, Math.abs(want.delta[i]!));
        }
        expect(maxAbs).toBeGreaterThan(1e-4);
        // float32 round-off of local - global (|w| ~ 1) bounds the difference.
        expect(maxErr).toBeLessThan(1e-5 * lr);
        expect(d.loss).toBeCloseTo(want.loss, 5);
      });
      // The shared negatives matter: without them every client's loss is lower.
      const none = trainLocalBatched(
        ranker,
        global,
        clients,
        { ...t, sharedNegatives: 0 },
        { pool, random: mulberry32(seed) },
      );
      none.forEach((d, c) => expect(d.loss).toBeLessThan(got[c]!.loss));
      expect(trainLocalBatched(ranker, global, [], t)).toEqual([]);
      ranker.dispose();
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it("'sum' weighs a client by its examples: its delta is n times the 'mean' delta, its loss the same", () => {
    const clients = [1, 3, 8].map((n, c) => clientExamples(50 + c, n));
    const global = initGlobalParams(spec, 6);
    const before = tf.memory().numTensors;
    const ranker = new Ranker(spec, global);
    const run = (lossReduction: 'mean' | 'sum'): SparseDelta[] =>
      trainLocalBatched(
        ranker,
        global,
        clients,
        { ...single, lossReduction },
        { pool, random: mulberry32(5) },
        true,
      );
    const mean = run('mean');
    const sum = run('sum');
    clients.forEach((ex, c) => {
      const m = denseOf(mean[c]!);
      const su = denseOf(sum[c]!);
      let maxErr = 0;
      let maxAbs = 0;
      for (let i = 0; i < m.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(su[i]! - ex.length * m[i]!));
        maxAbs = Math.max(maxAbs, Math.abs(su[i]!));
      }
      expect(maxAbs).toBeGreaterThan(1e-4);
      expect(maxErr).toBeLessThan(1e-5 * maxAbs);
      expect(sum[c]!.loss).toBeCloseTo(mean[c]!.loss, 6);
    });
    // trainLocal (a step through Ranker.train) reports the mean loss under 'sum' too.
    const t = { ...single, lossReduction: 'sum' as const };
    const want = trainLocal(ranker, global, clients[2]!, t, { pool, random: mulberry32(5) });
    expect(want.loss).toBeCloseTo(sum[2]!.loss, 5);
    ranker.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('trainLocalBatched refuses a client that trains more than one step', () => {
    const global = initGlobalParams(spec, 6);
    const before = tf.memory().numTensors;
    const ranker = new Ranker(spec, global);
    const ok = clientExamples(40, 2);
    const big = clientExamples(41, single.batchSize + 1);
    expect(isSingleStep(big.length, single)).toBe(false);
    expect(() => trainLocalBatched(ranker, global, [ok, big], single)).toThrow(RangeError);
    expect(() => trainLocalBatched(ranker, global, [ok, []], single)).toThrow(RangeError);
    expect(() => trainLocalBatched(ranker, global, [ok], { ...single, localEpochs: 2 })).toThrow(RangeError);
    ranker.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('trainLocal scores a fresh draw of t.sharedNegatives pool items each step', () => {
    vi.spyOn(Math, 'random').mockImplementation(mulberry32(22));
    const examples = clientExamples(50, 6);
    const global = initGlobalParams(spec, 6);
    const ranker = new Ranker(spec, global);
    const t = { ...single, sharedNegatives: 5 };
    // Single step: exactly Ranker.train with the negatives the pool's random source yields.
    const got = trainLocal(ranker, global, examples, t, { pool: catalog, random: mulberry32(3) });
    ranker.setGlobal(global);
    const shared = sampleSharedNegatives(catalog, 5, mulberry32(3));
    const loss = ranker.train(examples, { learningRate: t.learningRate, sharedNegatives: shared });
    const after = ranker.getGlobal();
    expect(got.loss).toBeCloseTo(loss, 5);
    let maxErr = 0;
    for (let i = 0; i < after.length; i++)
      maxErr = Math.max(maxErr, Math.abs(got.delta[i]! - (after[i]! - global[i]!)));
    expect(maxErr).toBeLessThan(1e-6);
    // Without shared negatives (none asked for, or no pool) the loss is the lower per-example one.
    const off = trainLocal(
      ranker,
      global,
      examples,
      { ...t, sharedNegatives: 0 },
      { pool: catalog, random: mulberry32(3) },
    );
    const noPool = trainLocal(ranker, global, examples, t);
    expect(got.loss).toBeGreaterThan(off.loss + 1e-3);
    expect(noPool.loss).toBeCloseTo(off.loss, 5);
    // Several steps: one draw of sharedNegatives uniforms per step (2 epochs x 2 batches).
    let calls = 0;
    const rnd = mulberry32(4);
    const multi = { ...t, localEpochs: 2, batchSize: 3 };
    trainLocal(ranker, global, examples, multi, { pool: catalog, random: () => (calls++, rnd()) });
    expect(calls).toBe(4 * t.sharedNegatives);
    ranker.dispose();
  });
});

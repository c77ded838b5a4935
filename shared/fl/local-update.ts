/**
 * The on-device learner: turns the shopper's own interaction log into training examples, trains the
 * global model locally, and packages the private update (delta clipped, noised, encoded). Shared by the
 * browser worker and the offline evaluation, so both run exactly this code.
 */
import { encodeTensor } from '../codec/tensor-codec.ts';
import { privatizeDelta } from '../dp/privatize.ts';
import type { EncodedItem } from '../model/features.ts';
import { emptyPersonal, sameItem, updatePersonal } from '../model/personal.ts';
import type { ExampleGroup, Ranker, TrainingExample, TrainOptions } from '../model/ranker.ts';
import type { ModelSpec } from '../model/spec.ts';
import type { TrainingConfig } from '../protocol.ts';

import type { Interaction } from '../model/personal.ts';
export type { Interaction };

/** Knobs of example building beyond the spec. */
export interface ExampleOptions {
  /** Negatives sampled from the pool per example (default 16). */
  sampledNegatives?: number;
  /** Shown-but-skipped items used per example at most (default 8). */
  maxSkipped?: number;
}

/**
 * Training examples from a log: each click/cart/purchase is a positive whose context is the positives
 * before it; items shown since the previous positive and never chosen are its negatives, topped up with
 * items sampled from `negativePool` (never the positive itself or the shopper's history).
 */
export function buildExamples(
  spec: ModelSpec,
  log: Interaction[],
  negativePool: EncodedItem[],
  random: () => number,
  opts: ExampleOptions = {},
): TrainingExample[] {
  const nSampled = opts.sampledNegatives ?? 16;
  const maxSkipped = opts.maxSkipped ?? 8;
  const events = [...log].sort((a, b) => a.time - b.time);
  // Items are compared by their id rows (keys), so long logs stay linear.
  const key = (it: EncodedItem): string => it.ids.join(',');
  const chosen = new Set(events.filter((e) => e.kind !== 'impression').map((e) => key(e.item)));
  const out: TrainingExample[] = [];
  let personal = emptyPersonal(spec);
  let shown: EncodedItem[] = [];
  let shownKeys = new Set<string>();
  for (const ev of events) {
    if (ev.kind === 'impression') {
      const k = key(ev.item);
      if (!chosen.has(k) && !shownKeys.has(k)) {
        shown.push(ev.item);
        shownKeys.add(k);
      }
      continue;
    }
    const history = personal.history;
    if (!(history.length > 0 && sameItem(history[history.length - 1]!, ev.item))) {
      const negatives = shown.slice(-maxSkipped);
      const avoid = (it: EncodedItem): boolean =>
        sameItem(it, ev.item) ||
        history.some((h) => sameItem(h, it)) ||
        negatives.some((n) => sameItem(n, it));
      const want = negatives.length + nSampled;
      for (let tries = 0; negatives.length < want && tries < 4 * nSampled; tries++) {
        if (negativePool.length === 0) break;
        const cand = negativePool[Math.floor(random() * negativePool.length)]!;
        if (!avoid(cand)) negatives.push(cand);
      }
      const context = ev.query ? { history, query: ev.query, personal } : { history, personal };
      out.push({ context, positive: ev.item, negatives });
    }
    personal = updatePersonal(spec, personal, ev);
    shown = [];
    shownKeys = new Set();
  }
  return out;
}

/**
 * Up to `count` distinct items of `pool`, drawn uniformly without replacement: the negatives one local
 * step's examples share (all of the pool when it is smaller).
 */
export function sampleSharedNegatives(
  pool: readonly EncodedItem[],
  count: number,
  random: () => number,
): EncodedItem[] {
  const n = pool.length;
  if (count >= n) return [...pool];
  // Partial Fisher-Yates over virtual indices: O(count) whatever the pool size.
  const swapped = new Map<number, number>();
  const out: EncodedItem[] = [];
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (n - i));
    const pick = swapped.get(j) ?? j;
    swapped.set(j, swapped.get(i) ?? i);
    out.push(pool[pick]!);
  }
  return out;
}

/** Where a client's shared negatives come from: the catalog items it knows, and the draw's randomness. */
export interface NegativeSource {
  pool: readonly EncodedItem[];
  random: () => number;
}

const NO_NEGATIVES: NegativeSource = { pool: [], random: Math.random };

/**
 * Local training: starts the ranker from `global`, runs t.localEpochs of SGD over shuffled mini-batches of
 * t.batchSize (each step scoring t.sharedNegatives items drawn from `negatives`), and returns delta =
 * local - global with the mean loss of the last epoch. The ranker keeps the local parameters afterwards
 * (call setGlobal to go back).
 */
export function trainLocal(
  ranker: Ranker,
  global: Float32Array,
  examples: TrainingExample[],
  t: TrainingConfig,
  negatives: NegativeSource = NO_NEGATIVES,
): { delta: Float32Array; loss: number } {
  ranker.setGlobal(global);
  const steps = trainSteps(examples, t);
  let r = steps.next();
  while (!r.done) r = steps.next(ranker.train(r.value, stepOptions(t, negatives)));
  return { delta: deltaOf(ranker.getGlobal(), global), loss: r.value };
}

/** The options of one local SGD step, with freshly drawn shared negatives. */
function stepOptions(t: TrainingConfig, negatives: NegativeSource): TrainOptions {
  return {
    learningRate: t.learningRate,
    sharedNegatives: drawShared(t, negatives),
    lossReduction: t.lossReduction,
  };
}

/** One step's draw of t.sharedNegatives items from the source. */
function drawShared(t: TrainingConfig, negatives: NegativeSource): EncodedItem[] {
  return sampleSharedNegatives(negatives.pool, t.sharedNegatives, negatives.random);
}

/** True when trainLocal on `examples` examples is exactly one SGD step over all of them. */
export function isSingleStep(examples: number, t: TrainingConfig): boolean {
  return examples > 0 && t.localEpochs === 1 && examples <= t.batchSize;
}

/** A local delta that is zero except on some embedding-table rows and on the dense blocks after the table. */
export interface SparseDelta {
  /** Table rows (each once); row r occupies flat indices [r*width, (r+1)*width). */
  rows: Int32Array;
  /** Their delta values, rows.length x width. */
  rowValues: Float32Array;
  /** Delta of every parameter after the table, in layout order. */
  dense: Float32Array;
  loss: number;
}

/** A sparse delta as the full vector of `n` parameters a device uploads (table rows `width` wide). */
export function sparseToDense(d: SparseDelta, n: number, width: number): Float32Array {
  const out = new Float32Array(n);
  d.rows.forEach((r, k) => out.set(d.rowValues.subarray(k * width, (k + 1) * width), r * width));
  out.set(d.dense, n - d.dense.length);
  return out;
}

/**
 * trainLocal for many clients at once, each of which trains exactly one SGD step (isSingleStep): every
 * client's delta -lr * grad of its own loss (t.lossReduction) comes from one batched backward pass
 * (Ranker.clientGradients). Same math as trainLocal per client; the offline simulation's fast path.
 * With `commonNegatives`, all clients of the call score one draw of shared negatives (common random
 * numbers): each client's delta has exactly trainLocal's distribution, draws are merely not independent
 * across clients, and the call costs about one centralized step instead of one per client.
 */
export function trainLocalBatched(
  ranker: Ranker,
  global: Float32Array,
  clients: TrainingExample[][],
  t: TrainingConfig,
  negatives: NegativeSource = NO_NEGATIVES,
  commonNegatives = false,
): SparseDelta[] {
  for (const ex of clients) {
    if (!isSingleStep(ex.length, t)) throw new RangeError('trainLocalBatched takes single-step clients only');
  }
  ranker.setGlobal(global);
  const common = commonNegatives ? drawShared(t, negatives) : null;
  const groups: ExampleGroup[] = clients.map((examples) => ({
    examples,
    sharedNegatives: common ?? drawShared(t, negatives),
    reduction: t.lossReduction,
  }));
  const lr = -t.learningRate;
  return ranker.clientGradients(groups).map((g) => {
    for (let i = 0; i < g.rowGrads.length; i++) g.rowGrads[i] = g.rowGrads[i]! * lr;
    for (let i = 0; i < g.dense.length; i++) g.dense[i] = g.dense[i]! * lr;
    return { rows: g.rows, rowValues: g.rowGrads, dense: g.dense, loss: g.loss };
  });
}

/**
 * trainLocal() made cooperative: the same steps, with asynchronous read-backs, awaiting `yieldFn` between
 * mini-batches so that a worker can serve other requests (rank()) while training.
 */
export async function trainLocalAsync(
  ranker: Ranker,
  global: Float32Array,
  examples: TrainingExample[],
  t: TrainingConfig,
  yieldFn: () => Promise<void>,
  negatives: NegativeSource = NO_NEGATIVES,
): Promise<{ delta: Float32Array; loss: number }> {
  ranker.setGlobal(global);
  const steps = trainSteps(examples, t);
  let r = steps.next();
  while (!r.done) {
    const loss = await ranker.trainAsync(r.value, stepOptions(t, negatives));
    await yieldFn();
    r = steps.next(loss);
  }
  return { delta: deltaOf(await ranker.getGlobalAsync(), global), loss: r.value };
}

/**
 * The local training schedule shared by both variants: yields the mini-batches of t.localEpochs shuffled
 * epochs, takes each batch's mean loss back, and returns the mean loss of the last epoch.
 */
export function* trainSteps(
  examples: TrainingExample[],
  t: TrainingConfig,
): Generator<TrainingExample[], number, number> {
  let loss = 0;
  const order = examples.map((_, i) => i);
  const bs = Math.max(1, Math.floor(t.batchSize));
  for (let epoch = 0; epoch < t.localEpochs; epoch++) {
    // Fisher-Yates; the order needs no secrecy, so Math.random suffices.
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let sum = 0;
    let n = 0;
    for (let s = 0; s < order.length; s += bs) {
      const batch = order.slice(s, s + bs).map((i) => examples[i]!);
      sum += (yield batch) * batch.length;
      n += batch.length;
    }
    loss = n > 0 ? sum / n : 0;
  }
  return loss;
}

/** delta = local - global. */
function deltaOf(local: Float32Array, global: Float32Array): Float32Array {
  const delta = new Float32Array(local.length);
  for (let i = 0; i < local.length; i++) delta[i] = local[i]! - global[i]!;
  return delta;
}

/** The upload body: the delta clipped and noised as `t` says, then encoded with t.updateEncoding. */
export function makeUpdatePayload(
  delta: Float32Array,
  t: TrainingConfig,
  h: { modelId: string; baseVersion: number; round: number },
): { body: Uint8Array; preClipNorm: number; noiseStd: number } {
  const { noised, preClipNorm, noiseStd } = privatizeDelta(delta, t);
  const body = encodeTensor(
    {
      kind: 'delta',
      modelId: h.modelId,
      baseVersion: h.baseVersion,
      round: h.round,
      encoding: t.updateEncoding,
    },
    noised,
  );
  return { body, preClipNorm, noiseStd };
}

/**
 * Fast full-ranking evaluation: every evaluated shopper's target is ranked against the whole catalog.
 * The model's scores are one matrix product (userVectors x itemVectors^T, both from the product's Ranker)
 * plus the on-device affinity bonus, added sparsely per attribute row; a built-in check compares the result
 * with Ranker.score() so the shortcut can never silently drift from what the product ranks.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { EncodedItem } from '../shared/model/features.ts';
import { affinityScore, emptyPersonal, updatePersonal } from '../shared/model/personal.ts';
import type { PersonalState } from '../shared/model/personal.ts';
import type { Ranker, UserContext } from '../shared/model/ranker.ts';
import type { ModelSpec } from '../shared/model/spec.ts';
import { MetricAccumulator, rankInRow } from './metrics.ts';
import type { RankingMetrics } from './metrics.ts';
import type { EvalCase } from './split.ts';

/** Scores a chunk of cases against all N catalog items: a row-major cases.length x N matrix. */
export type ChunkScorer = (cases: EvalCase[]) => Float32Array;

/**
 * Ranks every case's target with `scorer`, `chunk` shoppers at a time; `ranks`, when given, receives each
 * case's expected rank (candidates above plus half the ties).
 */
export function evaluateCases(
  scorer: ChunkScorer,
  cases: readonly EvalCase[],
  numItems: number,
  chunk = 512,
  ranks?: Float64Array,
): RankingMetrics {
  const acc = new MetricAccumulator();
  for (let s = 0; s < cases.length; s += chunk) {
    const part = cases.slice(s, s + chunk);
    const scores = scorer(part);
    for (let i = 0; i < part.length; i++) {
      const c = part[i]!;
      const { greater, ties } = rankInRow(
        scores.subarray(i * numItems, (i + 1) * numItems),
        c.target,
        c.history,
      );
      acc.add(greater, ties);
      if (ranks) ranks[s + i] = greater + ties / 2;
    }
  }
  return acc.result();
}

/** The personal state a device would hold after these purchases (the product's updatePersonal). */
export function personalFromHistory(spec: ModelSpec, history: readonly EncodedItem[]): PersonalState {
  let p = emptyPersonal(spec);
  for (let i = 0; i < history.length; i++) {
    p = updatePersonal(spec, p, { item: history[i]!, kind: 'purchase', time: i + 1 });
  }
  return p;
}

/** What the model sees for a shopper: history items (last spec.maxHistory) and the personal state. */
export function contextOf(
  spec: ModelSpec,
  encoded: readonly EncodedItem[],
  history: ArrayLike<number>,
): UserContext {
  const from = Math.max(0, history.length - spec.maxHistory);
  const items: EncodedItem[] = [];
  for (let i = from; i < history.length; i++) items.push(encoded[history[i]!]!);
  return { history: items, personal: personalFromHistory(spec, items) };
}

/**
 * A scorer for the product's Ranker over the encoded catalog. Item vectors are computed once (the model
 * must not change while the scorer is in use); call `dispose()` afterwards.
 */
export function rankerScorer(
  ranker: Ranker,
  encoded: readonly EncodedItem[],
): { scorer: ChunkScorer; dispose: () => void } {
  const spec = ranker.spec;
  const N = encoded.length;
  const iv = ranker.itemVectors(encoded as EncodedItem[]);
  const dim = iv.length / N;
  // Pre-transposed [dim, N]: WASM's matMul with transposeB is ~10x slower than with a plain right operand.
  const itemsT = tf.tidy(() => tf.transpose(tf.tensor2d(iv, [N, dim])));
  // Attribute row -> catalog items carrying it, for the sparse affinity bonus.
  const postings = new Map<number, number[]>();
  encoded.forEach((it, j) => {
    for (const r of it.attrs) {
      let list = postings.get(r);
      if (!list) postings.set(r, (list = []));
      list.push(j);
    }
  });
  const scorer: ChunkScorer = (cases) => {
    const ctxs = cases.map((c) => contextOf(spec, encoded, c.history));
    const uv = ranker.userVectors(ctxs);
    // Read outside tidy: tidy walks a returned typed array element by element looking for tensors (slow).
    const prod = tf.tidy(() => tf.matMul(tf.tensor2d(uv, [cases.length, dim]), itemsT));
    const out = prod.dataSync() as Float32Array;
    prod.dispose();
    const scores = out instanceof Float32Array ? out : Float32Array.from(out);
    if (spec.personalWeight > 0) {
      ctxs.forEach((ctx, i) => {
        const p = ctx.personal;
        if (!p) return;
        const row = scores.subarray(i * N, (i + 1) * N);
        for (const key of Object.keys(p.affinity)) {
          const r = Number(key);
          // affinityScore is additive over an item's attribute rows, so each row's share is scored alone.
          const w = spec.personalWeight * affinityScore(p, { ids: [], attrs: [r] });
          for (const j of postings.get(r) ?? []) row[j]! += w;
        }
      });
    }
    return scores;
  };
  return { scorer, dispose: () => itemsT.dispose() };
}

/**
 * Largest absolute difference between the fast scorer and Ranker.score() over the full catalog for the
 * given cases (the evaluation refuses to run when it is not tiny).
 */
export function scorerDiscrepancy(
  ranker: Ranker,
  encoded: readonly EncodedItem[],
  scorer: ChunkScorer,
  cases: EvalCase[],
): number {
  const fast = scorer(cases);
  const N = encoded.length;
  let worst = 0;
  cases.forEach((c, i) => {
    const ref = ranker.score(contextOf(ranker.spec, encoded, c.history), encoded as EncodedItem[]);
    for (let j = 0; j < N; j++) {
      const scale = Math.max(1, Math.abs(ref[j]!));
      worst = Math.max(worst, Math.abs(ref[j]! - fast[i * N + j]!) / scale);
    }
  });
  return worst;
}

/** Evaluates the ranker on the cases (full ranking), after checking the fast path against score(). */
export function evaluateRanker(
  ranker: Ranker,
  encoded: readonly EncodedItem[],
  cases: readonly EvalCase[],
  check = true,
  ranks?: Float64Array,
): RankingMetrics {
  const { scorer, dispose } = rankerScorer(ranker, encoded);
  try {
    if (check && cases.length > 0) {
      const gap = scorerDiscrepancy(ranker, encoded, scorer, cases.slice(0, 2));
      if (!(gap < 1e-3)) throw new Error(`fast full-ranking scores differ from Ranker.score() by ${gap}`);
    }
    return evaluateCases(scorer, cases, encoded.length, 512, ranks);
  } finally {
    dispose();
  }
}

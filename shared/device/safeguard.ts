/**
 * The safeguard: a global model never makes this device's ranking worse than its own on-device
 * personalization. Each held-out positive (scored by the federated evaluation in examples.ts) is ranked
 * again under `weight * model + personal bonus` for a few weights; the device ranks with the weight whose
 * NDCG@10 on its own events is best. Pure: no tensors, no I/O.
 */

/** One held-out positive: scores of [positive, ...other candidates] under the global model and the bonus. */
export interface HeldOutExample {
  /** Global model scores (without the personal bonus); index 0 is the positive. */
  model: Float64Array;
  /** The on-device personal bonus (spec.personalWeight * affinity) of the same candidates. */
  bonus: Float64Array;
}

/** Weights of the global model the device chooses from: 0 is on-device personalization alone. */
export const GLOBAL_WEIGHTS: readonly number[] = [0, 0.25, 0.5, 0.75, 1];

/**
 * Held-out positives needed before the measured weight replaces the prior. Five: fewer is one or two
 * lucky clicks; the small shop showed the harm after five.
 */
export const SAFEGUARD_MIN_EXAMPLES = 5;

/**
 * The weight before the device has measured anything: 1, the global model in full. A shopper with no
 * clicks has no personalization to protect (alone it is the shop's own order), and the global model is
 * what federated learning offers a new shopper; after SAFEGUARD_MIN_EXAMPLES clicks the device's own
 * measurement decides.
 */
export const SAFEGUARD_PRIOR = 1;

/** The device's ranking score: `weight * model + bonus`, per candidate (rank() and the safeguard). */
export function blendScores(
  model: ArrayLike<number>,
  bonus: ArrayLike<number>,
  weight: number,
): Float64Array {
  const out = new Float64Array(model.length);
  for (let i = 0; i < out.length; i++) out[i] = weight * model[i]! + bonus[i]!;
  return out;
}

/**
 * 0-based rank of the positive (index 0) under `weight * model + bonus`. Ties count half, the expected
 * rank under a random tie-break: with no information at all the positive is not ranked first for free.
 */
export function heldOutRank(ex: HeldOutExample, weight: number): number {
  const scores = blendScores(ex.model, ex.bonus, weight);
  const s0 = scores[0]!;
  let above = 0;
  let ties = 0;
  for (let j = 1; j < scores.length; j++) {
    const s = scores[j]!;
    if (s > s0) above++;
    else if (s === s0) ties++;
  }
  return above + ties / 2;
}

/** Sums of hits@10 and NDCG@10 over the examples at one weight. */
export interface HeldOutMetrics {
  examples: number;
  hitsAt10: number;
  ndcgAt10: number;
}

/** hits@10 and NDCG@10 of the examples ranked under `weight` (1: the global model plus the bonus). */
export function heldOutMetrics(examples: readonly HeldOutExample[], weight: number): HeldOutMetrics {
  let hits = 0;
  let ndcg = 0;
  for (const ex of examples) {
    const r = heldOutRank(ex, weight);
    if (r < 10) {
      hits++;
      ndcg += 1 / Math.log2(r + 2);
    }
  }
  return { examples: examples.length, hitsAt10: hits, ndcgAt10: ndcg };
}

/** What the safeguard decided, for status() and tests. */
export interface SafeguardDecision {
  /** Weight of the global model's score in this device's ranking, in [0, 1]. */
  weight: number;
  /** Held-out positives it was measured on. */
  examples: number;
  /** NDCG@10 sums with the global model in full (1) and with on-device personalization alone (0). */
  ndcgGlobal: number;
  ndcgPersonal: number;
}

/**
 * The weight of the global model: the prior below `minExamples` held-out positives, else the weight in
 * GLOBAL_WEIGHTS with the best NDCG@10 (ties go to the larger weight: the global model is kept where it
 * is measured no worse).
 */
export function chooseGlobalWeight(
  examples: readonly HeldOutExample[],
  minExamples = SAFEGUARD_MIN_EXAMPLES,
  prior = SAFEGUARD_PRIOR,
): SafeguardDecision {
  const ndcgGlobal = heldOutMetrics(examples, 1).ndcgAt10;
  const ndcgPersonal = heldOutMetrics(examples, 0).ndcgAt10;
  const n = examples.length;
  if (n < minExamples) return { weight: prior, examples: n, ndcgGlobal, ndcgPersonal };
  let best = GLOBAL_WEIGHTS[0]!;
  let bestNdcg = Number.NEGATIVE_INFINITY;
  for (const w of GLOBAL_WEIGHTS) {
    const m = heldOutMetrics(examples, w).ndcgAt10;
    // A tolerance so float noise in equal rankings does not decide.
    if (m >= bestNdcg - 1e-9) {
      best = w;
      bestNdcg = Math.max(m, bestNdcg);
    }
  }
  return { weight: best, examples: n, ndcgGlobal, ndcgPersonal };
}

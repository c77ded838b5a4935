/**
 * The leave-one-out protocol of the published results: per shopper the last item is the test target, the
 * second to last the validation target, the rest the training history. Evaluating on test moves the
 * validation item into the history. Training always uses the items before the validation target.
 */
import type { Dataset } from './dataset.ts';

/** Which held-out target an evaluation scores. */
export type SplitName = 'valid' | 'test';

/** One shopper's evaluation case: the history the model sees, and the target to rank. */
export interface EvalCase {
  /** Shopper index in the dataset. */
  user: number;
  /** Item indices, oldest first. */
  history: Int32Array;
  /** Item index of the held-out target. */
  target: number;
}

/** The training items of a shopper (all but the last two). */
export function trainingSequence(seq: Int32Array): Int32Array {
  return seq.subarray(0, Math.max(0, seq.length - 2));
}

/** The evaluation case of one shopper for a split (sequences need at least 3 items). */
export function evalCase(user: number, seq: Int32Array, split: SplitName): EvalCase {
  if (seq.length < 3) throw new Error(`shopper ${user} has ${seq.length} items; 3 are needed`);
  const cut = split === 'valid' ? seq.length - 2 : seq.length - 1;
  return { user, history: seq.subarray(0, cut), target: seq[cut]! };
}

/** Evaluation cases for the given shoppers (all when `users` is omitted). */
export function evalCases(data: Dataset, split: SplitName, users?: readonly number[]): EvalCase[] {
  const ids = users ?? data.sequences.map((_, i) => i);
  return ids.map((u) => evalCase(u, data.sequences[u]!, split));
}

/**
 * The training loss: sampled-softmax cross-entropy of each example's positive against its own negatives,
 * its group's shared negatives and, for a single group, the batch's other positives. Built on the towers,
 * so the same graph serves a device's SGD step, centralized Adam and the batched per-client gradients.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { EncodedItem } from './features.ts';
import { affinityScore, affinityScoresInto, affinityTotal, indexByAttr } from './personal.ts';
import type { AttrIndex } from './personal.ts';
import type { ExampleGroup } from './examples.ts';
import { gatherRows, sharedScores } from './tensor-ops.ts';
import { NEG_INF } from './towers.ts';
import type { Towers } from './towers.ts';

/** An item's identity for masking: its id rows. */
const itemKey = (it: EncodedItem): string => it.ids.join(',');

/** Positions of a shared-negative list by item key (masking) and by attribute row (bonus). */
interface SharedIndex {
  byKey: Map<string, number[]>;
  byAttr: AttrIndex;
}

function indexShared(list: readonly EncodedItem[]): SharedIndex {
  const byKey = new Map<string, number[]>();
  list.forEach((it, s) => {
    const k = itemKey(it);
    (byKey.get(k) ?? byKey.set(k, []).get(k)!).push(s);
  });
  return { byKey, byAttr: indexByAttr(list) };
}

/**
 * Sampled-softmax cross-entropy of every example: the positive against the example's own negatives,
 * its group's shared negatives and (one group only) the other examples' positives. `loss` is the sum over
 * groups of each group's mean loss (for one group: the batch mean), or of its summed loss for a group
 * whose reduction is 'sum'. Call inside tf.tidy.
 */
export function lossGraph(
  towers: Towers,
  groups: ExampleGroup[],
  inBatch: boolean,
): { loss: tf.Scalar; perExample: tf.Tensor1D } {
  const G = groups.length;
  const batch = groups.flatMap((g) => g.examples);
  const B = batch.length;
  const D = towers.spec.dim + 1;
  const groupOf = new Int32Array(B);
  const weight = new Float32Array(B);
  const K = Math.max(0, ...batch.map((e) => e.negatives.length));
  const S = Math.max(0, ...groups.map((g) => g.sharedNegatives.length));
  // Constant logit offsets: personal bonus, and -inf for padding and for a shared negative the shopper
  // chose.
  const own = new Float32Array(B * (1 + K));
  const sharedOff = new Float32Array(B * S);
  const ibOn = inBatch && G === 1 && B > 1;
  const inBatchOff = new Float32Array(ibOn ? B * B : 0);
  const pw = towers.spec.personalWeight;
  const indexes = new Map<EncodedItem[], SharedIndex>();
  const bonusS = new Float64Array(S);
  let b = 0;
  groups.forEach((g, c) => {
    for (const ex of g.examples) {
      groupOf[b] = c;
      weight[b] = g.reduction === 'sum' ? 1 : 1 / g.examples.length;
      const p = ex.context.personal;
      const total = p && pw > 0 ? affinityTotal(p) : 0;
      const bonus = (it: EncodedItem): number => (p && total > 0 ? pw * affinityScore(p, it, total) : 0);
      for (let k = 0; k <= K; k++) {
        const item = k === 0 ? ex.positive : ex.negatives[k - 1];
        own[b * (1 + K) + k] = item === undefined ? NEG_INF : bonus(item);
      }
      if (S > 0) {
        const list = g.sharedNegatives;
        const ix = indexes.get(list) ?? indexes.set(list, indexShared(list)).get(list)!;
        // The bonus of every shared negative at once (sparse in the shopper's affinity rows).
        const scores = bonusS.subarray(0, list.length);
        if (p && total > 0) affinityScoresInto(p, ix.byAttr, scores, total);
        else scores.fill(0);
        const off = sharedOff.subarray(b * S, (b + 1) * S);
        for (let s = 0; s < S; s++) off[s] = s < list.length ? pw * bonusS[s]! : NEG_INF;
        // A shared negative the shopper chose (this positive or one in its history) is not a negative.
        for (const it of [ex.positive, ...ex.context.history]) {
          for (const s of ix.byKey.get(itemKey(it)) ?? []) off[s] = NEG_INF;
        }
      }
      // Row b's positive is column b of the in-batch block: masked so an example is not its own negative.
      for (let j = 0; ibOn && j < B; j++)
        inBatchOff[b * B + j] = j === b ? NEG_INF : bonus(batch[j]!.positive);
      b++;
    }
  });
  const u = towers.userRep(
    batch.map((e) => e.context),
    groupOf,
  ); // [B, D]
  const flat: EncodedItem[] = [];
  const flatGroup = new Int32Array(B * (1 + K));
  for (let i = 0; i < B; i++) {
    const ex = batch[i]!;
    flat.push(ex.positive);
    for (let k = 0; k < K; k++) flat.push(ex.negatives[k] ?? ex.positive);
    flatGroup.fill(groupOf[i]!, i * (1 + K), (i + 1) * (1 + K));
  }
  const v3 = tf.reshape(towers.itemRep(flat, flatGroup), [B, 1 + K, D]);
  let logits: tf.Tensor = tf.add(tf.sum(tf.mul(tf.expandDims(u, 1), v3), 2), tf.tensor2d(own, [B, 1 + K]));
  const first = groups[0]!.sharedNegatives;
  if (S > 0 && groups.every((g) => g.sharedNegatives === first)) {
    // One list for all groups: one matrix product. Under capture, sharedScores splits the items'
    // gradient by client, so their own gather records nothing.
    const { idx, w, slots } = towers.itemSlots(first);
    const sv = towers.pooled(idx, w, S, slots);
    const cap = towers.capture;
    const sl = sharedScores(u, sv, cap ? { cap, idx, w, slots, group: groupOf } : null);
    logits = tf.concat([logits, tf.add(sl, tf.tensor2d(sharedOff, [B, S]))], 1);
  } else if (S > 0) {
    // Each group's own shared negatives, padded to S (padding is masked by -inf above).
    const items: EncodedItem[] = [];
    const itemGroup = new Int32Array(G * S);
    groups.forEach((g, c) => {
      for (let s = 0; s < S; s++) items.push(g.sharedNegatives[s] ?? g.examples[0]!.positive);
      itemGroup.fill(c, c * S, (c + 1) * S);
    });
    const sv = towers.itemRep(items, itemGroup); // [G*S, D]
    const byGroup = gatherRows(tf.reshape(sv, [G, S, D]), tf.tensor1d(groupOf, 'int32'), true);
    const sl = tf.sum(tf.mul(tf.expandDims(u, 1), byGroup), 2);
    logits = tf.concat([logits, tf.add(sl, tf.tensor2d(sharedOff, [B, S]))], 1);
  }
  if (ibOn) {
    const pos = tf.reshape(tf.slice(v3, [0, 0, 0], [B, 1, D]), [B, D]);
    const ib = tf.matMul(u, pos, false, true);
    logits = tf.concat([logits, tf.add(ib, tf.tensor2d(inBatchOff, [B, B]))], 1);
  }
  const perExample = tf.neg(tf.reshape(tf.slice(tf.logSoftmax(logits), [0, 0], [B, 1]), [B])) as tf.Tensor1D;
  const loss = tf.sum(tf.mul(perExample, tf.tensor1d(weight))) as tf.Scalar;
  return { loss, perExample };
}

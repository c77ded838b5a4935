/**
 * What every evaluation mode shares: the dataset, the model spec, the catalog encoded once with the
 * product's feature hashing, and each shopper's training examples built by the product's learner.
 */
import { buildExamples } from '../shared/fl/local-update.ts';
import type { Interaction } from '../shared/fl/local-update.ts';
import { encodeItem } from '../shared/model/features.ts';
import type { EncodedItem } from '../shared/model/features.ts';
import type { TrainingExample } from '../shared/model/ranker.ts';
import type { ModelSpec } from '../shared/model/spec.ts';
import type { Dataset } from './dataset.ts';
import { trainingSequence } from './split.ts';

/** A dataset prepared for one model spec. */
export interface Workbench {
  data: Dataset;
  spec: ModelSpec;
  /** Catalog items hashed by the product's encodeItem, by item index. */
  encoded: EncodedItem[];
  /** Per shopper, the training items (all but validation and test targets). */
  train: Int32Array[];
}

/** Encodes the catalog and cuts the training sequences. */
export function makeWorkbench(data: Dataset, spec: ModelSpec): Workbench {
  return {
    data,
    spec,
    encoded: data.items.map((it) => encodeItem(spec, it)),
    train: data.sequences.map(trainingSequence),
  };
}

/** A shopper's training items as the device's interaction log (each one a purchase, in order). */
export function interactionLog(wb: Workbench, user: number): Interaction[] {
  const seq = wb.train[user]!;
  const log: Interaction[] = [];
  for (let i = 0; i < seq.length; i++)
    log.push({ item: wb.encoded[seq[i]!]!, kind: 'purchase', time: i + 1 });
  return log;
}

/**
 * The shopper's training examples, built exactly as the device builds them (product's buildExamples),
 * with negatives sampled from the whole catalog.
 */
export function userExamples(
  wb: Workbench,
  user: number,
  random: () => number,
  sampledNegatives: number,
): TrainingExample[] {
  return buildExamples(wb.spec, interactionLog(wb, user), wb.encoded, random, {
    sampledNegatives,
    maxSkipped: 0,
  });
}

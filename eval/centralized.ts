/**
 * Centralized reference: the product's Ranker trained on every shopper's training examples pooled (what a
 * server that collected all clicks could do), with minibatch Adam and shared (optionally in-batch) negatives.
 */
import { decayedRate, decayOver } from '../shared/fl/aggregate.ts';
import type { RateDecay } from '../shared/fl/aggregate.ts';
import { sampleSharedNegatives } from '../shared/fl/local-update.ts';
import { Ranker } from '../shared/model/ranker.ts';
import type { TrainingExample } from '../shared/model/ranker.ts';
import { initGlobalParams, mulberry32 } from '../shared/model/spec.ts';
import { userExamples } from './workbench.ts';
import type { Workbench } from './workbench.ts';

/** Settings of centralized training. */
export interface CentralizedOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Catalog items sampled per batch as negatives shared by its examples (plus in-batch negatives). */
  sharedNegatives: number;
  /** Catalog negatives sampled per example, as a device's buildExamples does. */
  exampleNegatives: number;
  /** Also score each example against the batch's other positives. */
  inBatchNegatives: boolean;
  /** Fraction of the last steps over which the rate decays linearly to 0 (the server's RateDecay). */
  decay: number;
  seed: number;
}

/** Progress of centralized training, reported after each step. */
export interface CentralizedStep {
  epoch: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
}

/**
 * Trains a fresh Ranker; `onStep` sees each step, `onEpoch` each finished epoch (e.g. to evaluate).
 * The caller disposes the returned ranker.
 */
export function trainCentralized(
  wb: Workbench,
  opts: CentralizedOptions,
  onStep: (s: CentralizedStep) => void = () => {},
  onEpoch: (epoch: number, ranker: Ranker) => void = () => {},
): Ranker {
  const random = mulberry32(opts.seed);
  const ranker = new Ranker(wb.spec, initGlobalParams(wb.spec, opts.seed));
  let decay: RateDecay | undefined;
  let done = 0;
  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    // Examples from the product's builder; negatives come shared per batch (one matrix product, cheap).
    const pool: TrainingExample[] = [];
    for (let u = 0; u < wb.train.length; u++)
      pool.push(...userExamples(wb, u, random, opts.exampleNegatives));
    for (let i = pool.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    const steps = Math.ceil(pool.length / opts.batchSize);
    // Every epoch has the same number of steps, so the schedule is known after the first pool.
    if (opts.decay > 0 && !decay) decay = decayOver(steps * opts.epochs, opts.decay);
    for (let s = 0; s < steps; s++) {
      const batch = pool.slice(s * opts.batchSize, (s + 1) * opts.batchSize);
      // Drawn like a device draws its shared negatives (product code), from the whole catalog.
      const shared = sampleSharedNegatives(wb.encoded, opts.sharedNegatives, random);
      const loss = ranker.train(batch, {
        learningRate: decayedRate(opts.learningRate, decay, ++done),
        optimizer: 'adam',
        sharedNegatives: shared,
        inBatchNegatives: opts.inBatchNegatives,
      });
      onStep({ epoch, step: s + 1, stepsPerEpoch: steps, loss });
    }
    onEpoch(epoch, ranker);
  }
  return ranker;
}

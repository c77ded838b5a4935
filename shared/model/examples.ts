/**
 * The data the ranking model scores and trains on: a shopper's context, training examples and their
 * grouping per client, and the options of one step (ranker.ts re-exports them).
 */
import type { LossReduction } from '../protocol.ts';
import type { EncodedItem } from './features.ts';
import type { PersonalState } from './personal.ts';

/** What the model knows about the shopper when ranking. */
export interface UserContext {
  /** Positive interactions, oldest first (only the last spec.maxHistory are used). */
  history: EncodedItem[];
  /** Hashed query tokens when searching. */
  query?: number[];
  /** On-device personal state: adds the affinity bonus to scores. */
  personal?: PersonalState;
}

/** One training example: the context, the item the shopper chose, and items they did not. */
export interface TrainingExample {
  context: UserContext;
  positive: EncodedItem;
  negatives: EncodedItem[];
}

/** Examples trained together with the catalog negatives they all share (one client's batch). */
export interface ExampleGroup {
  examples: TrainingExample[];
  /** Negatives scored against every example of the group (masked per example where its shopper chose them). */
  sharedNegatives: EncodedItem[];
  /** 'mean' (default) or 'sum' of the examples' losses: how this group's examples weigh in the step. */
  reduction?: LossReduction;
}

/** Options of one training step. */
export interface TrainOptions {
  learningRate: number;
  /** 'sgd' (default; what federated clients use) or 'adam' (centralized training). */
  optimizer?: 'sgd' | 'adam';
  /** Negatives shared by every example of the batch (scored by one matrix product; cheap). */
  sharedNegatives?: EncodedItem[];
  /** Also use the other examples' positives as negatives (in-batch softmax). */
  inBatchNegatives?: boolean;
  /** Mean (default) or sum of the batch's losses (a federated client's TrainingConfig.lossReduction). */
  lossReduction?: LossReduction;
}

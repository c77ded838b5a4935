/** The settings of a `fedrank eval` invocation: federated, centralized, the runs, and a preset's shape. */
import type { ModelSpec } from '../shared/model/spec.ts';
import type { LossReduction, TensorEncoding } from '../shared/protocol.ts';
import type { EvalBackend } from './backend.ts';
import type { Sampling } from './sampler.ts';
import type { SplitName } from './split.ts';

/** Federated settings shared by every federated run of an invocation. */
export interface FederatedSettings {
  /** Rounds; 0 (honest runs): as many as the population's contributions fill, ceil(k * N / M). */
  rounds: number;
  clientsPerRound: number;
  clip: number;
  localEpochs: number;
  lr: number;
  batchSize: number;
  /** Catalog negatives sampled per training example (on top of the shared ones). */
  exampleNegatives: number;
  /** Catalog negatives each client samples per local step, shared by the step's examples. */
  sharedNegatives: number;
  /** Mean or sum of a client's example losses (TrainingConfig.lossReduction). */
  lossReduction: LossReduction;
  /** Single-step clients simulated per batched pass (0: each client on its own; same math, slower). */
  clientBatch: number;
  serverOpt: 'fedavg' | 'fedadam';
  serverLr: number;
  /** FedAdam second-moment decay and adaptivity floor tau (Reddi et al. 2021). */
  serverBeta2: number;
  serverTau: number;
  /** FedAdam with Adam's bias correction. */
  serverBiasCorrection: boolean;
  /** Fraction of the last rounds over which the server rate decays linearly to 0 (0: constant). */
  serverDecay: number;
  noisePath: 'client' | 'aggregate';
  /**
   * Who joins a round: honest participation (what ships; the only choice with noise), or, without noise
   * only, Poisson sampling at rate M/N or every shopper once per cycle in a shuffled order, M at a time.
   */
  sampling: Sampling;
  encoding: TensorEncoding;
  delta: number;
  /** Honest runs: probability that a shopper is online (browses) in a given round. */
  visitRate: number;
  /** Honest runs: the device caps k (contributions per model) and b (rounds between two of them). */
  maxContributions: number;
  minSeparation: number;
}

/** Centralized training settings. */
export interface CentralSettings {
  epochs: number;
  lr: number;
  batchSize: number;
  /** Catalog negatives shared by each batch. */
  negatives: number;
  /** Also use the batch's other positives as negatives (in-batch softmax). */
  inBatch: boolean;
  /** Catalog negatives sampled per training example. */
  exampleNegatives: number;
  /** Fraction of the last steps over which the rate decays linearly to 0 (0: constant). */
  decay: number;
}

/** Settings a preset's federated run changes from the invocation's (e.g. larger cohorts under noise). */
export type FederatedOverrides = Partial<FederatedSettings>;

/** One run of the invocation. */
export type RunPlan =
  | { label: string; mode: 'popularity' }
  | { label: string; mode: 'centralized' }
  | { label: string; mode: 'federated'; sigma: number; federated?: FederatedOverrides } // sigma fixed
  | { label: string; mode: 'federated'; epsilon: number; federated?: FederatedOverrides }; // sigma solved

/** The federated settings of one run: the invocation's, with the run's overrides. */
export function federatedOf(plan: RunPlan, cfg: { federated: FederatedSettings }): FederatedSettings {
  return plan.mode === 'federated' ? { ...cfg.federated, ...(plan.federated ?? {}) } : cfg.federated;
}

/** Everything an invocation needs. */
export interface EvalConfig {
  data: string;
  split: SplitName;
  preset: string | null;
  seed: number;
  maxUsers: number | null;
  /** Shoppers in the fixed validation subsample scored at intermediate points. */
  evalUsers: number;
  /** Evaluate every K rounds (federated) / epochs (centralized), and at least 4 times per run. */
  evalEvery: number;
  backend: EvalBackend;
  spec: ModelSpec;
  /** Weigh the on-device affinity by the dataset's catalog (spec.attrWeights), as a server given the shop's catalog does. */
  catalogWeights: boolean;
  federated: FederatedSettings;
  central: CentralSettings;
  runs: RunPlan[];
  out: string | null;
  plot: string | null;
  /** Runs executed at once, each in its own process (the runs are independent). */
  jobs: number;
  /** Internal: execute only this run of the list (used by the parallel parent for its children). */
  onlyRun: number | null;
}

/** A preset: defaults for every setting, and the table's runs. */
export interface Preset {
  /** The reported run scores test targets (tuning runs pass --split valid). */
  split: SplitName;
  /** Runs in parallel processes. */
  jobs: number;
  federated: FederatedSettings;
  central: CentralSettings;
  evalUsers: number;
  evalEvery: number;
  spec: Partial<ModelSpec>;
  /** The dataset's catalog weighs the on-device affinity (the server's `model.catalog`); default off. */
  catalogWeights?: boolean;
  /** What a noisy run of this preset changes (its table's private rows use the same): applied to a single
   * `--epsilon` / `--sigma` run too, except where a flag sets the value. */
  private: FederatedOverrides;
  table: RunPlan[];
}

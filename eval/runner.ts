/**
 * Executes the runs of an evaluation: popularity, centralized and federated, each scored on a fixed
 * validation subsample at intermediate points and on every shopper's target of the chosen split at the end.
 */
import { computeEpsilon, sigmaForEpsilon } from '../shared/dp/accountant.ts';
import { decayOver } from '../shared/fl/aggregate.ts';
import type { ServerOptimizer } from '../shared/fl/aggregate.ts';
import { mulberry32 } from '../shared/model/spec.ts';
import type { TrainingConfig } from '../shared/protocol.ts';
import { trainCentralized } from './centralized.ts';
import { federatedOf } from './config.ts';
import type { EvalConfig, FederatedSettings, RunPlan } from './config.ts';
import type { Dataset } from './dataset.ts';
import { runFederated, samplingRate } from './federated.ts';
import type { FederatedOptions, RoundStats } from './federated.ts';
import type { RankingMetrics } from './metrics.ts';
import { popularityScorer } from './popularity.ts';
import { Progress } from './progress.ts';
import type { ProgressStream } from './progress.ts';
import { evaluateCases, evaluateRanker } from './ranking.ts';
import { evalCases } from './split.ts';
import type { EvalCase } from './split.ts';
import { makeWorkbench } from './workbench.ts';
import type { Workbench } from './workbench.ts';

/** A metric measurement during training. */
export interface EvalPoint {
  /** Round (federated) or epoch (centralized). */
  step: number;
  split: 'valid';
  metrics: RankingMetrics;
}

/** Privacy of a federated run (user-level: one shopper's whole contribution per round is one delta). */
export interface PrivacyReport {
  q: number;
  sigma: number;
  rounds: number;
  delta: number;
  /** null when there is no noise (no finite epsilon). */
  epsilon: number | null;
  order: number | null;
  /** The epsilon the run was asked for, when sigma was solved from it. */
  targetEpsilon: number | null;
}

/** The outcome of one run. */
export interface RunResult {
  label: string;
  mode: RunPlan['mode'];
  points: EvalPoint[];
  final: { split: 'valid' | 'test'; metrics: RankingMetrics };
  privacy: PrivacyReport | null;
  /** Per-round statistics of a federated run. */
  rounds?: RoundStats[];
  /** The federated settings of this run (the invocation's with the run's overrides). */
  settings?: FederatedSettings;
  /** Centralized training loss per epoch. */
  epochLoss?: number[];
  wallSeconds: number;
}

/** Fixed, seeded subsample of `k` shopper indices out of `n` (sorted). */
export function subsample(n: number, k: number, seed: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  const random = mulberry32(seed);
  const m = Math.min(k, n);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(random() * (n - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, m).sort((a, b) => a - b);
}

/** Restricts a dataset to a seeded subsample of shoppers (for quick runs and tests). */
export function limitUsers(data: Dataset, maxUsers: number | null, seed: number): Dataset {
  if (maxUsers === null || maxUsers >= data.users.length) return data;
  const keep = subsample(data.users.length, maxUsers, seed ^ 0x5a5a);
  const sequences = keep.map((u) => data.sequences[u]!);
  return {
    ...data,
    users: keep.map((u) => data.users[u]!),
    sequences,
    interactions: sequences.reduce((s, q) => s + q.length, 0),
  };
}

/** Noise multiplier and privacy report of a federated plan. */
export function privacyOf(plan: RunPlan, cfg: EvalConfig, population: number): PrivacyReport {
  const f = federatedOf(plan, cfg);
  const q = samplingRate(f.clientsPerRound, population);
  const rounds = f.rounds;
  const delta = f.delta;
  const targetEpsilon = 'epsilon' in plan ? plan.epsilon : null;
  const sigma =
    targetEpsilon !== null
      ? sigmaForEpsilon({ q, steps: rounds, delta, epsilon: targetEpsilon })
      : 'sigma' in plan
        ? plan.sigma
        : 0;
  if (!(sigma > 0)) return { q, sigma: 0, rounds, delta, epsilon: null, order: null, targetEpsilon };
  const { epsilon, order } = computeEpsilon({ q, sigma, steps: rounds, delta });
  return { q, sigma, rounds, delta, epsilon, order, targetEpsilon };
}

function fmt(m: RankingMetrics): string {
  return `NDCG@10 ${m.ndcg10.toFixed(4)} HR@10 ${m.hr10.toFixed(4)}`;
}

/** Runs every plan of the configuration on the dataset, in order. */
export function runAll(
  cfg: EvalConfig,
  dataset: Dataset,
  stream: ProgressStream = process.stderr,
): RunResult[] {
  const data = limitUsers(dataset, cfg.maxUsers, cfg.seed);
  const wb = makeWorkbench(data, cfg.spec);
  const validSample = evalCases(data, 'valid', subsample(data.users.length, cfg.evalUsers, cfg.seed));
  const finalCases = evalCases(data, cfg.split);
  return cfg.runs.map((plan) => runOne(plan, cfg, wb, validSample, finalCases, stream));
}

/** Runs one plan. */
export function runOne(
  plan: RunPlan,
  cfg: EvalConfig,
  wb: Workbench,
  validSample: EvalCase[],
  finalCases: EvalCase[],
  stream: ProgressStream,
): RunResult {
  const t0 = performance.now();
  const N = wb.encoded.length;
  const points: EvalPoint[] = [];
  const finalOf = (metrics: RankingMetrics): RunResult['final'] => ({ split: cfg.split, metrics });
  if (plan.mode === 'popularity') {
    const bar = new Progress(plan.label, 1, stream, 'step');
    const metrics = evaluateCases(popularityScorer(wb), finalCases, N);
    bar.finish(`${cfg.split} ${fmt(metrics)}`);
    return {
      label: plan.label,
      mode: plan.mode,
      points,
      final: finalOf(metrics),
      privacy: null,
      wallSeconds: elapsed(t0),
    };
  }
  if (plan.mode === 'centralized') {
    const c = cfg.central;
    const bar = new Progress(plan.label, c.epochs, stream, 'epoch');
    const epochLoss: number[] = [];
    let lossSum = 0;
    let lossN = 0;
    const ranker = trainCentralized(
      wb,
      {
        epochs: c.epochs,
        batchSize: c.batchSize,
        learningRate: c.lr,
        sharedNegatives: c.negatives,
        inBatchNegatives: c.inBatch,
        exampleNegatives: c.exampleNegatives,
        decay: c.decay,
        seed: cfg.seed,
      },
      (s) => {
        lossSum += s.loss;
        lossN++;
        bar.update(s.epoch - 1 + s.step / s.stepsPerEpoch);
      },
      (epoch, r) => {
        epochLoss.push(lossSum / Math.max(1, lossN));
        lossSum = 0;
        lossN = 0;
        if (epoch % pointEvery(cfg.evalEvery, c.epochs) === 0 || epoch === c.epochs) {
          const m = evaluateRanker(r, wb.encoded, validSample);
          points.push({ step: epoch, split: 'valid', metrics: m });
          bar.point(`valid(${m.users}) ${fmt(m)} loss ${epochLoss[epochLoss.length - 1]!.toFixed(3)}`);
        }
      },
    );
    try {
      const metrics = evaluateRanker(ranker, wb.encoded, finalCases);
      bar.finish(`${cfg.split} ${fmt(metrics)}`);
      return {
        label: plan.label,
        mode: plan.mode,
        points,
        final: finalOf(metrics),
        privacy: null,
        epochLoss,
        wallSeconds: elapsed(t0),
      };
    } finally {
      ranker.dispose();
    }
  }
  const f = federatedOf(plan, cfg);
  const privacy = privacyOf(plan, cfg, wb.train.length);
  const label = privacy.sigma > 0 ? `${plan.label} (σ=${privacy.sigma.toFixed(3)})` : plan.label;
  const bar = new Progress(label, f.rounds, stream);
  const rounds: RoundStats[] = [];
  let final: RankingMetrics | null = null;
  runFederated(
    wb,
    federatedOptions(f, privacy.sigma, cfg.seed),
    (stats, ranker) => {
      rounds.push(stats);
      bar.update(stats.round);
      if (stats.round % pointEvery(cfg.evalEvery, f.rounds) === 0 || stats.round === f.rounds) {
        const m = evaluateRanker(ranker, wb.encoded, validSample);
        points.push({ step: stats.round, split: 'valid', metrics: m });
        bar.point(`valid(${m.users}) ${fmt(m)} |Δ| ${stats.meanNorm.toFixed(3)}`);
      }
      if (stats.round === f.rounds) final = evaluateRanker(ranker, wb.encoded, finalCases);
    },
    (round, done, total) => bar.update(round - 1 + done / Math.max(1, total)),
  );
  const metrics = final ?? { hr10: 0, ndcg10: 0, hr20: 0, ndcg20: 0, users: 0 };
  bar.finish(
    `${cfg.split} ${fmt(metrics)}${privacy.epsilon !== null ? ` ε=${privacy.epsilon.toFixed(2)}` : ''}`,
  );
  return {
    label: plan.label,
    mode: plan.mode,
    points,
    final: finalOf(metrics),
    privacy,
    settings: f,
    rounds,
    wallSeconds: elapsed(t0),
  };
}

/** The simulation options of federated settings `f` at noise multiplier `sigma`. */
export function federatedOptions(f: FederatedSettings, sigma: number, seed: number): FederatedOptions {
  const training: TrainingConfig = {
    clipNorm: f.clip,
    noiseMultiplier: sigma,
    noiseMode: 'distributed',
    expectedClientsPerRound: f.clientsPerRound,
    localEpochs: f.localEpochs,
    learningRate: f.lr,
    batchSize: f.batchSize,
    sharedNegatives: f.sharedNegatives,
    lossReduction: f.lossReduction,
    minNewEvents: 1,
    updateEncoding: f.encoding,
  };
  const decay = f.serverDecay > 0 ? { decay: decayOver(f.rounds, f.serverDecay) } : {};
  const server: ServerOptimizer =
    f.serverOpt === 'fedavg'
      ? { kind: 'fedavg', learningRate: f.serverLr, ...decay }
      : {
          kind: 'fedadam',
          learningRate: f.serverLr,
          beta1: 0.9,
          beta2: f.serverBeta2,
          tau: f.serverTau,
          biasCorrection: f.serverBiasCorrection,
          ...decay,
        };
  return {
    rounds: f.rounds,
    clientsPerRound: f.clientsPerRound,
    training,
    server,
    noisePath: f.noisePath,
    sampling: f.sampling,
    negatives: f.exampleNegatives,
    clientBatch: f.clientBatch,
    seed,
  };
}

/** Steps between intermediate points: every `every`, but at least four points per run. */
function pointEvery(every: number, steps: number): number {
  return Math.max(1, Math.min(every, Math.ceil(steps / 4)));
}

function elapsed(t0: number): number {
  return (performance.now() - t0) / 1000;
}

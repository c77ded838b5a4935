/**
 * Executes the runs of an evaluation: popularity, centralized and federated, each scored on a fixed
 * validation subsample at intermediate points and on every shopper's target of the chosen split at the end.
 */
import { computeEpsilon, sigmaForEpsilon } from '../shared/dp/accountant.ts';
import { decayOver } from '../shared/fl/aggregate.ts';
import type { ServerOptimizer } from '../shared/fl/aggregate.ts';
import { Ranker } from '../shared/model/ranker.ts';
import { initGlobalParams, mulberry32, paramCount, type ModelSpec } from '../shared/model/spec.ts';
import {
  honestPrivacy,
  noiseForEpsilon,
  type HonestPrivacy,
  type SecureRunShape,
} from './private-accounting.ts';
import type { TrainingConfig } from '../shared/protocol.ts';
import { trainCentralized } from './centralized.ts';
import { federatedOf } from './settings.ts';
import type { EvalConfig, FederatedSettings, RunPlan } from './settings.ts';
import type { Dataset } from './dataset.ts';
import { runFederated } from './federated.ts';
import { samplingRate } from './sampler.ts';
import type { FederatedOptions, RoundStats } from './federated.ts';
import type { RankingMetrics } from './metrics.ts';
import { popularityScorer } from './popularity.ts';
import { Progress } from './progress.ts';
import type { ProgressStream } from './progress.ts';
import { evaluateCases, evaluateRanker } from './ranking.ts';
import { evalCases } from './split.ts';
import type { EvalCase } from './split.ts';
import { withCatalogWeights } from '../shared/model/catalog-weights.ts';
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
  /** Share of the shoppers in a round, M/N (for the plot; honest runs claim no amplification from it). */
  q: number;
  sigma: number;
  rounds: number;
  delta: number;
  /** null when there is no noise (no finite epsilon). */
  epsilon: number | null;
  order: number | null;
  /** The epsilon the run was asked for, when sigma was solved from it. */
  targetEpsilon: number | null;
  /** Honest runs: the device accountant's figures per party (epsilon above is the server's). */
  honest?: HonestPrivacy;
}

/** The on-device floor of a private run: its untrained global model plus on-device personalization. */
export interface FloorResult {
  label: string;
  final: { split: 'valid' | 'test'; metrics: RankingMetrics };
  /** Share of the scored shoppers whose target ranks strictly worse under the trained model than here. */
  worseThanFloor: number;
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
  /** Private (honest) runs: the on-device floor measured in the same run. */
  floor?: FloorResult;
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

/** The settings of a federated plan, with rounds 0 resolved to what the population's contributions fill. */
export function settingsOf(plan: RunPlan, cfg: EvalConfig, population: number): FederatedSettings {
  const f = federatedOf(plan, cfg);
  if (f.rounds > 0) return f;
  return { ...f, rounds: Math.max(1, Math.ceil((f.maxContributions * population) / f.clientsPerRound)) };
}

/** The shape the accountant and the encoding are planned from (t = M: every admitted device survives). */
export function secureShape(f: FederatedSettings, d: number): SecureRunShape {
  return {
    d,
    clip: f.clip,
    cohort: f.clientsPerRound,
    survivors: f.clientsPerRound,
    maxContributions: f.maxContributions,
    minSeparation: f.minSeparation,
    delta: f.delta,
  };
}

/** Noise multiplier and privacy report of a federated plan. */
export function privacyOf(plan: RunPlan, cfg: EvalConfig, population: number): PrivacyReport {
  const f = settingsOf(plan, cfg, population);
  const q = samplingRate(f.clientsPerRound, population);
  const rounds = f.rounds;
  const delta = f.delta;
  const targetEpsilon = 'epsilon' in plan ? plan.epsilon : null;
  if (f.sampling === 'honest') {
    const shape = secureShape(f, paramCount(cfg.spec));
    const z =
      targetEpsilon !== null ? noiseForEpsilon(shape, targetEpsilon) : 'sigma' in plan ? plan.sigma : 0;
    const honest = honestPrivacy(shape, z);
    const finite = Number.isFinite(honest.server.epsilon);
    return {
      q,
      sigma: z,
      rounds,
      delta,
      epsilon: finite ? honest.server.epsilon : null,
      order: finite ? honest.server.order : null,
      targetEpsilon,
      honest,
    };
  }
  if (targetEpsilon !== null)
    throw new RangeError('an epsilon is accounted for honest participation only: the product samples nobody');
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

/**
 * The spec every device of the run holds: with `--catalog-weights on` the dataset's items are the shop's
 * catalog and give the attribute weights, unless `--spec` carried a table of its own.
 */
export function runSpec(cfg: EvalConfig, data: Dataset): ModelSpec {
  return cfg.catalogWeights && !cfg.spec.attrWeights ? withCatalogWeights(cfg.spec, data.items) : cfg.spec;
}

/** Runs every plan of the configuration on the dataset, in order. */
export async function runAll(
  cfg: EvalConfig,
  dataset: Dataset,
  stream: ProgressStream = process.stderr,
): Promise<RunResult[]> {
  const data = limitUsers(dataset, cfg.maxUsers, cfg.seed);
  const wb = makeWorkbench(data, runSpec(cfg, data));
  const validSample = evalCases(data, 'valid', subsample(data.users.length, cfg.evalUsers, cfg.seed));
  const finalCases = evalCases(data, cfg.split);
  const out: RunResult[] = [];
  for (const plan of cfg.runs) out.push(await runOne(plan, cfg, wb, validSample, finalCases, stream));
  return out;
}

/** Runs one plan. */
export async function runOne(
  plan: RunPlan,
  cfg: EvalConfig,
  wb: Workbench,
  validSample: EvalCase[],
  finalCases: EvalCase[],
  stream: ProgressStream,
): Promise<RunResult> {
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
  const f = settingsOf(plan, cfg, wb.train.length);
  const privacy = privacyOf(plan, cfg, wb.train.length);
  const label = privacy.sigma > 0 ? `${plan.label} (σ=${privacy.sigma.toFixed(3)})` : plan.label;
  // A private run measures its on-device floor itself: the same initial model, no training.
  const floorRanks = privacy.honest ? new Float64Array(finalCases.length) : null;
  let floorMetrics: RankingMetrics | null = null;
  if (floorRanks) {
    const init = new Ranker(wb.spec, initGlobalParams(wb.spec, cfg.seed));
    try {
      floorMetrics = evaluateRanker(init, wb.encoded, finalCases, true, floorRanks);
    } finally {
      init.dispose();
    }
  }
  const ranks = floorRanks ? new Float64Array(finalCases.length) : undefined;
  const bar = new Progress(label, f.rounds, stream);
  const rounds: RoundStats[] = [];
  let final: RankingMetrics | null = null;
  await runFederated(
    wb,
    federatedOptions(f, privacy.sigma, cfg.seed, privacy.honest),
    (stats, ranker) => {
      // Who was admitted is for the tests; the results keep the counts.
      const { admitted: _admitted, ...kept } = stats;
      rounds.push(kept);
      bar.update(stats.round);
      if (stats.round % pointEvery(cfg.evalEvery, f.rounds) === 0 || stats.round === f.rounds) {
        const m = evaluateRanker(ranker, wb.encoded, validSample);
        points.push({ step: stats.round, split: 'valid', metrics: m });
        bar.point(`valid(${m.users}) ${fmt(m)} |Δ| ${stats.meanNorm.toFixed(3)}`);
      }
      if (stats.round === f.rounds) final = evaluateRanker(ranker, wb.encoded, finalCases, true, ranks);
    },
    (round, done, total) => bar.update(round - 1 + done / Math.max(1, total)),
  );
  const metrics = final ?? { hr10: 0, ndcg10: 0, hr20: 0, ndcg20: 0, users: 0 };
  bar.finish(
    `${cfg.split} ${fmt(metrics)}${privacy.epsilon !== null ? ` ε=${privacy.epsilon.toFixed(2)}` : ''}`,
  );
  let floor: FloorResult | undefined;
  if (floorRanks && floorMetrics && ranks) {
    let worse = 0;
    for (let i = 0; i < ranks.length; i++) if (ranks[i]! > floorRanks[i]!) worse++;
    floor = {
      label: 'on-device floor (untrained global model + on-device personalization)',
      final: finalOf(floorMetrics),
      worseThanFloor: worse / Math.max(1, ranks.length),
    };
    stream.write(
      `  floor ${cfg.split} ${fmt(floorMetrics)}; worse than the floor: ${(100 * floor.worseThanFloor).toFixed(1)}% of shoppers\n`,
    );
  }
  return {
    label: plan.label,
    mode: plan.mode,
    points,
    final: finalOf(metrics),
    privacy,
    settings: f,
    rounds,
    ...(floor ? { floor } : {}),
    wallSeconds: elapsed(t0),
  };
}

/**
 * The simulation options of federated settings `f` at noise multiplier `sigma`; an honest run's devices
 * enforce its caps and its accounted epsilon as their budget.
 */
export function federatedOptions(
  f: FederatedSettings,
  sigma: number,
  seed: number,
  honest?: HonestPrivacy,
): FederatedOptions {
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
    delta: f.delta,
    ...(f.sampling === 'honest'
      ? {
          honest: { visitRate: f.visitRate, survivors: f.clientsPerRound },
          participation: { maxContributions: f.maxContributions, minSeparationRounds: f.minSeparation },
          // The device's budget: what its own ledger reaches after its k contributions.
          ...(honest && Number.isFinite(honest.deviceLedger)
            ? { deviceEpsilonCap: Math.max(honest.deviceLedger, honest.server.epsilon) * (1 + 1e-9) }
            : {}),
        }
      : {}),
  };
}

/** Steps between intermediate points: every `every`, but at least four points per run. */
function pointEvery(every: number, steps: number): number {
  return Math.max(1, Math.min(every, Math.ceil(steps / 4)));
}

function elapsed(t0: number): number {
  return (performance.now() - t0) / 1000;
}

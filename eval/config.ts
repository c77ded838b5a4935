/**
 * `fedrank eval` options: parsing, validation and the presets, turned into a list of runs to execute.
 * With `--preset` and no `--mode`, the run list is the whole comparison table.
 */
import { intOption, numberOption, parseArgs } from '../node/args.ts';
import { FedrankError } from '../shared/errors.ts';
import { DEFAULT_SPEC, parseSpec } from '../shared/model/spec.ts';
import type { ModelSpec } from '../shared/model/spec.ts';
import { MAX_SHARED_NEGATIVES } from '../shared/protocol-parse.ts';
import type { LossReduction, TensorEncoding } from '../shared/protocol.ts';
import type { EvalBackend } from './backend.ts';
import type { Sampling } from './federated.ts';
import type { SplitName } from './split.ts';

/** Federated settings shared by every federated run of an invocation. */
export interface FederatedSettings {
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
   * Who joins a round: Poisson sampling at rate M/N (what the accountant assumes) or, without noise
   * only, every shopper once per cycle in a shuffled order, M at a time.
   */
  sampling: Sampling;
  encoding: TensorEncoding;
  delta: number;
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
interface Preset {
  /** The reported run scores test targets (tuning runs pass --split valid). */
  split: SplitName;
  /** Runs in parallel processes. */
  jobs: number;
  federated: FederatedSettings;
  central: CentralSettings;
  evalUsers: number;
  evalEvery: number;
  spec: Partial<ModelSpec>;
  /** What a noisy run of this preset changes (its table's private rows use the same): applied to a single
   * `--epsilon` / `--sigma` run too, except where a flag sets the value. */
  private: FederatedOverrides;
  table: RunPlan[];
}

/** The flag that sets each federated setting, so that a preset's overrides never beat an explicit flag. */
const FEDERATED_FLAGS: Record<keyof FederatedSettings, string> = {
  rounds: 'rounds',
  clientsPerRound: 'clients-per-round',
  clip: 'clip',
  localEpochs: 'local-epochs',
  lr: 'lr',
  batchSize: 'batch-size',
  exampleNegatives: 'negatives',
  sharedNegatives: 'shared-negatives',
  lossReduction: 'loss',
  clientBatch: 'client-batch',
  serverOpt: 'server-opt',
  serverLr: 'server-lr',
  serverBeta2: 'server-beta2',
  serverTau: 'server-tau',
  serverBiasCorrection: 'server-bias-correction',
  serverDecay: 'server-decay',
  noisePath: 'noise-path',
  sampling: 'sampling',
  encoding: 'encoding',
  delta: 'delta',
};

/** A preset's private overrides, less those the invocation sets by flag. */
function privateOverrides(preset: Preset, given: Map<string, string>): FederatedOverrides {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(preset.private))
    if (!given.has(FEDERATED_FLAGS[k as keyof FederatedSettings])) out[k] = v;
  return out as FederatedOverrides;
}

const BASE_FEDERATED: FederatedSettings = {
  rounds: 50,
  clientsPerRound: 500,
  clip: 1,
  localEpochs: 1,
  lr: 0.1,
  batchSize: 32,
  exampleNegatives: 16,
  sharedNegatives: 128,
  lossReduction: 'mean',
  clientBatch: 64,
  serverOpt: 'fedadam',
  serverLr: 0.01,
  serverBeta2: 0.99,
  serverTau: 1e-3,
  serverBiasCorrection: false,
  serverDecay: 0,
  noisePath: 'aggregate',
  sampling: 'poisson',
  encoding: 'i8',
  delta: 1e-5,
};

/**
 * Private runs of the beauty table: under noise, what pays is signal per noised coordinate, so a
 * client's clipped update should not be spread over a thousand negatives' rows, cohorts are large
 * (the noise in the mean falls as 1/M) and the server takes plain FedAvg steps (FedAdam divides by the
 * noise's own RMS and random-walks every coordinate). Tuned on validation targets (see eval/README.md).
 */
const BEAUTY_PRIVATE: FederatedOverrides = {
  rounds: 11,
  clientsPerRound: 1000,
  clip: 1,
  lr: 1,
  batchSize: 32,
  lossReduction: 'mean',
  exampleNegatives: 0,
  sharedNegatives: 64,
  serverOpt: 'fedavg',
  serverLr: 1,
  sampling: 'poisson',
  encoding: 'i8',
};

/** Named presets (`--preset`): the README's recommended settings per dataset. */
export const PRESETS: Record<string, Preset> = {
  beauty: {
    split: 'test',
    jobs: 2,
    // Without noise: FedAdam steps on cohorts of 40 shoppers weighted by their examples (summed losses,
    // a clip that never binds, one local step of up to 128 examples), every shopper once per cycle for 5
    // cycles (as centralized's 5 epochs; Poisson sampling's uneven coverage plateaus lower), Adam's bias
    // correction and rate as centralized's, decayed over the last 30% of rounds, f32 updates (int8
    // learns the same per round but costs the simulation more time). Tuned on validation (eval/README.md).
    federated: {
      ...BASE_FEDERATED,
      rounds: 2800,
      clientsPerRound: 40,
      sampling: 'shuffle',
      clip: 1000,
      lr: 0.03,
      batchSize: 128,
      lossReduction: 'sum',
      exampleNegatives: 16,
      sharedNegatives: 1024,
      serverLr: 0.003,
      serverBeta2: 0.999,
      serverTau: 1e-7,
      serverBiasCorrection: true,
      serverDecay: 0.3,
      encoding: 'f32',
    },
    // Five epochs, the rate decayed over the last 30% of steps as the federated server's: validation
    // NDCG@10 0.0654 (0.0628 at a constant rate, 0.0570 after 3 epochs).
    central: {
      epochs: 5,
      lr: 0.003,
      batchSize: 256,
      negatives: 1024,
      inBatch: false,
      exampleNegatives: 0,
      decay: 0.3,
    },
    evalUsers: 3000,
    evalEvery: 400,
    // A stronger on-device bonus: validation NDCG@10 0.0175 -> 0.0194 without noise, 0.0149 -> 0.0173 at ε=8.
    spec: { personalWeight: 4 },
    private: BEAUTY_PRIVATE,
    table: [
      { label: 'popularity', mode: 'popularity' },
      { label: 'centralized', mode: 'centralized' },
      { label: 'federated, no noise', mode: 'federated', sigma: 0 },
      ...[16, 8, 4, 2, 1].map((e) => ({
        label: `federated, ε=${e}`,
        mode: 'federated' as const,
        epsilon: e,
        federated: BEAUTY_PRIVATE,
      })),
    ],
  },
};

const OPTIONS = [
  'data',
  'mode',
  'split',
  'preset',
  'sigma',
  'epsilon',
  'delta',
  'rounds',
  'clients-per-round',
  'clip',
  'local-epochs',
  'lr',
  'batch-size',
  'shared-negatives',
  'loss',
  'client-batch',
  'server-opt',
  'server-lr',
  'server-beta2',
  'server-tau',
  'server-bias-correction',
  'server-decay',
  'seed',
  'eval-every',
  'eval-users',
  'max-users',
  'negatives',
  'epochs',
  'central-lr',
  'central-batch',
  'central-negatives',
  'central-in-batch',
  'central-decay',
  'central-example-negatives',
  'noise-path',
  'sampling',
  'encoding',
  'backend',
  'spec',
  'out',
  'plot',
  'jobs',
  'only-run',
] as const;

/** The `fedrank eval --help` text. */
export const USAGE = `usage: fedrank eval --data DIR [options]

  --data DIR                 dataset folder: *.txt (user item1 item2 ...) + *_item2attributes.json
  --preset NAME              recommended settings (beauty); without --mode runs the whole table
  --mode M                   popularity | centralized | federated
  --split valid|test         targets scored at the end (default valid, test with --preset;
                             intermediate points always use a validation subsample)
  --sigma S                  noise multiplier (default 0: no noise)
  --epsilon E [--delta D]    solve sigma for this epsilon at delta (default 1e-5) over the run
  --rounds R --clients-per-round M --clip C --local-epochs E --lr LR --batch-size B
  --shared-negatives K       catalog negatives per local step, shared by its examples (default 128)
  --loss mean|sum            a client's step on the mean (each shopper weighs the same) or the sum
                             (weighted by examples, up to the clip) of its example losses
  --server-opt fedavg|fedadam --server-lr LR
  --server-beta2 B --server-tau T --server-bias-correction 0|1   FedAdam details
  --server-decay F           the server rate decays linearly to 0 over the last fraction F of the rounds
  --client-batch N           single-step clients per batched pass (0: one trainLocal per client)
  --noise-path aggregate|client   one Gaussian per round through noiseStdPerClient (fast) or per client
  --sampling poisson|shuffle  Poisson sampling at rate M/N (default; what the accountant assumes) or,
                             without noise only, every shopper once per cycle, M per round
  --encoding i8|f32          update encoding (default i8)
  --epochs E --central-lr LR --central-batch B --central-negatives K --central-in-batch 0|1
                             --central-example-negatives K --central-decay F (as --server-decay)
                             centralized training
  --negatives K              catalog negatives per training example
  --seed N --eval-every K --eval-users N --max-users N
  --spec JSON                model spec overrides, e.g. '{"dim":16}'
  --backend wasm|cpu         tfjs backend (default wasm)
  --jobs J                   runs executed in parallel, one process each (default 1)
  --out FILE.json --plot FILE.svg
`;

function choice<T extends string>(value: string | undefined, allowed: readonly T[], key: string, dflt: T): T {
  if (value === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new FedrankError(
      'CLI_BAD_ARGUMENT',
      `--${key} must be one of ${allowed.join('|')}, got '${value}'`,
    );
  }
  return value as T;
}

/** Parses `fedrank eval` arguments into a validated configuration. */
export function parseEvalArgs(argv: string[]): EvalConfig {
  const args = parseArgs(argv, OPTIONS);
  if (args.positionals.length > 0) {
    throw new FedrankError('CLI_BAD_ARGUMENT', `unexpected argument '${args.positionals[0]}'`);
  }
  const o = args.options;
  const data = o.get('data');
  if (!data) throw new FedrankError('CLI_BAD_ARGUMENT', '--data DIR is required');
  const presetName = o.get('preset') ?? null;
  const preset = presetName === null ? undefined : PRESETS[presetName];
  if (presetName !== null && !preset) {
    throw new FedrankError(
      'CLI_BAD_ARGUMENT',
      `unknown --preset '${presetName}' (known: ${Object.keys(PRESETS).join(', ')})`,
    );
  }
  const pf = preset?.federated ?? BASE_FEDERATED;
  const pc = preset?.central ?? {
    epochs: 3,
    lr: 0.003,
    batchSize: 256,
    negatives: 1024,
    inBatch: false,
    exampleNegatives: 0,
    decay: 0,
  };
  const sigma = o.has('sigma') ? numberOption(args, 'sigma', 0, 1e6) : 0;
  const noisy = o.has('epsilon') || sigma > 0;
  const federated: FederatedSettings = {
    rounds: intOption(args, 'rounds', 1, 1_000_000, pf.rounds),
    clientsPerRound: intOption(args, 'clients-per-round', 1, 10_000_000, pf.clientsPerRound),
    clip: numberOption(args, 'clip', 1e-9, 1e9, pf.clip),
    localEpochs: intOption(args, 'local-epochs', 1, 1000, pf.localEpochs),
    lr: numberOption(args, 'lr', 0, 1e6, pf.lr),
    batchSize: intOption(args, 'batch-size', 1, 100_000, pf.batchSize),
    exampleNegatives: intOption(args, 'negatives', 0, 10_000, pf.exampleNegatives),
    sharedNegatives: intOption(args, 'shared-negatives', 0, MAX_SHARED_NEGATIVES, pf.sharedNegatives),
    lossReduction: choice(o.get('loss'), ['mean', 'sum'] as const, 'loss', pf.lossReduction),
    clientBatch: intOption(args, 'client-batch', 0, 100_000, pf.clientBatch),
    serverOpt: choice(o.get('server-opt'), ['fedavg', 'fedadam'] as const, 'server-opt', pf.serverOpt),
    serverLr: numberOption(args, 'server-lr', 0, 1e6, pf.serverLr),
    serverBeta2: numberOption(args, 'server-beta2', 0, 0.999999, pf.serverBeta2),
    serverTau: numberOption(args, 'server-tau', 1e-12, 1e6, pf.serverTau),
    serverBiasCorrection:
      intOption(args, 'server-bias-correction', 0, 1, pf.serverBiasCorrection ? 1 : 0) === 1,
    serverDecay: numberOption(args, 'server-decay', 0, 1, pf.serverDecay),
    noisePath: choice(o.get('noise-path'), ['aggregate', 'client'] as const, 'noise-path', pf.noisePath),
    // A noisy run of a preset whose run without noise shuffles falls back to Poisson sampling.
    sampling: choice(
      o.get('sampling'),
      ['poisson', 'shuffle'] as const,
      'sampling',
      noisy ? 'poisson' : pf.sampling,
    ),
    encoding: choice(o.get('encoding'), ['i8', 'f32'] as const, 'encoding', pf.encoding),
    delta: numberOption(args, 'delta', 1e-300, 0.999, pf.delta),
  };
  const central: CentralSettings = {
    epochs: intOption(args, 'epochs', 1, 10_000, pc.epochs),
    lr: numberOption(args, 'central-lr', 0, 1e6, pc.lr),
    batchSize: intOption(args, 'central-batch', 1, 100_000, pc.batchSize),
    negatives: intOption(args, 'central-negatives', 0, 100_000, pc.negatives),
    inBatch: intOption(args, 'central-in-batch', 0, 1, pc.inBatch ? 1 : 0) === 1,
    decay: numberOption(args, 'central-decay', 0, 1, pc.decay),
    exampleNegatives: intOption(args, 'central-example-negatives', 0, 10_000, pc.exampleNegatives),
  };
  if (federated.sampling !== 'poisson' && noisy) {
    throw new FedrankError(
      'CLI_BAD_ARGUMENT',
      '--sampling shuffle has no privacy accounting: use it without noise',
    );
  }
  if (o.has('sigma') && o.has('epsilon')) {
    throw new FedrankError('CLI_BAD_ARGUMENT', 'give either --sigma or --epsilon, not both');
  }
  const modeRaw = o.get('mode');
  const mode =
    modeRaw === undefined
      ? undefined
      : choice(modeRaw, ['popularity', 'centralized', 'federated'] as const, 'mode', 'federated');
  let runs: RunPlan[];
  if (mode === undefined && preset && !o.has('sigma') && !o.has('epsilon')) {
    runs = preset.table;
  } else {
    const m = mode ?? 'federated';
    if (m !== 'federated' && (o.has('sigma') || o.has('epsilon'))) {
      throw new FedrankError('CLI_BAD_ARGUMENT', `--sigma/--epsilon apply to --mode federated only`);
    }
    if (m === 'federated') {
      // A noisy run of a preset gets the preset's private settings, as its table's private rows do.
      const overrides = noisy && preset ? { federated: privateOverrides(preset, o) } : {};
      if (o.has('epsilon')) {
        const e = numberOption(args, 'epsilon', 1e-6, 1e6);
        runs = [{ label: `federated, ε=${e}`, mode: 'federated', epsilon: e, ...overrides }];
      } else {
        const label = sigma > 0 ? `federated, σ=${sigma}` : 'federated, no noise';
        runs = [{ label, mode: 'federated', sigma, ...overrides }];
      }
    } else {
      runs = [{ label: m, mode: m }];
    }
  }
  let spec: ModelSpec = { ...DEFAULT_SPEC, ...(preset?.spec ?? {}) };
  const specRaw = o.get('spec');
  if (specRaw !== undefined) {
    let overrides: unknown;
    try {
      overrides = JSON.parse(specRaw);
    } catch {
      throw new FedrankError('CLI_BAD_ARGUMENT', `--spec must be a JSON object, got '${specRaw}'`);
    }
    if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
      throw new FedrankError('CLI_BAD_ARGUMENT', `--spec must be a JSON object, got '${specRaw}'`);
    }
    try {
      spec = parseSpec({ ...spec, ...overrides });
    } catch (err) {
      throw new FedrankError('CLI_BAD_ARGUMENT', `--spec: ${(err as Error).message}`);
    }
  }
  const onlyRun = o.has('only-run') ? intOption(args, 'only-run', 0, runs.length - 1) : null;
  const maxUsers = o.has('max-users') ? intOption(args, 'max-users', 3, 1e9) : null;
  return {
    data,
    split: choice(o.get('split'), ['valid', 'test'] as const, 'split', preset?.split ?? 'valid'),
    preset: presetName,
    seed: intOption(args, 'seed', 0, 0xffffffff, 1),
    maxUsers,
    evalUsers: intOption(args, 'eval-users', 1, 1e9, preset?.evalUsers ?? 2000),
    evalEvery: intOption(args, 'eval-every', 1, 1e9, preset?.evalEvery ?? 5),
    backend: choice(o.get('backend'), ['wasm', 'cpu'] as const, 'backend', 'wasm'),
    spec,
    federated,
    central,
    runs,
    out: o.get('out') ?? null,
    // A preset run with --out also draws its plot beside the results.
    plot:
      o.get('plot') ??
      (preset && o.get('out')?.endsWith('.json') ? o.get('out')!.replace(/\.json$/, '.svg') : null),
    jobs: intOption(args, 'jobs', 1, 64, preset?.jobs ?? 1),
    onlyRun,
  };
}

/**
 * `fedrank eval` options: parsing and validation, turned into a list of runs to execute (presets.ts).
 * With `--preset` and no `--mode`, the run list is the whole comparison table.
 */
import { intOption, numberOption, parseArgs } from '../node/args.ts';
import { FedrankError } from '../shared/errors.ts';
import { DEFAULT_SPEC, parseSpec } from '../shared/model/spec.ts';
import type { ModelSpec } from '../shared/model/spec.ts';
import { MAX_SHARED_NEGATIVES } from '../shared/protocol-parse.ts';
import {
  BASE_CENTRAL,
  BASE_FEDERATED,
  PRESETS,
  PRODUCT_PRIVATE,
  privateOverrides,
  privateRows,
} from './presets.ts';
import type { CentralSettings, EvalConfig, FederatedSettings, RunPlan } from './settings.ts';
import { OPTIONS } from './usage.ts';

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
  const pc = preset?.central ?? BASE_CENTRAL;
  const sigma = o.has('sigma') ? numberOption(args, 'sigma', 0, 1e6) : 0;
  const noisy = o.has('epsilon') || sigma > 0;
  const federated: FederatedSettings = {
    rounds: intOption(args, 'rounds', 0, 1_000_000, pf.rounds),
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
    // Noise comes with honest participation, what ships: the product samples nobody.
    sampling: choice(
      o.get('sampling'),
      ['honest', 'poisson', 'shuffle'] as const,
      'sampling',
      noisy ? 'honest' : pf.sampling,
    ),
    encoding: choice(o.get('encoding'), ['i8', 'f32'] as const, 'encoding', pf.encoding),
    delta: numberOption(args, 'delta', 1e-300, 0.999, pf.delta),
    visitRate: numberOption(args, 'visit-rate', 1e-6, 1, pf.visitRate),
    maxContributions: intOption(args, 'max-contributions', 1, 1_000_000, pf.maxContributions),
    minSeparation: intOption(args, 'min-separation', 1, 1_000_000, pf.minSeparation),
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
  if (federated.sampling !== 'honest' && (noisy || o.has('epsilons'))) {
    throw new FedrankError(
      'CLI_BAD_ARGUMENT',
      `--sampling ${federated.sampling} with noise is not what ships (the product samples no devices, so ` +
        'no amplification applies): noisy runs use --sampling honest',
    );
  }
  if (federated.rounds === 0 && federated.sampling !== 'honest')
    throw new FedrankError(
      'CLI_BAD_ARGUMENT',
      '--rounds 0 (as many as the contributions fill) is for --sampling honest',
    );
  if (o.has('sigma') && o.has('epsilon')) {
    throw new FedrankError('CLI_BAD_ARGUMENT', 'give either --sigma or --epsilon, not both');
  }
  const modeRaw = o.get('mode');
  const mode =
    modeRaw === undefined
      ? undefined
      : choice(modeRaw, ['popularity', 'centralized', 'federated'] as const, 'mode', 'federated');
  let runs: RunPlan[];
  if (o.has('epsilons')) {
    // The curve: popularity and one private run per epsilon (each scores its on-device floor too).
    if (o.has('sigma') || o.has('epsilon') || mode !== undefined)
      throw new FedrankError(
        'CLI_BAD_ARGUMENT',
        '--epsilons runs its own table: no --mode, --sigma, --epsilon',
      );
    const eps = o.get('epsilons')!.split(',').map(Number);
    if (eps.length === 0 || eps.some((e) => !(e > 0 && e <= 1e6)))
      throw new FedrankError(
        'CLI_BAD_ARGUMENT',
        `--epsilons must list numbers > 0, got '${o.get('epsilons')}'`,
      );
    const overrides = privateOverrides(preset?.private ?? PRODUCT_PRIVATE, o);
    runs = [
      { label: 'popularity', mode: 'popularity' },
      ...privateRows(eps).map((r) => ({ ...r, federated: overrides })),
    ];
  } else if (mode === undefined && preset && !o.has('sigma') && !o.has('epsilon')) {
    // A flag beats a row's own overrides too, so a table run is what its flags say.
    runs = preset.table.map((r) =>
      r.mode === 'federated' && r.federated ? { ...r, federated: privateOverrides(r.federated, o) } : r,
    );
  } else {
    const m = mode ?? 'federated';
    if (m !== 'federated' && (o.has('sigma') || o.has('epsilon'))) {
      throw new FedrankError('CLI_BAD_ARGUMENT', `--sigma/--epsilon apply to --mode federated only`);
    }
    if (m === 'federated') {
      // A noisy run of a preset gets the preset's private settings, as its table's private rows do.
      const overrides = noisy && preset ? { federated: privateOverrides(preset.private, o) } : {};
      if (o.has('epsilon')) {
        const e = numberOption(args, 'epsilon', 1e-6, 1e6);
        runs = [{ label: `private, ε=${e}`, mode: 'federated', epsilon: e, ...overrides }];
      } else {
        const label = sigma > 0 ? `private, σ=${sigma}` : 'federated, no noise';
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
    catalogWeights:
      choice(
        o.get('catalog-weights'),
        ['on', 'off'] as const,
        'catalog-weights',
        preset?.catalogWeights ? 'on' : 'off',
      ) === 'on',
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

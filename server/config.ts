/**
 * Server configuration: one JSON document (file) overlaid by command-line flags, validated at start.
 * Every problem is one line in a FedrankError('CONFIG_INVALID').
 */
import { readFileSync } from 'node:fs';
import { FedrankError } from '../shared/errors.ts';
import type { ServerOptimizer } from '../shared/fl/aggregate.ts';
import { MAX_SHARED_NEGATIVES } from '../shared/protocol-parse.ts';
import type { TrainingConfig } from '../shared/protocol.ts';

/** Everything `fedrank serve` can be configured with. */
export interface ServerConfig {
  host: string;
  port: number;
  /** SQLite database file (created when missing); ':memory:' for tests. */
  db: string;
  /** PostgreSQL URL (postgres://USER@HOST:PORT/DB) for several server processes; absent = SQLite at `db`. */
  store?: string;
  /** Token for /v1/admin/*; filled from FEDRANK_OPERATOR_TOKEN or operatorTokenFile by resolveOperatorToken. */
  operatorToken?: string;
  operatorTokenFile?: string;
  /** Storefront origins allowed to call the public API from a browser ('*' = any; demo only). */
  allowedOrigins: string[];
  /** Model spec overrides (merged over the default spec of the model module). */
  model: { spec?: Record<string, unknown>; seed: number };
  training: TrainingConfig;
  rounds: {
    minClients: number;
    maxClients: number;
    /** Seconds after a round opens at which it closes if it has minClients; null = only maxClients closes. */
    deadlineSeconds: number | null;
    /** Updates based on versions older than version - maxStaleness are rejected. */
    maxStaleness: number;
    /** Stale weight = 1/(1+staleness)^alpha (FedAsync polynomial discount). */
    stalenessAlpha: number;
  };
  optimizer: ServerOptimizer;
  privacy: {
    delta: number;
    /** Server epsilon budget for the released model; null = unlimited (still reported). */
    epsilonBudget: number | null;
    deviceEpsilonBudget: number;
    /** Poisson sampling rate q for amplification; only used together with populationSize. */
    samplingRate: number | null;
    populationSize: number | null;
    /** z in the norm bound C + s*(sqrt(d) + z): the tail is below exp(-z^2/2). */
    normTailZ: number;
  };
  limits: {
    /** Requests per minute per IP over all routes; 0 disables. */
    perIpPerMinute: number;
    /** Uploads (updates + eval reports) per minute per client id; 0 disables. */
    perClientPerMinute: number;
    /** Body limit for JSON routes, bytes. Update bodies are limited by the model size. */
    jsonBodyBytes: number;
  };
  /** SQLite synchronous pragma: FULL survives power loss, NORMAL (WAL) survives process crashes only. */
  durability: 'full' | 'normal';
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

/** Defaults sized for a local demo: small rounds, a short deadline, local noise at sigma 1. */
export function defaultConfig(): ServerConfig {
  return {
    host: '127.0.0.1',
    port: 8787,
    db: '.fedrank-data/fedrank.db',
    allowedOrigins: [],
    model: { seed: 1 },
    training: {
      clipNorm: 1,
      noiseMultiplier: 1,
      noiseMode: 'distributed',
      expectedClientsPerRound: 3,
      localEpochs: 1,
      learningRate: 0.05,
      batchSize: 16,
      sharedNegatives: 64,
      lossReduction: 'mean',
      minNewEvents: 5,
      updateEncoding: 'i8',
    },
    rounds: { minClients: 3, maxClients: 10, deadlineSeconds: 30, maxStaleness: 2, stalenessAlpha: 0.5 },
    optimizer: { kind: 'fedavg', learningRate: 1 },
    privacy: {
      delta: 1e-5,
      epsilonBudget: null,
      deviceEpsilonBudget: 8,
      samplingRate: null,
      populationSize: null,
      normTailZ: 8,
    },
    limits: { perIpPerMinute: 1200, perClientPerMinute: 30, jsonBodyBytes: 64 * 1024 },
    durability: 'full',
    logLevel: 'info',
  };
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

function bad(path: string, what: string): never {
  throw new FedrankError('CONFIG_INVALID', `${path}: ${what}`);
}

/** Deep-merges plain objects (arrays and scalars replace); unknown keys are kept for validation to catch. */
function merge(base: unknown, over: unknown): unknown {
  if (!isObj(base) || !isObj(over)) return over === undefined ? base : over;
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}

function checkKeys(o: Obj, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) bad(`${path}${k}`, 'unknown key');
}

function num(o: Obj, k: string, path: string, min: number, max: number, int = false): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v)))
    bad(
      `${path}${k}`,
      `must be ${int ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(v)}`,
    );
  return v;
}

function numOrNull(o: Obj, k: string, path: string, min: number, max: number, int = false): number | null {
  return o[k] === null ? null : num(o, k, path, min, max, int);
}

function str(o: Obj, k: string, path: string, allowed?: readonly string[]): string {
  const v = o[k];
  if (typeof v !== 'string' || v === '' || (allowed && !allowed.includes(v)))
    bad(`${path}${k}`, allowed ? `must be one of ${allowed.join('|')}` : 'must be a non-empty string');
  return v;
}

function obj(o: Obj, k: string, path: string): Obj {
  const v = o[k];
  if (!isObj(v)) bad(`${path}${k}`, 'must be an object');
  return v;
}

/** Validates a full configuration object (defaults already merged in); throws CONFIG_INVALID. */
export function validateConfig(x: unknown): ServerConfig {
  if (!isObj(x)) bad('config', 'must be a JSON object');
  const top = [
    ...['host', 'port', 'db', 'operatorToken', 'operatorTokenFile', 'allowedOrigins', 'model', 'training'],
    ...['rounds', 'optimizer', 'privacy', 'limits', 'durability', 'logLevel', '$schema', 'comment'],
    'store',
  ];
  checkKeys(x, top, '');
  const host = str(x, 'host', '');
  const port = num(x, 'port', '', 0, 65535, true);
  const db = str(x, 'db', '');
  if (x.store !== undefined && !/^postgres(ql)?:\/\/\S+$/.test(String(x.store)))
    bad('store', 'must be a postgres://USER@HOST:PORT/DB URL (leave it out for SQLite at db)');
  if (x.operatorToken !== undefined) str(x, 'operatorToken', '');
  if (x.operatorTokenFile !== undefined) str(x, 'operatorTokenFile', '');
  const origins = x.allowedOrigins;
  if (
    !Array.isArray(origins) ||
    origins.some((o) => typeof o !== 'string' || !/^(\*|https?:\/\/[^/\s]+)$/.test(o))
  )
    bad('allowedOrigins', "must be a list of origins like 'https://shop.example' (or '*')");

  const model = obj(x, 'model', '');
  checkKeys(model, ['spec', 'seed'], 'model.');
  if (model.spec !== undefined && !isObj(model.spec)) bad('model.spec', 'must be an object');
  num(model, 'seed', 'model.', 0, 2 ** 32 - 1, true);

  const t = obj(x, 'training', '');
  const tKeys = [
    'clipNorm',
    'noiseMultiplier',
    'noiseMode',
    'expectedClientsPerRound',
    'localEpochs',
    'learningRate',
    'batchSize',
    'sharedNegatives',
    'lossReduction',
    'minNewEvents',
    'updateEncoding',
  ];
  checkKeys(t, tKeys, 'training.');
  num(t, 'clipNorm', 'training.', 1e-9, 1e9);
  num(t, 'noiseMultiplier', 'training.', 0, 1e6);
  str(t, 'noiseMode', 'training.', ['local', 'distributed']);
  num(t, 'expectedClientsPerRound', 'training.', 1, 1e9, true);
  num(t, 'localEpochs', 'training.', 1, 1000, true);
  num(t, 'learningRate', 'training.', 1e-9, 100);
  num(t, 'batchSize', 'training.', 1, 1e6, true);
  num(t, 'sharedNegatives', 'training.', 0, MAX_SHARED_NEGATIVES, true);
  str(t, 'lossReduction', 'training.', ['mean', 'sum']);
  num(t, 'minNewEvents', 'training.', 0, 1e9, true);
  str(t, 'updateEncoding', 'training.', ['f32', 'i8']);

  const r = obj(x, 'rounds', '');
  checkKeys(r, ['minClients', 'maxClients', 'deadlineSeconds', 'maxStaleness', 'stalenessAlpha'], 'rounds.');
  const minC = num(r, 'minClients', 'rounds.', 1, 1e9, true);
  const maxC = num(r, 'maxClients', 'rounds.', 1, 1e9, true);
  if (maxC < minC) bad('rounds.maxClients', `must be >= minClients (${minC})`);
  numOrNull(r, 'deadlineSeconds', 'rounds.', 0.001, 1e9);
  num(r, 'maxStaleness', 'rounds.', 0, 1e6, true);
  num(r, 'stalenessAlpha', 'rounds.', 0, 100);

  const o = obj(x, 'optimizer', '');
  const kind = str(o, 'kind', 'optimizer.', ['fedavg', 'fedadam']);
  if (kind === 'fedavg') checkKeys(o, ['kind', 'learningRate', 'decay'], 'optimizer.');
  else {
    checkKeys(o, ['kind', 'learningRate', 'beta1', 'beta2', 'tau', 'biasCorrection', 'decay'], 'optimizer.');
    num(o, 'beta1', 'optimizer.', 0, 0.999999);
    num(o, 'beta2', 'optimizer.', 0, 0.999999999);
    num(o, 'tau', 'optimizer.', 1e-12, 10);
    if (o.biasCorrection !== undefined && typeof o.biasCorrection !== 'boolean') {
      bad('optimizer.biasCorrection', 'must be true or false');
    }
  }
  num(o, 'learningRate', 'optimizer.', 1e-9, 100);
  if (o.decay !== undefined) {
    const d = obj(o, 'decay', 'optimizer.');
    checkKeys(d, ['start', 'end', 'final'], 'optimizer.decay.');
    const start = num(d, 'start', 'optimizer.decay.', 0, 1e9, true);
    num(d, 'end', 'optimizer.decay.', start + 1, 1e9, true);
    num(d, 'final', 'optimizer.decay.', 0, 1);
  }

  const p = obj(x, 'privacy', '');
  checkKeys(
    p,
    ['delta', 'epsilonBudget', 'deviceEpsilonBudget', 'samplingRate', 'populationSize', 'normTailZ'],
    'privacy.',
  );
  num(p, 'delta', 'privacy.', 1e-300, 0.1);
  numOrNull(p, 'epsilonBudget', 'privacy.', 1e-6, 1e6);
  num(p, 'deviceEpsilonBudget', 'privacy.', 1e-6, 1e6);
  const q = numOrNull(p, 'samplingRate', 'privacy.', 1e-12, 1);
  const pop = numOrNull(p, 'populationSize', 'privacy.', 1, 1e12, true);
  if ((q === null) !== (pop === null))
    bad('privacy.samplingRate', 'amplification by sampling needs both samplingRate and populationSize');
  if (q !== null && pop !== null && q * pop < minC)
    bad(
      'privacy.samplingRate',
      `samplingRate*populationSize (${q * pop}) is below rounds.minClients (${minC})`,
    );
  num(p, 'normTailZ', 'privacy.', 3, 40);
  if (t.noiseMode === 'distributed' && (t.expectedClientsPerRound as number) > minC)
    bad(
      'training.expectedClientsPerRound',
      `must be <= rounds.minClients (${minC}) in distributed mode, else a round can close with less noise than sigma*C`,
    );
  if (p.epsilonBudget !== null && (t.noiseMultiplier as number) === 0)
    bad(
      'privacy.epsilonBudget',
      'a budget needs training.noiseMultiplier > 0 (sigma 0 spends infinite epsilon)',
    );

  const l = obj(x, 'limits', '');
  checkKeys(l, ['perIpPerMinute', 'perClientPerMinute', 'jsonBodyBytes'], 'limits.');
  num(l, 'perIpPerMinute', 'limits.', 0, 1e9, true);
  num(l, 'perClientPerMinute', 'limits.', 0, 1e9, true);
  num(l, 'jsonBodyBytes', 'limits.', 1024, 1e8, true);

  str(x, 'durability', '', ['full', 'normal']);
  str(x, 'logLevel', '', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
  void host;
  void port;
  void db;
  const { $schema: _s, comment: _c, ...rest } = x;
  return rest as unknown as ServerConfig;
}

/** Defaults, then `overrides` (a partial config: file contents, flags, or a test's settings). */
export function makeConfig(...overrides: unknown[]): ServerConfig {
  let merged: unknown = defaultConfig();
  for (const o of overrides) {
    if (o === undefined) continue;
    if (!isObj(o)) bad('config', 'must be a JSON object');
    merged = merge(merged, o);
  }
  return validateConfig(merged);
}

/** Reads a JSON config file; a missing file or bad JSON is a one-line CONFIG_INVALID. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    bad(path, `cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    bad(path, `not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
}

/**
 * The operator token: FEDRANK_OPERATOR_TOKEN, else config.operatorToken, else the first line of
 * operatorTokenFile. There is no default; a short token is refused.
 */
export function resolveOperatorToken(config: ServerConfig, env: NodeJS.ProcessEnv = process.env): string {
  let token = env.FEDRANK_OPERATOR_TOKEN ?? config.operatorToken;
  if (token === undefined && config.operatorTokenFile !== undefined) {
    try {
      token = readFileSync(config.operatorTokenFile, 'utf8').split('\n')[0]!.trim();
    } catch (err) {
      bad(
        'operatorTokenFile',
        `cannot read ${config.operatorTokenFile} (${(err as NodeJS.ErrnoException).code})`,
      );
    }
  }
  if (token === undefined || token === '')
    bad(
      'operatorToken',
      'no operator token: set FEDRANK_OPERATOR_TOKEN or operatorTokenFile (there is no default)',
    );
  if (token.length < 16) bad('operatorToken', 'the operator token must be at least 16 characters');
  return token;
}

/**
 * Server configuration: one JSON document (file) overlaid by command-line flags, validated at start.
 * Every problem is reported at once, each with its JSON path, in one ConfigInvalidError (CONFIG_INVALID).
 */
import { readFileSync } from 'node:fs';
import { FedrankError } from '../shared/errors.ts';
import type { ServerOptimizer } from '../shared/fl/aggregate.ts';
import { TRAINING_FIELDS, parseTrainingField } from '../shared/protocol-parse.ts';
import { ConfigCheck, ConfigInvalidError, isObj } from './config-check.ts';
import { checkAcross } from './config-rules.ts';
import type { TrainingConfig } from '../shared/protocol.ts';
import type { EvalSettings } from './eval-reports.ts';
import { DEFAULT_ROBUST, type RobustBounds } from './robust-step.ts';
import { checkTokensConfig, defaultTokensConfig, type TokensConfig } from './tokens/config.ts';
import { checkSecureAggregation, defaultSecAggSection, type SecAggSection } from './secagg/config.ts';

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
  /**
   * Model spec overrides (merged over the default spec of the model module); `catalog`: path of the shop's
   * catalog (JSON items), whose attribute weights the server publishes in the spec (model-source.ts).
   */
  model: { spec?: Record<string, unknown>; seed: number; catalog?: string };
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
  /** Bounds on one round's model change (server/robust-step.ts): what a poisoned round can do. */
  robust: RobustBounds;
  privacy: {
    delta: number;
    /**
     * Epsilon budget per shopper against the model's observers (see docs/privacy.md); training stops when
     * the next round would exceed it. null = unlimited (still reported).
     */
    epsilonBudget: number | null;
    deviceEpsilonBudget: number;
    /** Refused unless null: no round samples its clients, so no amplification by sampling may be claimed. */
    samplingRate: number | null;
    populationSize: number | null;
    /** Whether rounds run secure aggregation (the server sees only sums); distributed noise requires it. */
    secureAggregation: boolean;
    /** Rounds one shopper can contribute to, as devices enforce it; null = no cap (every round counts). */
    maxContributions: number | null;
    /** Rounds between two contributions of one device, as devices enforce it. */
    minSeparationRounds: number;
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
    /** A request (headers and body) not received within this many milliseconds is answered 408 and closed. */
    requestTimeoutMs: number;
    /** Bodies arriving slower than this (bytes/s, averaged from the first byte) are cut off; 0 disables. */
    minBodyBytesPerSecond: number;
    /** Upload bytes being received at once, all sources together; beyond it new uploads get 503. */
    inFlightUploadBytes: number;
    /** Upload bytes being received at once from one source address; beyond it new uploads get 429. */
    inFlightUploadBytesPerSource: number;
  };
  /**
   * Which proxies to trust for the client address (X-Forwarded-For): false (none: the socket address),
   * a number of hops, or a list of proxy addresses/CIDRs. Rate limits are keyed on that address.
   */
  trustProxy: false | number | string[];
  /** Device evaluation reports (server/eval-reports.ts): a minimum sample before means are shown. */
  evals: EvalSettings;
  /** Contribution tokens (server/tokens/config.ts). */
  tokens: TokensConfig;
  /** SecAgg+ protocol parameters (server/secagg/config.ts); the switch is privacy.secureAggregation. */
  secureAggregation: SecAggSection;
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
      // Distributed noise is private against the server only under secure aggregation, which is off by default.
      noiseMode: 'local',
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
    robust: { ...DEFAULT_ROBUST },
    privacy: {
      delta: 1e-5,
      epsilonBudget: 8,
      deviceEpsilonBudget: 8,
      samplingRate: null,
      populationSize: null,
      secureAggregation: false,
      maxContributions: null,
      minSeparationRounds: 1,
      normTailZ: 8,
    },
    limits: {
      perIpPerMinute: 1200,
      perClientPerMinute: 30,
      jsonBodyBytes: 64 * 1024,
      requestTimeoutMs: 30_000,
      minBodyBytesPerSecond: 8 * 1024,
      inFlightUploadBytes: 256 * 1024 * 1024,
      inFlightUploadBytesPerSource: 16 * 1024 * 1024,
    },
    trustProxy: false,
    evals: { minReports: 20, maxExamples: 20 },
    tokens: defaultTokensConfig(),
    secureAggregation: defaultSecAggSection(),
    durability: 'full',
    logLevel: 'info',
  };
}

type Obj = Record<string, unknown>;

/** Deep-merges plain objects (arrays and scalars replace); unknown keys are kept for validation to catch. */
function merge(base: unknown, over: unknown): unknown {
  if (!isObj(base) || !isObj(over)) return over === undefined ? base : over;
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}

/** Top-level keys; each section below is checked by its own function (add new sections the same way). */
const TOP_KEYS = [
  ...['host', 'port', 'db', 'operatorToken', 'operatorTokenFile', 'allowedOrigins', 'model', 'training'],
  ...['rounds', 'optimizer', 'privacy', 'limits', 'durability', 'logLevel', '$schema', 'comment'],
  ...['robust', 'trustProxy', 'evals', 'tokens', 'store', 'secureAggregation'],
];
const HOST = /^([A-Za-z0-9.-]+|\[?[0-9A-Fa-f:.]+\]?)$/;
const ORIGIN = /^(\*|https?:\/\/[^/\s]+)$/;

function checkServer(c: ConfigCheck, x: Obj): void {
  const host = c.str(x, 'host', '');
  if (host !== undefined && !HOST.test(host))
    c.problem('host', `must be an IP address or host name, got ${JSON.stringify(host)}`);
  c.num(x, 'port', '', 0, 65535, true);
  c.str(x, 'db', '');
  if (x.operatorToken !== undefined) c.str(x, 'operatorToken', '');
  if (x.operatorTokenFile !== undefined) c.str(x, 'operatorTokenFile', '');
  const origins = x.allowedOrigins;
  if (!Array.isArray(origins)) c.problem('allowedOrigins', 'must be a list of origins');
  else
    origins.forEach((o, i) => {
      if (typeof o !== 'string' || !ORIGIN.test(o))
        c.problem(
          `allowedOrigins[${i}]`,
          `must be an origin like 'https://shop.example' (scheme and host, no path) or '*', got ${JSON.stringify(o)}`,
        );
    });
  c.str(x, 'durability', '', ['full', 'normal']);
  c.str(x, 'logLevel', '', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
}

/** `store`: a PostgreSQL URL shared by several processes; absent, the state is in SQLite at `db`. */
function checkStore(c: ConfigCheck, x: Obj): void {
  if (x.store === undefined) return;
  const url = c.str(x, 'store', '');
  if (url === undefined) return;
  if (!/^postgres(ql)?:\/\/\S+$/.test(url))
    c.problem('store', 'must be a postgres://USER@HOST:PORT/DB URL (leave it out for SQLite at db)');
}

function checkModel(c: ConfigCheck, x: Obj): void {
  const model = c.obj(x, 'model', '');
  if (!model) return;
  c.keys(model, ['spec', 'seed', 'catalog'], 'model');
  if (model.catalog !== undefined) c.str(model, 'catalog', 'model');
  if (model.spec !== undefined && !isObj(model.spec)) c.problem('model.spec', 'must be an object');
  c.num(model, 'seed', 'model', 0, 2 ** 32 - 1, true);
}

/** Training settings go to every device: checked by the devices' own parser (one table of bounds). */
function checkTraining(c: ConfigCheck, x: Obj): void {
  const t = c.obj(x, 'training', '');
  if (!t) return;
  const keys = Object.keys(TRAINING_FIELDS) as (keyof TrainingConfig)[];
  c.keys(t, keys, 'training');
  for (const k of keys) c.shared(`training.${k}`, () => parseTrainingField(t, k, 'training'));
}

function checkRounds(c: ConfigCheck, x: Obj): void {
  const r = c.obj(x, 'rounds', '');
  if (!r) return;
  c.keys(r, ['minClients', 'maxClients', 'deadlineSeconds', 'maxStaleness', 'stalenessAlpha'], 'rounds');
  const minC = c.num(r, 'minClients', 'rounds', 1, 1e9, true);
  const maxC = c.num(r, 'maxClients', 'rounds', 1, 1e9, true);
  if (minC !== undefined && maxC !== undefined && maxC < minC)
    c.problem('rounds.maxClients', `must be >= minClients (${minC}), got ${maxC}`);
  c.numOrNull(r, 'deadlineSeconds', 'rounds', 0.001, 1e9);
  c.num(r, 'maxStaleness', 'rounds', 0, 1e6, true);
  c.num(r, 'stalenessAlpha', 'rounds', 0, 100);
}

function checkOptimizer(c: ConfigCheck, x: Obj): void {
  const o = c.obj(x, 'optimizer', '');
  if (!o) return;
  const kind = c.str(o, 'kind', 'optimizer', ['fedavg', 'fedadam']);
  if (kind === 'fedavg') c.keys(o, ['kind', 'learningRate', 'decay'], 'optimizer');
  if (kind === 'fedadam') {
    c.keys(o, ['kind', 'learningRate', 'beta1', 'beta2', 'tau', 'biasCorrection', 'decay'], 'optimizer');
    c.num(o, 'beta1', 'optimizer', 0, 0.999999);
    c.num(o, 'beta2', 'optimizer', 0, 0.999999999);
    c.num(o, 'tau', 'optimizer', 1e-12, 10);
    if (o.biasCorrection !== undefined) c.bool(o, 'biasCorrection', 'optimizer');
  }
  c.num(o, 'learningRate', 'optimizer', 1e-9, 100);
  if (o.decay === undefined) return;
  const d = c.obj(o, 'decay', 'optimizer');
  if (!d) return;
  c.keys(d, ['start', 'end', 'final'], 'optimizer.decay');
  const start = c.num(d, 'start', 'optimizer.decay', 0, 1e9, true);
  if (start !== undefined) c.num(d, 'end', 'optimizer.decay', start + 1, 1e9, true);
  c.num(d, 'final', 'optimizer.decay', 0, 1);
}

function checkPrivacy(c: ConfigCheck, x: Obj): void {
  const p = c.obj(x, 'privacy', '');
  if (!p) return;
  c.keys(
    p,
    [
      ...['delta', 'epsilonBudget', 'deviceEpsilonBudget', 'samplingRate', 'populationSize', 'normTailZ'],
      ...['secureAggregation', 'maxContributions', 'minSeparationRounds'],
    ],
    'privacy',
  );
  c.num(p, 'delta', 'privacy', 1e-300, 0.1);
  c.numOrNull(p, 'epsilonBudget', 'privacy', 1e-6, 1e6);
  c.num(p, 'deviceEpsilonBudget', 'privacy', 1e-6, 1e6);
  c.numOrNull(p, 'samplingRate', 'privacy', 1e-12, 1);
  c.numOrNull(p, 'populationSize', 'privacy', 1, 1e12, true);
  c.num(p, 'normTailZ', 'privacy', 3, 40);
  c.bool(p, 'secureAggregation', 'privacy');
  c.numOrNull(p, 'maxContributions', 'privacy', 1, 1e9, true);
  c.num(p, 'minSeparationRounds', 'privacy', 1, 1e9, true);
}

function checkLimits(c: ConfigCheck, x: Obj): void {
  const l = c.obj(x, 'limits', '');
  if (!l) return;
  c.keys(
    l,
    [
      ...['perIpPerMinute', 'perClientPerMinute', 'jsonBodyBytes', 'requestTimeoutMs'],
      ...['minBodyBytesPerSecond', 'inFlightUploadBytes', 'inFlightUploadBytesPerSource'],
    ],
    'limits',
  );
  c.num(l, 'perIpPerMinute', 'limits', 0, 1e9, true);
  c.num(l, 'perClientPerMinute', 'limits', 0, 1e9, true);
  c.num(l, 'jsonBodyBytes', 'limits', 1024, 1e8, true);
  c.num(l, 'requestTimeoutMs', 'limits', 100, 3_600_000, true);
  c.num(l, 'minBodyBytesPerSecond', 'limits', 0, 1e9, true);
  c.num(l, 'inFlightUploadBytes', 'limits', 1024, 2 ** 40, true);
  c.num(l, 'inFlightUploadBytesPerSource', 'limits', 1024, 2 ** 40, true);
}

function checkRobust(c: ConfigCheck, x: Obj): void {
  const rb = c.obj(x, 'robust', '');
  if (!rb) return;
  c.keys(rb, ['rowStep', 'idBiasStep', 'idBiasMax', 'biasMax', 'denseStep'], 'robust');
  c.num(rb, 'rowStep', 'robust', 1e-9, 1e9);
  c.num(rb, 'idBiasStep', 'robust', 0, 1e9);
  c.num(rb, 'idBiasMax', 'robust', 0, 1e9);
  c.num(rb, 'biasMax', 'robust', 0, 1e9);
  c.num(rb, 'denseStep', 'robust', 1e-9, 1e9);
}

function checkNetwork(c: ConfigCheck, x: Obj): void {
  const ev = c.obj(x, 'evals', '');
  if (ev) {
    c.keys(ev, ['minReports', 'maxExamples'], 'evals');
    c.num(ev, 'minReports', 'evals', 1, 1e9, true);
    c.num(ev, 'maxExamples', 'evals', 1, 1e6, true);
  }
  const tp = x.trustProxy;
  const okProxy =
    tp === false ||
    (typeof tp === 'number' && Number.isInteger(tp) && tp >= 1 && tp <= 16) ||
    (Array.isArray(tp) &&
      tp.length > 0 &&
      tp.every((a) => typeof a === 'string' && /^[0-9a-fA-F.:/]+$/.test(a)));
  if (!okProxy)
    c.problem(
      'trustProxy',
      'must be false, a number of proxy hops (1-16), or a list of proxy addresses/CIDRs',
    );
}

/** Validates a full configuration object (defaults already merged in); throws every problem at once. */
export function validateConfig(x: unknown): ServerConfig {
  const c = new ConfigCheck();
  if (!isObj(x)) throw new ConfigInvalidError([{ path: '', reason: 'the config must be a JSON object' }]);
  c.keys(x, TOP_KEYS, '');
  for (const section of [checkServer, checkStore, checkModel, checkTraining, checkRounds, checkOptimizer])
    section(c, x);
  for (const section of [checkPrivacy, checkLimits, checkRobust, checkNetwork, checkTokensConfig])
    section(c, x);
  checkSecureAggregation(c, x);
  // Cross-section rules read the sections as typed values: only sections that are objects get there.
  if (isObj(x.training) && isObj(x.rounds) && isObj(x.privacy)) checkAcross(c, x as unknown as ServerConfig);
  c.done();
  const { $schema: _s, comment: _c, ...rest } = x;
  return rest as unknown as ServerConfig;
}

function bad(path: string, reason: string): never {
  throw new ConfigInvalidError([{ path, reason }]);
}

/** Line and column (1-based) of a JSON.parse failure, from the character position V8 reports. */
export function jsonErrorLocation(text: string, message: string): { line: number; column: number } {
  const lc = /line (\d+) column (\d+)/.exec(message);
  if (lc) return { line: Number(lc[1]), column: Number(lc[2]) };
  const pos = /position (\d+)/.exec(message);
  const at = pos ? Number(pos[1]) : text.length;
  const before = text.slice(0, at).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

/** Defaults, then `overrides` (a partial config: file contents, flags, or a test's settings). */
export function makeConfig(...overrides: unknown[]): ServerConfig {
  let merged: unknown = defaultConfig();
  for (const o of overrides) {
    if (o === undefined) continue;
    if (!isObj(o)) bad('', 'the config must be a JSON object');
    merged = merge(merged, o);
  }
  return validateConfig(merged);
}

/**
 * Reads a JSON config file, or a file the config names (`what` prefixes the file in errors, e.g.
 * 'model.catalog '); a missing file or bad JSON is a one-line CONFIG_INVALID.
 */
export function readConfigFile(path: string, what = ''): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    bad(`${what}${path}`, `cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0]!;
    const { line, column } = jsonErrorLocation(text, msg);
    const reason = msg.replace(/ in JSON at position \d+.*$/, '').replace(/, ".*" is not valid JSON$/, '');
    // The most common cause is a commented example (JSONC): say so.
    const hint = /^\s*\/[/*]/m.test(text) ? ' (JSON allows no comments)' : '';
    bad(`${what}${path}:${line}:${column}`, `not valid JSON: ${reason}${hint}`);
  }
}

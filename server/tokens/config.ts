/**
 * The `tokens` section of the server configuration: defaults and validation (called by server/config.ts),
 * and where the issuer's secrets come from. Every problem is one CONFIG_INVALID line.
 */
import { readFileSync } from 'node:fs';
import { FedrankError } from '../../shared/errors.ts';
import { MAX_POW_DIFFICULTY } from '../../shared/tokens/pow.ts';

/** Contribution tokens (RFC 9474 blind RSA): who may contribute, and how tokens are issued. */
export interface TokensConfig {
  /** Uploads and eval reports without a valid unspent token are refused (TOKEN_REQUIRED). */
  required: boolean;
  /** Tokens one shop session may get per UTC day through POST /v1/tokens/issue. */
  perSessionPerDay: number;
  /** Leading zero bits of the proof of work (each bit doubles a device's work). */
  powDifficulty: number;
  /** Tokens one IP address may get per UTC day by proof of work; 0 turns proof of work off. */
  powPerIpPerDay: number;
  /** Days a key issues tokens; its tokens are redeemable for as long again, then it and its spent nonces go. */
  keyRotationDays: number;
  /** RSA modulus bits of new keys. */
  keyBits: 2048 | 3072 | 4096;
  /** SQLite file of keys, spent nonces and quotas (mode 0600); null = next to `db` (`*.tokens.db`). */
  db: string | null;
  /** The shop backend's bearer secret for POST /v1/tokens/issue (or FEDRANK_SHOP_SECRET, or shopSecretFile). */
  shopSecret?: string;
  shopSecretFile?: string;
}

/** Off by default (the browser client does not fetch tokens yet); quotas sized for a few rounds a day. */
export function defaultTokensConfig(): TokensConfig {
  return {
    required: false,
    perSessionPerDay: 16,
    powDifficulty: 18,
    powPerIpPerDay: 16,
    keyRotationDays: 7,
    keyBits: 2048,
    db: null,
  };
}

const KEYS = [
  'required',
  'perSessionPerDay',
  'powDifficulty',
  'powPerIpPerDay',
  'keyRotationDays',
  'keyBits',
  'db',
  'shopSecret',
  'shopSecretFile',
];

function bad(key: string, what: string): never {
  throw new FedrankError('CONFIG_INVALID', `tokens.${key}: ${what}`);
}

function int(o: Record<string, unknown>, key: string, min: number, max: number): void {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    bad(key, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
}

/** Validates a merged `tokens` section; throws CONFIG_INVALID. */
export function validateTokensConfig(x: unknown): TokensConfig {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) bad('', 'must be an object');
  const o = x as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.includes(k)) bad(k, 'unknown key');
  if (typeof o.required !== 'boolean') bad('required', 'must be true or false');
  int(o, 'perSessionPerDay', 1, 100_000);
  int(o, 'powDifficulty', 0, MAX_POW_DIFFICULTY);
  int(o, 'powPerIpPerDay', 0, 100_000);
  int(o, 'keyRotationDays', 1, 365);
  if (![2048, 3072, 4096].includes(o.keyBits as number)) bad('keyBits', 'must be 2048, 3072 or 4096');
  if (o.db !== null && (typeof o.db !== 'string' || o.db === '')) bad('db', 'must be a path or null');
  for (const k of ['shopSecret', 'shopSecretFile'])
    if (o[k] !== undefined && (typeof o[k] !== 'string' || o[k] === '')) bad(k, 'must be a non-empty string');
  return o as unknown as TokensConfig;
}

/** The token database path: tokens.db, else beside the main database (':memory:' stays in memory). */
export function tokenDbPath(cfg: TokensConfig, mainDb: string): string {
  if (cfg.db !== null) return cfg.db;
  if (mainDb === ':memory:') return ':memory:';
  return mainDb.replace(/(\.db)?$/, '.tokens.db');
}

/**
 * The shop's issuer secret: FEDRANK_SHOP_SECRET, else tokens.shopSecret, else the first line of
 * tokens.shopSecretFile; null when none is set (POST /v1/tokens/issue then refuses everyone).
 */
export function resolveShopSecret(cfg: TokensConfig, env: NodeJS.ProcessEnv = process.env): string | null {
  let secret = env.FEDRANK_SHOP_SECRET ?? cfg.shopSecret;
  if (secret === undefined && cfg.shopSecretFile !== undefined) {
    try {
      secret = readFileSync(cfg.shopSecretFile, 'utf8').split('\n')[0]!.trim();
    } catch (err) {
      bad('shopSecretFile', `cannot read ${cfg.shopSecretFile} (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  if (secret === undefined || secret === '') return null;
  if (secret.length < 16) bad('shopSecret', 'the shop secret must be at least 16 characters');
  return secret;
}

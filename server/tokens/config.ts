/**
 * The `tokens` section of the server configuration: defaults and validation (called by server/config.ts),
 * and where the issuer's secrets come from. Every problem is one CONFIG_INVALID line.
 */
import { readFileSync } from 'node:fs';
import { FedrankError } from '../../shared/errors.ts';
import { MAX_POW_DIFFICULTY } from '../../shared/tokens/pow.ts';
import type { ConfigCheck } from '../config-check.ts';

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

/**
 * Required by default: the SDK gets tokens through the shop's relay, or by proof of work where the shop
 * configured no secret, so `fedrank serve` alone works. Quotas sized for a few rounds a day.
 */
export function defaultTokensConfig(): TokensConfig {
  return {
    required: true,
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

/** Checks a merged `tokens` section, recording every problem (server/config.ts reports them all at once). */
export function checkTokensConfig(c: ConfigCheck, x: Record<string, unknown>): void {
  const o = c.obj(x, 'tokens', '');
  if (!o) return;
  c.keys(o, KEYS, 'tokens');
  c.bool(o, 'required', 'tokens');
  c.num(o, 'perSessionPerDay', 'tokens', 1, 100_000, true);
  c.num(o, 'powDifficulty', 'tokens', 0, MAX_POW_DIFFICULTY, true);
  c.num(o, 'powPerIpPerDay', 'tokens', 0, 100_000, true);
  c.num(o, 'keyRotationDays', 'tokens', 1, 365, true);
  if (![2048, 3072, 4096].includes(o.keyBits as number))
    c.problem('tokens.keyBits', 'must be 2048, 3072 or 4096');
  if (o.db !== null && (typeof o.db !== 'string' || o.db === ''))
    c.problem('tokens.db', 'must be a path or null');
  for (const k of ['shopSecret', 'shopSecretFile']) if (o[k] !== undefined) c.str(o, k, 'tokens');
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

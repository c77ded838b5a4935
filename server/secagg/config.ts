/**
 * The `secureAggregation` configuration block and what a round derives from it. The server config holds the
 * protocol parameters (`checkSecureAggregation`); the one switch is `privacy.secureAggregation` (the
 * accounting reads it too), so the block has no `enabled` of its own that could disagree with it.
 */
import { FedrankError } from '../../shared/errors.ts';
import type { ConfigCheck } from '../config-check.ts';

/** Per-phase deadlines in seconds. */
export interface SecAggDeadlines {
  advertise: number;
  share: number;
  mask: number;
  unmask: number;
}

/** `secureAggregation` settings. */
export interface SecAggConfig {
  enabled: boolean;
  /** SecAgg+ neighbours per client k (even; a cohort of at most k + 1 uses the complete graph). */
  neighbours: number;
  /** Shamir threshold as a fraction of the neighbours, > 1/2 (t = ceil(threshold * k)). */
  threshold: number;
  /** Ring width b in bits, or 'auto' for the narrowest that keeps rounding inflation <= 2%. */
  bits: number | 'auto';
  deadlines: SecAggDeadlines;
}

/** Defaults: k = 24 neighbours (Flower's num_shares = 25 counts the client itself), t = 2/3 of them, b = 16. */
export function defaultSecAggConfig(): SecAggConfig {
  return {
    enabled: true,
    neighbours: 24,
    threshold: 2 / 3,
    bits: 16,
    deadlines: { advertise: 30, share: 30, mask: 120, unmask: 30 },
  };
}

function bad(path: string, what: string): never {
  throw new FedrankError('CONFIG_INVALID', `secureAggregation.${path}: ${what}`);
}

/** Validates a `secureAggregation` block merged over the defaults. */
export function parseSecAggConfig(x: unknown): SecAggConfig {
  const d = defaultSecAggConfig();
  if (x === undefined) return d;
  if (typeof x !== 'object' || x === null || Array.isArray(x)) bad('', 'must be an object');
  const o = x as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!(k in d)) bad(k, 'unknown key');
  const c: SecAggConfig = { ...d, ...(o as Partial<SecAggConfig>), deadlines: { ...d.deadlines } };
  if (typeof c.enabled !== 'boolean') bad('enabled', 'must be true or false');
  if (!(
    Number.isInteger(c.neighbours) &&
    c.neighbours >= 2 &&
    c.neighbours % 2 === 0 &&
    c.neighbours <= 1000
  ))
    bad('neighbours', 'must be an even integer in 2..1000');
  if (!(typeof c.threshold === 'number' && c.threshold > 0.5 && c.threshold <= 1))
    bad('threshold', 'must be a fraction in (0.5, 1]');
  if (!(c.bits === 'auto' || (Number.isInteger(c.bits) && c.bits >= 8 && c.bits <= 32)))
    bad('bits', "must be an integer in 8..32 or 'auto'");
  const dl = o.deadlines;
  if (dl !== undefined) {
    if (typeof dl !== 'object' || dl === null) bad('deadlines', 'must be an object');
    for (const [k, v] of Object.entries(dl)) {
      if (!(k in d.deadlines)) bad(`deadlines.${k}`, 'unknown key');
      if (!(typeof v === 'number' && v > 0 && v <= 3600))
        bad(`deadlines.${k}`, 'must be seconds in (0, 3600]');
      c.deadlines[k as keyof SecAggDeadlines] = v;
    }
  }
  return c;
}

/** The neighbour count and threshold of a cohort of n: the complete graph when n <= k + 1. */
export function degreeAndThreshold(c: SecAggConfig, n: number): { k: number; t: number } {
  const k = n - 1 <= c.neighbours ? n - 1 : c.neighbours;
  // At least 2 and a strict majority of the neighbourhood: fewer would let a few colluders unmask one client.
  const t = Math.min(k, Math.max(2, Math.ceil(c.threshold * k), Math.floor(k / 2) + 1));
  return { k, t };
}

/** The server config's block: the protocol parameters, without the switch (privacy.secureAggregation). */
export type SecAggSection = Omit<SecAggConfig, 'enabled'>;

/** The block's defaults. */
export function defaultSecAggSection(): SecAggSection {
  const { enabled: _e, ...rest } = defaultSecAggConfig();
  return rest;
}

/** The coordinator's settings from the server config's block and its switch. */
export function secAggSettings(section: SecAggSection, enabled: boolean): SecAggConfig {
  return { ...section, deadlines: { ...section.deadlines }, enabled };
}

/** Checks a merged `secureAggregation` section, recording every problem (server/config.ts). */
export function checkSecureAggregation(c: ConfigCheck, x: Record<string, unknown>): void {
  const o = c.obj(x, 'secureAggregation', '');
  if (!o) return;
  if (o.enabled !== undefined)
    c.problem(
      'secureAggregation.enabled',
      'the switch is privacy.secureAggregation (one switch for the protocol and its accounting)',
    );
  const { enabled: _e, ...rest } = o;
  try {
    parseSecAggConfig(rest);
  } catch (err) {
    const m = /^secureAggregation\.([^:]*): (.*)$/.exec((err as FedrankError).detail ?? '');
    c.problem(`secureAggregation${m?.[1] ? '.' + m[1] : ''}`, m?.[2] ?? (err as Error).message);
  }
}

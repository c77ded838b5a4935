/** SDK options: from the script tag's data-* attributes or from code, validated, with defaults. */
import type { BackendName, FedrankOptions } from '../types.ts';
import { BACKENDS } from '../wire.ts';
import type { WorkerInit } from '../wire.ts';

/** Options after defaults; every field present. */
export interface ResolvedOptions {
  server: string | null;
  rankTimeout: number;
  gpc: 'respect' | 'ignore';
  backend: BackendName | null;
  auto: boolean;
  epsilonCap: number;
  evalReports: boolean;
  /** True only when the shop wrote dp: 'off' (data-dp="off"). */
  dpOff: boolean;
  workerUrl: string | null;
  /** Contribution tokens: via the shop's relay (a same-origin URL), by proof of work, or not at all. */
  tokens: WorkerInit['tokens'];
}

/** Hard ceiling of the device epsilon budget, whatever the shop or the server says. */
export const EPSILON_CAP_MAX = 10;
export const DEFAULT_EPSILON_CAP = 8;
export const DEFAULT_RANK_TIMEOUT = 250;

function num(x: unknown, lo: number, hi: number, dflt: number): number {
  const v = typeof x === 'string' ? Number.parseFloat(x) : x;
  return typeof v === 'number' && Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : dflt;
}
function bool(x: unknown, dflt: boolean): boolean {
  if (typeof x === 'boolean') return x;
  if (x === 'false' || x === '0' || x === 'off') return false;
  if (x === 'true' || x === '1' || x === 'on' || x === '') return true;
  return dflt;
}
function url(x: unknown, base: string): string | null {
  if (typeof x !== 'string' || x === '') return null;
  try {
    const u = new URL(x, base);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href.replace(/\/+$/, '') : null;
  } catch {
    return null;
  }
}

/** Resolves options given as an object (code) or as a data-* record (strings); unknown values fall back. */
export function resolveOptions(
  o: FedrankOptions | Record<string, string | undefined>,
  base: string,
  page: string = globalThis.location?.href ?? base,
): ResolvedOptions {
  const r = o as Record<string, unknown>;
  const backend =
    typeof r.backend === 'string' && BACKENDS.includes(r.backend as BackendName) ? r.backend : null;
  return {
    server: url(r.server, base),
    rankTimeout: num(r.rankTimeout, 1, 60_000, DEFAULT_RANK_TIMEOUT),
    gpc: r.gpc === 'ignore' ? 'ignore' : 'respect',
    backend: backend as BackendName | null,
    auto: bool(r.auto, true),
    epsilonCap: num(r.epsilonCap, 0, EPSILON_CAP_MAX, DEFAULT_EPSILON_CAP),
    evalReports: bool(r.evalReports ?? r.eval, false),
    dpOff: r.dp === 'off',
    workerUrl: url(r.workerUrl, base),
    tokens: tokenMode(r, page),
  };
}

/** The token mode: 'off' when the shop says so; a relay only on the page's own origin (it carries its cookies). */
function tokenMode(r: Record<string, unknown>, page: string): WorkerInit['tokens'] {
  if (r.tokens === 'off') return { mode: 'off' };
  const relay = url(r.tokenUrl, page);
  if (relay && new URL(relay).origin === new URL(page).origin) return { mode: 'relay', url: relay };
  return { mode: 'pow' };
}

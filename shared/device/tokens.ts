/**
 * The device's contribution tokens: a wallet over the shared token client (shared/tokens/client.ts), kept
 * in the device store (IndexedDB in the browser, memory in Node). Batches are fetched ahead of need, when
 * few are left, so the moment of an issuance says nothing about the contribution a token later pays for.
 * A token is taken by one contribution (its idempotency key) and presented again only on a retry of that
 * request; a token the server calls spent or invalid is dropped; forget() and opt-out erase them all.
 */
import { FedrankError, isFedrankError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { tokenHeader, tokensByProofOfWork, tokensViaShop, type HttpFetch } from '../tokens/client.ts';
import { HEADER_TOKEN, TOKEN_PURPOSES, type IssueRequest, type TokenPurpose } from '../tokens/types.ts';
import type { Clock, Random, TokenSource } from './ports.ts';
import type { TokenWalletRecord } from './records.ts';
import { backoffDelay } from './rules.ts';
import type { Store } from './store.ts';

/** Obtains `count` fresh encoded tokens (the HEADER_TOKEN value) of `purpose`; throws FedrankError. */
export type FetchTokens = (purpose: TokenPurpose, count: number) => Promise<string[]>;

/** Tokens asked for per batch, and the stock below which the next batch is fetched. */
export const TOKEN_BATCH = 4;
export const TOKEN_LOW_WATER = 2;
/** Most tokens of one purpose kept unused on the device (a cap on what a stolen store holds). */
export const TOKEN_MAX_STOCK = 16;

const empty = (): TokenWalletRecord => ({ update: [], eval: [], held: {} });
const isEmpty = (w: TokenWalletRecord): boolean =>
  w.update.length === 0 && w.eval.length === 0 && Object.keys(w.held).length === 0;

/** The device's token wallet (a TokenSource). */
export class TokenWallet implements TokenSource {
  /** Catalogue code of the latest failed batch, null after a success. */
  lastError: ErrorCode | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private refilling: Promise<void> | null = null;
  private failures = 0;
  private nextRefillAt = 0;
  /** Bumped by clear(): a batch in flight when the device forgets is thrown away. */
  private generation = 0;

  constructor(
    private readonly store: Store,
    private readonly fetchTokens: FetchTokens,
    private readonly opts: {
      clock: Pick<Clock, 'now'>;
      random: Pick<Random, 'uniform'>;
      /** Purposes to keep a stock of (eval only when the device sends eval reports). */
      purposes: readonly TokenPurpose[];
    },
  ) {}

  tokenFor(purpose: TokenPurpose, key: string): Promise<string | null> {
    return this.locked(async (w) => {
      const held = w.held[key];
      if (held !== undefined) return { w, out: held };
      const token = w[purpose].shift();
      if (token !== undefined) w.held[key] = token;
      return { w, out: token ?? null, changed: token !== undefined };
    }).finally(() => void this.prefetch());
  }

  settle(key: string, _verdict: 'spent' | 'bad'): Promise<void> {
    // Either way the token is never presented again; the verdicts differ only in what the caller does next.
    return this.locked(async (w) => {
      const had = key in w.held;
      delete w.held[key];
      return { w, out: undefined, changed: had };
    });
  }

  /** Fetches a batch for each purpose whose stock is low; one batch at a time, backing off on failure. */
  prefetch(): Promise<void> {
    if (this.refilling) return this.refilling;
    if (this.opts.clock.now() < this.nextRefillAt) return Promise.resolve();
    this.refilling = this.refill().finally(() => (this.refilling = null));
    return this.refilling;
  }

  clear(): Promise<void> {
    this.generation++;
    // Nothing stored (forget() already cleared the store): nothing is written back either.
    return this.locked(async (w) => ({ w: empty(), out: undefined, changed: !isEmpty(w) }));
  }

  /** Tokens on hand per purpose (status, tests). */
  async stock(): Promise<Record<TokenPurpose, number>> {
    const w = await this.read();
    return { update: w.update.length, eval: w.eval.length };
  }

  private async refill(): Promise<void> {
    const gen = this.generation;
    try {
      for (const purpose of this.opts.purposes) {
        const w = await this.read();
        if (w[purpose].length >= TOKEN_LOW_WATER) continue;
        const fresh = await this.fetchTokens(purpose, TOKEN_BATCH);
        const kept = await this.locked(async (cur) => {
          // Checked under the lock: a clear() while the batch was fetched wins.
          if (gen !== this.generation) return { w: cur, out: false, changed: false };
          cur[purpose] = [...cur[purpose], ...fresh].slice(-TOKEN_MAX_STOCK);
          return { w: cur, out: true, changed: true };
        });
        if (!kept) return;
      }
      this.failures = 0;
      this.nextRefillAt = 0;
      this.lastError = null;
    } catch (e) {
      this.lastError = isFedrankError(e) ? e.code : 'SDK_SERVER_UNREACHABLE';
      // A failing issuer (quota used up, server down) is asked again later and later, never hammered.
      this.failures++;
      this.nextRefillAt = this.opts.clock.now() + backoffDelay(this.failures, this.opts.random.uniform());
    }
  }

  private async read(): Promise<TokenWalletRecord> {
    return (await this.store.getSetting('tokens')) ?? empty();
  }

  /** Read-modify-write of the stored wallet, one at a time (a flush and an eval report may overlap). */
  private locked<T>(
    fn: (w: TokenWalletRecord) => Promise<{ w: TokenWalletRecord; out: T; changed?: boolean }>,
  ): Promise<T> {
    const run = this.queue.then(async () => {
      const { w, out, changed } = await fn(await this.read());
      if (changed !== false) await this.store.putSetting('tokens', w);
      return out;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** Where a device gets its tokens: the shop's relay (a same-origin URL on the shop), else proof of work. */
export interface TokenIssuerOptions {
  /** The aggregation server's base URL (keys, challenges, proof-of-work issuance). */
  serverUrl: string;
  /** fetch for the aggregation server (no cookies). */
  fetch: HttpFetch;
  /** The shop's relay URL, which forwards the request to POST /v1/tokens/issue with its session; null: proof of work. */
  relayUrl: string | null;
  /** fetch for the relay (the shop's own cookies go along: it vouches for its session). */
  relayFetch?: HttpFetch;
}

/** The FetchTokens of a deployment: blinded requests relayed by the shop, or paid for by proof of work. */
export function tokenIssuer(o: TokenIssuerOptions): FetchTokens {
  const base = o.serverUrl.replace(/\/$/, '');
  return async (purpose, count) => {
    const tokens =
      o.relayUrl === null
        ? await tokensByProofOfWork({ baseUrl: base, fetch: o.fetch, purpose, count })
        : await tokensViaShop({
            baseUrl: base,
            fetch: o.fetch,
            purpose,
            count,
            relay: (request) => relay(o.relayFetch ?? o.fetch, o.relayUrl!, request),
          });
    return tokens.map((t) => tokenHeader(t)[HEADER_TOKEN]!);
  };
}

/** POSTs the device's IssueRequest to the shop's relay and returns its reply body (validated by the caller). */
async function relay(fetch: HttpFetch, url: string, request: IssueRequest): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(request),
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
    if (code === 'TOKEN_QUOTA_EXCEEDED') throw new FedrankError('TOKEN_QUOTA_EXCEEDED');
    throw new FedrankError('SDK_SERVER_UNREACHABLE', `the shop's token relay answered ${res.status}`);
  }
  return body;
}

/** Purposes a device keeps tokens for. */
export function tokenPurposes(evalReports: boolean): readonly TokenPurpose[] {
  return TOKEN_PURPOSES.filter((p) => p === 'update' || evalReports);
}

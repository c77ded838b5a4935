/**
 * The outbox: privatized contributions wait here (persisted) until the server acknowledges them, retried
 * with exponential backoff and jitter through the Submitter port. Each keeps its idempotency key and its
 * per-round client id, so a retry is never counted twice and never links two rounds.
 */
import type { ErrorCode } from '../errors.ts';
import type { Clock, Random, Submitter, TokenSource } from './ports.ts';
import type { Store } from './store.ts';
import { backoffDelay } from './rules.ts';

/** Refusals of the token, not the contribution (a retry of one key presents one token: these are no replays). */
const TOKEN_REFUSALS: readonly ErrorCode[] = ['TOKEN_REQUIRED', 'TOKEN_SPENT', 'TOKEN_INVALID'];

/** Contributions older than this are dropped: the server would reject them as stale anyway. */
export const OUTBOX_MAX_AGE_MS = 24 * 3600_000;

/** What one flush did. */
export interface FlushResult {
  sent: number;
  dropped: number;
  /** Milliseconds until the next retry is due, or null when the outbox is empty. */
  nextInMs: number | null;
  /** Catalogue code of the latest failure, if any. */
  error: ErrorCode | null;
  bytes: number | null;
}

/** The ports a flush uses. */
export interface FlushPorts {
  store: Store;
  submitter: Submitter;
  clock: Pick<Clock, 'now'>;
  random: Random;
  tokens?: TokenSource | undefined;
}

/** Tries every due contribution once; `stillValid` is asked before each submission (forget, opt-out). */
export async function flushOutbox(
  p: FlushPorts,
  stillValid: () => boolean = () => true,
): Promise<FlushResult> {
  const out: FlushResult = { sent: 0, dropped: 0, nextInMs: null, error: null, bytes: null };
  const now = (): number => p.clock.now();
  const pending = (await p.store.outbox()).sort((a, b) => a.createdAt - b.createdAt);
  const retry = async (rec: (typeof pending)[number], code: ErrorCode): Promise<void> => {
    const attempts = rec.attempts + 1;
    const delay = backoffDelay(attempts, p.random.uniform());
    await p.store.putOutbox({ ...rec, attempts, nextAttemptAt: now() + delay });
    out.nextInMs = Math.min(out.nextInMs ?? Infinity, delay);
    out.error = code;
  };
  for (const rec of pending) {
    if (!stillValid()) break;
    if (now() - rec.createdAt > OUTBOX_MAX_AGE_MS) {
      await p.store.deleteOutbox(rec.key);
      out.dropped++;
      continue;
    }
    if (rec.nextAttemptAt > now()) {
      out.nextInMs = Math.min(out.nextInMs ?? Infinity, rec.nextAttemptAt - now());
      continue;
    }
    // The token this contribution took on its first try, else a fresh one. With none on hand it goes
    // without: a server that requires tokens refuses it (TOKEN_REQUIRED) and it is retried with one later.
    let token = p.tokens ? await p.tokens.tokenFor('update', rec.key) : null;
    if (p.tokens && token === null && rec.secure) {
      // A secure contribution waits for its token rather than being refused: a refusal's back-off would
      // scatter the devices that have to join one cohort at the same time.
      await p.tokens.prefetch();
      token = await p.tokens.tokenFor('update', rec.key);
    }
    if (!stillValid()) break;
    const r = await p.submitter.submit({ record: rec, clientId: rec.clientId ?? p.random.id(), token });
    if (r.kind === 'accepted') {
      await p.store.deleteOutbox(rec.key);
      await p.tokens?.settle(rec.key, 'spent');
      out.sent++;
      out.bytes = rec.body.byteLength;
    } else if (r.kind === 'rejected' && p.tokens && TOKEN_REFUSALS.includes(r.code)) {
      // The token, not the contribution, was refused: drop it and try again with another one.
      await p.tokens.settle(rec.key, 'bad');
      await retry(rec, r.code);
    } else if (r.kind === 'rejected') {
      await p.store.deleteOutbox(rec.key);
      await p.tokens?.settle(rec.key, 'spent');
      out.dropped++;
      out.error = r.code;
    } else await retry(rec, r.code);
  }
  return out;
}

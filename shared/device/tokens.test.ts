import { describe, expect, it } from 'vitest';
import { FedrankError } from '../errors.ts';
import type { TokenPurpose } from '../tokens/types.ts';
import { FakeClock, FakeSubmitter, ackFor } from './fakes.ts';
import { flushOutbox } from './outbox.ts';
import { cryptoRandom } from './random.ts';
import type { OutboxRecord } from './records.ts';
import { MemoryStore } from './store.ts';
import { TOKEN_BATCH, TOKEN_LOW_WATER, TokenWallet, tokenPurposes } from './tokens.ts';

/** An issuer handing out numbered tokens, recording each batch; `fail` makes the next batches throw. */
class FakeIssuer {
  batches: { purpose: TokenPurpose; count: number }[] = [];
  fail: FedrankError | null = null;
  private n = 0;
  private gate: Promise<void> | null = null;
  private open: (() => void) | null = null;
  readonly fetch = async (purpose: TokenPurpose, count: number): Promise<string[]> => {
    this.batches.push({ purpose, count });
    if (this.gate) await this.gate;
    if (this.fail) throw this.fail;
    return Array.from({ length: count }, () => `${purpose}-token-${String(++this.n).padStart(4, '0')}`);
  };
  /** The next batches wait until release(). */
  hold(): void {
    this.gate = new Promise((ok) => (this.open = ok));
  }
  release(): void {
    this.gate = null;
    this.open?.();
  }
}

function rig(purposes: readonly TokenPurpose[] = ['update']) {
  const store = new MemoryStore('indexeddb');
  const clock = new FakeClock();
  const issuer = new FakeIssuer();
  const wallet = new TokenWallet(store, issuer.fetch, { clock, random: cryptoRandom, purposes });
  return { store, clock, issuer, wallet };
}

function rec(key: string, now: number): OutboxRecord {
  return {
    key,
    clientId: 'c'.repeat(20),
    body: new Uint8Array([1, 2, 3]),
    modelId: 'm',
    baseVersion: 1,
    round: 2,
    createdAt: now - 1000,
    attempts: 0,
    nextAttemptAt: now - 1,
  };
}

describe('TokenWallet', () => {
  it('fetches a batch per purpose ahead of need and keeps it in the device store', async () => {
    const { store, issuer, wallet } = rig(tokenPurposes(true));
    await wallet.prefetch();
    expect(issuer.batches).toEqual([
      { purpose: 'update', count: TOKEN_BATCH },
      { purpose: 'eval', count: TOKEN_BATCH },
    ]);
    const stored = await store.getSetting('tokens');
    expect(stored?.update.length).toBe(TOKEN_BATCH);
    expect(stored?.eval.length).toBe(TOKEN_BATCH);
    // Enough on hand: no request until the stock runs low.
    await wallet.prefetch();
    expect(issuer.batches.length).toBe(2);
  });

  it('gives each key its own token and tops up in the background when the stock runs low', async () => {
    const { issuer, wallet } = rig();
    await wallet.prefetch();
    const taken = new Set<string>();
    for (let i = 0; i < TOKEN_BATCH - TOKEN_LOW_WATER + 1; i++) {
      const t = await wallet.tokenFor('update', `key-${i}`.padEnd(20, 'x'));
      expect(t).not.toBeNull();
      taken.add(t!);
    }
    expect(taken.size).toBe(TOKEN_BATCH - TOKEN_LOW_WATER + 1);
    await wallet.prefetch();
    expect(issuer.batches.length).toBe(2);
    expect((await wallet.stock()).update).toBe(TOKEN_LOW_WATER - 1 + TOKEN_BATCH);
  });

  it('answers null when none is on hand rather than fetching just before the upload', async () => {
    const { issuer, wallet } = rig();
    issuer.hold();
    expect(await wallet.tokenFor('update', 'k'.repeat(20))).toBeNull();
    expect(issuer.batches.length).toBe(1);
    issuer.release();
    await wallet.prefetch();
    expect((await wallet.stock()).update).toBe(TOKEN_BATCH);
  });

  it('backs off after a failed batch and records its code', async () => {
    const { clock, issuer, wallet } = rig();
    issuer.fail = new FedrankError('TOKEN_QUOTA_EXCEEDED');
    await wallet.prefetch();
    expect(wallet.lastError).toBe('TOKEN_QUOTA_EXCEEDED');
    await wallet.prefetch();
    expect(issuer.batches.length).toBe(1);
    issuer.fail = null;
    await clock.advance(3_600_000);
    await wallet.prefetch();
    expect(issuer.batches.length).toBe(2);
    expect(wallet.lastError).toBeNull();
  });

  it('clear() erases the stock and the held tokens, and discards a batch still in flight', async () => {
    const { store, issuer, wallet } = rig();
    await wallet.prefetch();
    issuer.hold();
    // Taking tokens below the low-water mark starts a batch, which is held in flight.
    for (let i = 0; i <= TOKEN_BATCH - TOKEN_LOW_WATER; i++)
      await wallet.tokenFor('update', `d-${i}`.padEnd(20, 'x'));
    expect(issuer.batches.length).toBe(2);
    const inFlight = wallet.prefetch();
    await wallet.clear();
    issuer.release();
    await inFlight;
    expect(await store.getSetting('tokens')).toEqual({ update: [], eval: [], held: {} });
  });
});

describe('flushOutbox with the token wallet', () => {
  it('presents the same token only on a retry of the same idempotency key', async () => {
    const { store, clock, wallet } = rig();
    await wallet.prefetch();
    await store.putOutbox(rec('a'.repeat(20), clock.now()));
    await store.putOutbox(rec('b'.repeat(20), clock.now() + 1));
    const submitter = new FakeSubmitter();
    let first = true;
    submitter.answer = (c) => {
      if (first) {
        first = false;
        return { kind: 'retry', code: 'SDK_SERVER_UNREACHABLE' };
      }
      return { kind: 'accepted', ack: ackFor(c) };
    };
    const ports = { store, submitter, clock, random: cryptoRandom, tokens: wallet };
    await flushOutbox(ports);
    await clock.advance(3_600_000);
    await flushOutbox(ports);
    const byKey = (k: string) => submitter.calls.filter((c) => c.record.key === k).map((c) => c.token);
    const a = byKey('a'.repeat(20));
    const b = byKey('b'.repeat(20));
    expect(a.length).toBe(2);
    expect(a[0]).toBe(a[1]);
    expect(b.length).toBe(1);
    expect(b[0]).not.toBe(a[0]);
    // Accepted: nothing is held any more, and those tokens are gone from the device.
    const w = await store.getSetting('tokens');
    expect(w?.held).toEqual({});
    expect(w?.update).not.toContain(a[0]);
  });

  it('drops a token refused as spent or invalid and retries the contribution with a fresh one', async () => {
    const { store, clock, wallet } = rig();
    await wallet.prefetch();
    const key = 's'.repeat(20);
    await store.putOutbox(rec(key, clock.now()));
    const submitter = new FakeSubmitter();
    const refusals = ['TOKEN_SPENT', 'TOKEN_INVALID'] as const;
    submitter.answer = (c) =>
      submitter.calls.length <= refusals.length
        ? { kind: 'rejected', code: refusals[submitter.calls.length - 1]! }
        : { kind: 'accepted', ack: ackFor(c) };
    const ports = { store, submitter, clock, random: cryptoRandom, tokens: wallet };
    for (let i = 0; i < 3; i++) {
      await flushOutbox(ports);
      await clock.advance(3_600_000);
    }
    const tokens = submitter.calls.map((c) => c.token);
    expect(tokens.length).toBe(3);
    expect(new Set(tokens).size).toBe(3);
    expect(await store.outbox()).toEqual([]);
  });

  it('sends without a token when none is on hand, and retries with one after a TOKEN_REQUIRED refusal', async () => {
    const { store, clock, issuer, wallet } = rig();
    issuer.hold();
    await store.putOutbox(rec('w'.repeat(20), clock.now()));
    const submitter = new FakeSubmitter();
    submitter.answer = (c) =>
      c.token === null ? { kind: 'rejected', code: 'TOKEN_REQUIRED' } : { kind: 'accepted', ack: ackFor(c) };
    const ports = { store, submitter, clock, random: cryptoRandom, tokens: wallet };
    const r = await flushOutbox(ports);
    expect(r.error).toBe('TOKEN_REQUIRED');
    expect(r.nextInMs).toBeGreaterThan(0);
    expect((await store.outbox())[0]!.attempts).toBe(1);
    issuer.release();
    await wallet.prefetch();
    await clock.advance(3_600_000);
    expect((await flushOutbox(ports)).sent).toBe(1);
    expect(submitter.calls.map((c) => c.token === null)).toEqual([true, false]);
  });
});

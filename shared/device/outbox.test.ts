import { describe, expect, it, vi } from 'vitest';
import { HttpTransport } from './http.ts';
import type { HttpRequest } from './http.ts';
import { flushOutbox, OUTBOX_MAX_AGE_MS } from './outbox.ts';
import { cryptoRandom } from './random.ts';
import type { OutboxRecord } from './records.ts';
import { MemoryStore } from './store.ts';
import { FakeSubmitter } from './fakes.ts';

const NOW = 1_700_000_000_000;
function rec(key: string, over: Partial<OutboxRecord> = {}): OutboxRecord {
  return {
    key,
    clientId: 'c'.repeat(20),
    body: new Uint8Array([1, 2, 3]),
    modelId: 'm',
    baseVersion: 1,
    round: 2,
    createdAt: NOW - 1000,
    attempts: 0,
    nextAttemptAt: NOW - 1,
    ...over,
  };
}
function reply(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}
const ACK = { accepted: true, duplicate: false, round: 2, modelVersion: 1 };

let fetchImpl: (url: string, req: HttpRequest) => Promise<Response> = async () => {
  throw new Error('no fetch set');
};
const transport = new HttpTransport('https://agg', (url, req) => fetchImpl(url, req));
const flush = (store: MemoryStore, now: number) =>
  flushOutbox({ store, submitter: transport, clock: { now: () => now }, random: cryptoRandom });

describe('flushOutbox', () => {
  it('sends due updates with client id, idempotency key and content type, and deletes them when acknowledged', async () => {
    const store = new MemoryStore();
    await store.putOutbox(rec('k'.repeat(20)));
    const fetchMock = vi.fn(async () => reply(200, ACK));
    fetchImpl = fetchMock;
    const r = await flush(store, NOW);
    expect(r).toMatchObject({ sent: 1, dropped: 0, nextInMs: null, error: null, bytes: 3 });
    expect(await store.outbox()).toEqual([]);
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, HttpRequest];
    expect(url).toBe('https://agg/v1/updates');
    expect(init.headers).toMatchObject({
      'content-type': 'application/vnd.fedrank.tensor',
      'x-fedrank-client': 'c'.repeat(20),
      'idempotency-key': 'k'.repeat(20),
    });
  });

  it('keeps and reschedules an update on 503 or a network error, with growing backoff', async () => {
    const store = new MemoryStore();
    await store.putOutbox(rec('a'.repeat(20)));
    fetchImpl = async () => reply(503, { error: { code: 'UNAVAILABLE', message: 'x' } });
    const r1 = await flush(store, NOW);
    expect(r1.error).toBe('UNAVAILABLE');
    const [after1] = await store.outbox();
    expect(after1!.attempts).toBe(1);
    expect(after1!.nextAttemptAt).toBeGreaterThan(NOW);
    // Not due yet: nothing is sent, the next retry time is reported.
    fetchImpl = async () => {
      throw new TypeError('network down');
    };
    const r2 = await flush(store, NOW);
    expect(r2.sent + r2.dropped).toBe(0);
    expect(r2.nextInMs).toBe(after1!.nextAttemptAt - NOW);
    const later = after1!.nextAttemptAt + 1;
    const r3 = await flush(store, later);
    expect(r3.error).toBe('SDK_SERVER_UNREACHABLE');
    const [after3] = await store.outbox();
    expect(after3!.attempts).toBe(2);
    expect(after3!.nextAttemptAt - later).toBeGreaterThanOrEqual(r1.nextInMs!);
  });

  it('drops an update the server rejects for good, and one too old to matter', async () => {
    const store = new MemoryStore();
    await store.putOutbox(rec('s'.repeat(20)));
    await store.putOutbox(rec('o'.repeat(20), { createdAt: NOW - OUTBOX_MAX_AGE_MS - 1 }));
    fetchImpl = async () => reply(409, { error: { code: 'UPDATE_STALE', message: 'old' } });
    const r = await flush(store, NOW);
    expect(r).toMatchObject({ sent: 0, dropped: 2, error: 'UPDATE_STALE' });
    expect(await store.outbox()).toEqual([]);
  });

  for (const code of ['UPDATE_ALREADY_CONTRIBUTED', 'UPDATE_STALE', 'UPDATE_WRONG_ROUND']) {
    it(`drops an update refused with ${code} after one attempt and reports the code`, async () => {
      const store = new MemoryStore();
      await store.putOutbox(rec('r'.repeat(20)));
      const fetchMock = vi.fn(async () => reply(409, { error: { code, message: 'no' } }));
      fetchImpl = fetchMock;
      const r = await flush(store, NOW);
      expect(r).toMatchObject({ sent: 0, dropped: 1, error: code, nextInMs: null });
      expect(await store.outbox()).toEqual([]);
      await flush(store, NOW + 3_600_000);
      expect(fetchMock).toHaveBeenCalledTimes(1);
    });
  }

  it('retries when a 200 reply is not a valid acknowledgement', async () => {
    const store = new MemoryStore();
    await store.putOutbox(rec('v'.repeat(20)));
    fetchImpl = async () => reply(200, { accepted: 'yes' });
    const r = await flush(store, NOW);
    expect(r.error).toBe('SDK_BAD_MESSAGE');
    expect((await store.outbox()).length).toBe(1);
  });
});

describe('flushOutbox when the device is forgotten', () => {
  it('stops before submitting once the device was forgotten or opted out', async () => {
    const store = new MemoryStore();
    await store.putOutbox(rec('f'.repeat(20)));
    const submitter = new FakeSubmitter();
    const r = await flushOutbox(
      { store, submitter, clock: { now: () => NOW }, random: cryptoRandom },
      () => false,
    );
    expect(r.sent).toBe(0);
    expect(submitter.calls).toEqual([]);
  });
});

/**
 * Device-side secure aggregation end to end in one process: eight SecAggSubmitters (the device core's
 * Submitter port, memory stores) talk HTTP to a real server on port 0. Two shoppers close their pages
 * after sharing keys, one navigates mid-round and resumes from its store; the round completes and the
 * model moves by exactly the decoded mean.
 */
import { describe, expect, it } from 'vitest';
import { encodeTensor } from '../shared/codec/tensor-codec.ts';
import type { FetchLike } from '../shared/device/http.ts';
import type { Contribution } from '../shared/device/ports.ts';
import { DEFAULT_FLOORS } from '../shared/device/rules.ts';
import { ringAddInto } from '../shared/secagg/ring.ts';
import { SecAggSubmitter } from '../shared/device/secagg-submitter.ts';
import { MemoryStore } from '../shared/device/store.ts';
import { nodeClock, nodeFetch } from '../node/device-ports.ts';
import { startServer } from './app.ts';
import type { SecAggResult } from './secagg/coordinator.ts';
import { MemorySecAggStore } from './secagg/store-memory.ts';
import { randomId, testConfig } from './testing.ts';

const N = 8;

/**
 * A fetch that fails like a closed page once `state.closed`, once on a slot poll when `state.navigate`, and
 * answers 429 to the first two slot polls.
 */
function pageFetch(state: { closed: boolean; navigate: boolean }, closeAfterShare: boolean): FetchLike {
  let posts = 0;
  let throttled = 0;
  return async (url, req) => {
    if (state.closed) throw new Error('page closed');
    // A busy relay (many shoppers behind one address): the first two slot polls are throttled, and the
    // device must poll again rather than give its round up.
    if (req.method === 'GET' && url.includes('/slots/') && throttled++ < 2)
      return new Response(JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'busy' } }), {
        status: 429,
        headers: { 'content-type': 'application/json', 'retry-after': '0' },
      });
    if (state.navigate && req.method === 'GET' && url.includes('/slots/')) {
      state.navigate = false;
      throw new Error('navigated away');
    }
    const res = await nodeFetch(url, req);
    if (req.method === 'POST' && url.endsWith('/messages') && ++posts === 2 && closeAfterShare)
      state.closed = true; // share-keys went out; the page closes before the masked input
    return res;
  };
}

describe('secure aggregation from device cores over HTTP', () => {
  it('completes with two dropouts after share keys and one navigation; the model moves by the decoded mean', async () => {
    let clock = Date.now();
    const results: { mean: Float32Array; ringSum: Uint32Array; bits: number }[] = [];
    const inputs: { slot: number; input: Uint32Array }[] = [];
    const secStore = new MemorySecAggStore();
    const s = await startServer(
      testConfig({
        host: '127.0.0.1',
        port: 0,
        training: { clipNorm: 1, noiseMultiplier: 1, noiseMode: 'distributed', expectedClientsPerRound: 3 },
        rounds: { minClients: 3, maxClients: N },
        privacy: { secureAggregation: true },
      }),
      {
        clock: () => clock,
        secAggStore: secStore,
        onSecAggResult: (r: SecAggResult) =>
          results.push({
            mean: r.mean.slice(),
            ringSum: r.ringSum.slice(),
            bits: r.record.params.encoding.bits,
          }),
      },
    );
    try {
      const agg = s.aggregator;
      const d = agg.model.paramCount;
      const before = agg.params.slice();
      const forRound = agg.open!.round.id;
      const secureRound = (await s.secure!.currentRound())!.round;
      const shoppers = Array.from({ length: N }, (_, i) => {
        const store = new MemoryStore('indexeddb');
        const page = { closed: false, navigate: i === 0 };
        const fetch = pageFetch(page, i >= N - 2);
        const delta = new Float32Array(d).map((_, j) => (((i + j) % 5) - 2) * 0.01);
        const key = randomId();
        const c: Contribution = {
          clientId: randomId(),
          token: null,
          record: {
            key,
            body: encodeTensor(
              { kind: 'delta', modelId: agg.model.modelId, baseVersion: 0, round: forRound, encoding: 'f32' },
              delta,
            ),
            secure: true,
            modelId: agg.model.modelId,
            baseVersion: 0,
            round: forRound,
            createdAt: 0,
            attempts: 0,
            nextAttemptAt: 0,
          },
        };
        const submitter = () =>
          new SecAggSubmitter(s.url, fetch, store, nodeClock, DEFAULT_FLOORS, 10, (x) =>
            inputs.push({ slot: x.slot, input: x.input.slice() }),
          );
        return { store, c, submitter, key };
      });
      // Shopper 1 navigates after advertising: its first submit ends, the next page resumes from the store.
      const first = shoppers[0]!;
      const running = shoppers.map(async (x, i) => {
        const out = await x.submitter().submit(x.c);
        if (i !== 0) return out;
        expect(out).toEqual({ kind: 'retry', code: 'SDK_SERVER_UNREACHABLE' });
        expect((await first.store.getRoundSecrets(first.key))?.state.phase).toBe('advertised');
        return x.submitter().submit(x.c);
      });
      // The two closed pages never send masked inputs: once the six are in, the mask deadline passes.
      while ((await secStore.loadRound(secureRound))?.masked.length !== N - 2)
        await new Promise((r) => setTimeout(r, 20));
      clock += 121_000;
      const outcomes = await Promise.all(running);
      expect(outcomes.filter((o) => o.kind === 'accepted')).toHaveLength(N - 2);
      expect(outcomes.slice(N - 2)).toEqual([
        { kind: 'retry', code: 'SDK_SERVER_UNREACHABLE' },
        { kind: 'retry', code: 'SDK_SERVER_UNREACHABLE' },
      ]);
      await s.secure!.check();
      await agg.idle();

      expect(agg.version).toBe(1);
      expect(results).toHaveLength(1);
      const moved = agg.params.map((p, i) => p - before[i]!);
      for (let i = 0; i < d; i++) expect(moved[i]).toBeCloseTo(results[0]!.mean[i]!, 6);
      // The encoded-input seam reports exactly the survivors, whose inputs sum to the server's ring sum.
      expect(inputs.map((x) => x.slot).sort((a, b) => a - b)).toEqual(
        (await secStore.loadRound(secureRound))!.masked,
      );
      const want = new Uint32Array(results[0]!.ringSum.length);
      for (const x of inputs) ringAddInto(want, x.input, results[0]!.bits);
      expect(results[0]!.ringSum).toEqual(want);
      // Nothing unmasked is kept: no masked sum on the server, no secrets on the survivors' devices.
      expect(await secStore.maskedSum(secureRound)).toBeNull();
      for (const x of shoppers.slice(0, N - 2)) expect(await x.store.getRoundSecrets(x.key)).toBeNull();
      expect((await secStore.loadRound(secureRound))!.masked).toHaveLength(N - 2);
    } finally {
      await s.close();
    }
  });
});

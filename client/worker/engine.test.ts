import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { manifest, trainingConfig, weightsBytes } from '../../e2e/sdk/support.ts';
import type { WorkerApi, WorkerInit } from '../wire.ts';
import { workerFacade } from './facade.ts';

// The engine as the page reaches it (through the facade), in Node: no IndexedDB (memory store), CPU, and
// a stub server whose every request is recorded.
let api: WorkerApi;
const requests: string[] = [];
beforeAll(async () => {
  vi.stubGlobal('navigator', { userAgent: 'node', hardwareConcurrency: 2 });
  vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
    const path = new URL(url).pathname;
    requests.push(`${init.method} ${path}`);
    if (path === '/v1/model') return Response.json(manifest(1, trainingConfig({ minNewEvents: 2 })));
    if (path === '/v1/model/weights') return new Response(weightsBytes() as Uint8Array<ArrayBuffer>);
    return Response.json({ accepted: true, duplicate: false, round: 7, modelVersion: 1 });
  });
  const { Engine } = await import('./engine.ts');
  api = workerFacade(new Engine());
});
afterAll(() => vi.unstubAllGlobals());

const INIT: WorkerInit = {
  server: 'https://agg.example',
  backend: 'cpu',
  epsilonCap: 8,
  evalReports: false,
  dpOff: false,
  gpcOptOut: false,
};
const items = Array.from({ length: 12 }, (_, i) => ({ id: `sku-${i}`, category: `c${i % 3}`, price: 5 + i }));

describe('worker engine (adapter over the device core)', () => {
  it('starts on the forced backend with memory storage, and reports it', async () => {
    const st = await api.init(INIT);
    expect(st).toMatchObject({ ready: true, backend: 'cpu', storage: 'memory', dp: 'on', optedOut: false });
    expect(st.modelVersion).toBe(1);
    expect(st.lastError).toBe('SDK_STORAGE_UNAVAILABLE');
    expect(st.backendReason).toMatch(/forced/);
  });

  it('refuses a second init and malformed requests without throwing', async () => {
    expect((await api.init(INIT)).lastError).toBe('SDK_BAD_MESSAGE');
    expect(await api.rank('nope' as never, '')).toBeNull();
    await api.track('nope' as never);
    await api.track([{ type: 'teleport', item: items[0] } as never]);
    expect((await api.status()).eventsStored).toBe(0);
  });

  it('ranks, learns a click at once, and with memory-only storage never uploads', async () => {
    const before = await api.rank(items, '');
    expect(before!.slice().sort((a, b) => a - b)).toEqual(items.map((_, i) => i));
    await api.track([
      ...items.map((item) => ({ type: 'impression' as const, item })),
      { type: 'click', item: items[7]! },
      { type: 'click', item: items[10]! },
    ]);
    const after = await api.rank(items, '');
    expect(after!.indexOf(7)).toBeLessThan(before!.indexOf(7));
    await api.idle();
    expect(await api.status()).toMatchObject({ eventsStored: 14, updatesSent: 0, updatesPending: 0 });
    expect((await api.debug()).tfBackend).toBe('cpu');
    // Only the public model was fetched: a device that cannot keep its ledger sends nothing.
    expect(requests.every((r) => r.startsWith('GET /v1/model'))).toBe(true);
  });

  it('opt-out stops ranking; forget erases the events; opting in again ranks', async () => {
    await api.setOptOut(true);
    expect(await api.rank(items, '')).toBeNull();
    expect((await api.status()).optedOut).toBe(true);
    await api.forget();
    expect(await api.status()).toMatchObject({ optedOut: true, eventsStored: 0 });
    await api.setOptOut(false);
    expect(await api.rank(items, '')).not.toBeNull();
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WorkerApi, WorkerStatus } from '../wire.ts';
import type { WorkerHandle } from './engine-client.ts';

// The page side in Node: the worker is a scripted WorkerApi behind a fake handle (no DOM, auto off).
let handle: WorkerHandle | null = null;
vi.mock('./engine-client.ts', async (orig) => ({
  ...(await orig<typeof import('./engine-client.ts')>()),
  startWorker: () => handle,
}));
const { Sdk } = await import('./api.ts');
const { resolveOptions } = await import('./options.ts');

const STATUS: WorkerStatus = {
  ready: true,
  backend: 'wasm',
  backendReason: 'measured',
  modelVersion: 3,
  modelId: 'm',
  eventsStored: 0,
  updatesSent: 0,
  updatesPending: 0,
  epsilonSpent: 0,
  epsilonBudget: 8,
  privacyDelta: 1e-5,
  budgetExhausted: false,
  dp: 'on',
  optedOut: false,
  storage: 'indexeddb',
  personalized: false,
  globalWeight: 1,
  lastError: null,
};

function fakeWorker(over: Partial<WorkerApi> = {}): {
  api: WorkerApi;
  calls: string[];
  terminated: () => boolean;
} {
  const calls: string[] = [];
  let terminated = false;
  let optedOut = false;
  const api: WorkerApi = {
    init: async () => (calls.push('init'), STATUS),
    rank: async (items) => (calls.push('rank'), items.map((_, i) => items.length - 1 - i)),
    track: async (evs) => void calls.push(`track:${evs.length}`),
    idle: async () => void calls.push('idle'),
    setOptOut: async (v) => void (calls.push(`optOut:${v}`), (optedOut = v)),
    forget: async () => void calls.push('forget'),
    status: async () => ({ ...STATUS, optedOut, ready: !optedOut }),
    debug: async () => ({ tfBackend: 'wasm', numTensors: 0, trainMs: null, lastUploadBytes: null }),
    ...over,
  };
  handle = {
    api: api as unknown as WorkerHandle['api'],
    dead: new Promise<void>(() => {}),
    terminate: () => void (terminated = true),
  };
  return { api, calls, terminated: () => terminated };
}

const sdk = (o: Record<string, string> = {}, gpc = false) => {
  vi.stubGlobal('navigator', { globalPrivacyControl: gpc });
  return new Sdk(
    resolveOptions({ server: 'https://agg.example', auto: 'false', ...o }, 'https://shop.example/'),
  );
};
const items = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];

beforeEach(() => (handle = null));
afterEach(() => vi.unstubAllGlobals());

describe('SDK page API', () => {
  it('without a worker: original order, status says why, nothing throws', async () => {
    const s = sdk();
    const out = await s.rank(items);
    expect(out).toEqual(items);
    expect(out).not.toBe(items);
    await s.track({ type: 'click', item: { id: 'a' } });
    expect(await s.status()).toMatchObject({
      ready: false,
      lastError: 'SDK_WORKER_UNAVAILABLE',
      storage: 'none',
    });
    await s.optOut();
    await s.forget();
  });

  it('applies the worker permutation, and keeps the original order on a bad or late one', async () => {
    fakeWorker();
    const s = sdk();
    expect((await s.rank(items)).map((i) => i.id)).toEqual(['c', 'b', 'a']);
    fakeWorker({ rank: async () => [0, 0, 1] });
    const bad = sdk();
    expect(await bad.rank(items)).toEqual(items);
    expect((await bad.status()).lastError).toBe('SDK_BAD_MESSAGE');
    fakeWorker({ rank: () => new Promise(() => {}) });
    const late = sdk();
    expect(await late.rank(items, { timeoutMs: 20 })).toEqual(items);
    expect((await late.status()).lastError).toBe('SDK_RANK_TIMEOUT');
    fakeWorker({ rank: async () => Promise.reject(new Error('boom')) });
    expect(await sdk().rank(items)).toEqual(items);
  });

  it('hostile input never reaches the worker', async () => {
    const w = fakeWorker();
    const s = sdk();
    expect(await s.rank([{ id: '' }, { id: 'b' }] as never)).toEqual([{ id: '' }, { id: 'b' }]);
    await s.track({ type: 'teleport', item: { id: 'a' } } as never);
    expect(w.calls.filter((c) => c !== 'init')).toEqual([]);
    expect((await s.status()).lastError).toBe('SDK_BAD_MESSAGE');
  });

  it('sends the events of one task to the worker in one message', async () => {
    const w = fakeWorker();
    const s = sdk();
    await Promise.all([
      s.track({ type: 'impression', item: { id: 'a' } }),
      s.track({ type: 'impression', item: { id: 'b' } }),
      s.track({ type: 'click', item: { id: 'a' } }),
    ]);
    expect(w.calls.filter((c) => c.startsWith('track'))).toEqual(['track:3']);
  });

  it('a malformed init reply means no worker: it is terminated', async () => {
    const w = fakeWorker({ init: async () => ({ ready: 'yes' }) as never });
    const s = sdk();
    expect(await s.rank(items)).toEqual(items);
    expect((await s.status()).lastError).toBe('SDK_WORKER_UNAVAILABLE');
    expect(w.terminated()).toBe(true);
  });

  it('passes the script tag settings to the worker, and reports dp from it', async () => {
    let init: unknown = null;
    fakeWorker({
      init: async (c) => ((init = c), { ...STATUS, dp: 'off' }),
      status: async () => ({ ...STATUS, dp: 'off' }),
    });
    const s = sdk({ dp: 'off', epsilonCap: '3', evalReports: 'true' });
    expect((await s.status()).dp).toBe('off');
    expect(init).toMatchObject({
      server: 'https://agg.example',
      dpOff: true,
      epsilonCap: 3,
      evalReports: true,
    });
  });

  it('GPC: respected, nothing starts; ignored by the shop, the worker runs', async () => {
    const w = fakeWorker();
    const s = sdk({}, true);
    expect(await s.rank(items)).toEqual(items);
    expect(await s.status()).toMatchObject({ gpc: true, optedOut: true, ready: false });
    expect(w.calls).toEqual([]);
    const ignored = sdk({ gpc: 'ignore' }, true);
    expect(await ignored.status()).toMatchObject({ gpc: true, optedOut: false, ready: true });
  });

  it('opt-out and opt-in reach the worker; forget too', async () => {
    const w = fakeWorker();
    const s = sdk();
    await s.optOut();
    expect(await s.rank(items)).toEqual(items);
    expect((await s.status()).optedOut).toBe(true);
    await s.optIn();
    await s.forget();
    expect(w.calls).toEqual(['init', 'optOut:true', 'optOut:false', 'forget']);
  });
});

import { MessageChannel } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { describe, expect, it } from 'vitest';
import type { WorkerApi, WorkerDebug, WorkerInit, WorkerStatus } from '../wire.ts';
import { workerFacade } from './facade.ts';

/** A stand-in engine with the fields a page script must never reach. */
class Target implements WorkerApi {
  optedOut = false;
  cfg = { server: 'https://agg' };
  calls: string[] = [];
  async init(_c: WorkerInit): Promise<WorkerStatus> {
    this.calls.push('init');
    return {} as WorkerStatus;
  }
  async rank(): Promise<number[] | null> {
    this.calls.push('rank');
    return [0];
  }
  async track(): Promise<void> {}
  async idle(): Promise<void> {}
  async setOptOut(v: boolean): Promise<void> {
    this.calls.push(`setOptOut:${v}`);
  }
  async forget(): Promise<void> {}
  async status(): Promise<WorkerStatus> {
    return { optedOut: this.optedOut } as WorkerStatus;
  }
  async debug(): Promise<WorkerDebug> {
    return { tfBackend: null, numTensors: 0, trainMs: null, lastUploadBytes: null };
  }
}

describe('worker facade', () => {
  it('exposes exactly the WorkerApi methods', () => {
    const f = workerFacade(new Target());
    expect(Object.keys(f).sort()).toEqual(
      ['debug', 'forget', 'idle', 'init', 'rank', 'setOptOut', 'status', 'track'].sort(),
    );
    expect(Object.isFrozen(f)).toBe(true);
    expect(Object.getPrototypeOf(f)).toBeNull();
  });

  it('a port holder can call WorkerApi but cannot read or set anything behind it', async () => {
    const target = new Target();
    const { port1, port2 } = new MessageChannel();
    Comlink.expose(workerFacade(target), port1 as unknown as Comlink.Endpoint);
    const remote = Comlink.wrap<Record<string, unknown>>(port2 as unknown as Comlink.Endpoint);
    try {
      const api = remote as unknown as Comlink.Remote<WorkerApi>;
      expect(await api.rank([], '')).toEqual([0]);
      // Reads of the engine's fields come back empty: they are not on the facade.
      expect(await (remote.optedOut as unknown as Promise<unknown>)).toBeUndefined();
      expect(await (remote.cfg as unknown as Promise<unknown>)).toBeUndefined();
      // A write is refused (frozen facade) and never reaches the engine; later calls see it unchanged.
      const reply = new Promise<unknown>((resolve) => {
        const { port1: p1, port2: p2 } = new MessageChannel();
        Comlink.expose(workerFacade(target), p1 as unknown as Comlink.Endpoint);
        p2.on('message', (data: unknown) => {
          resolve(data);
          p1.close();
          p2.close();
        });
        // The raw message comlink's proxy sends for `remote.optedOut = true`.
        p2.postMessage({ id: 'set', type: 'SET', path: ['optedOut'], value: { type: 'RAW', value: true } });
      });
      expect(JSON.stringify(await reply)).toContain('not extensible');
      expect(await api.status()).toEqual({ optedOut: false });
      expect(target.optedOut).toBe(false);
      // Properties of the functions themselves lead nowhere either.
      const viaCall = remote.constructor as unknown as () => Promise<unknown>;
      await expect(viaCall()).rejects.toBeDefined();
      expect(target.calls).toEqual(['rank']);
      await api.setOptOut(true);
      expect(target.calls).toEqual(['rank', 'setOptOut:true']);
    } finally {
      port1.close();
      port2.close();
    }
  });
});

/**
 * A server restart (a new process over the same SQLite file) in every phase loses no acknowledged message:
 * the coordinator is rebuilt from the store between phases and the round still sums exactly.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SecAggClientRound } from '../../shared/secagg/client.ts';
import { decodeMessage, encodeMessage } from '../../shared/secagg/codec.ts';
import type { Roster, SecAggMessage, SharesIn, UnmaskRequest } from '../../shared/secagg/messages.ts';
import { ringAddInto } from '../../shared/secagg/ring.ts';
import { defaultSecAggConfig } from './config.ts';
import { SecAggCoordinator } from './coordinator.ts';
import { SqliteSecAggStore } from './store-sqlite.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedrank-secagg-restart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SecAggCoordinator over SQLite', () => {
  it('resumes after a restart between every phase, and the masked sum survives', async () => {
    const file = join(dir, 'r.db');
    const cfg = { ...defaultSecAggConfig(), neighbours: 4 };
    let store = SqliteSecAggStore.open(file);
    let server = new SecAggCoordinator(store, cfg);
    const restart = (): void => {
      store.close();
      store = SqliteSecAggStore.open(file);
      server = new SecAggCoordinator(store, cfg);
    };
    const now = 1_000;
    const d = 300;
    await server.open(
      { round: 9, cohort: 7, minSurvivors: 5, denominator: 7, d, clipNorm: 1, noiseMultiplier: 1 },
      now,
    );
    const clients: SecAggClientRound[] = [];
    for (let s = 1; s <= 7; s++) {
      const { client, message } = await SecAggClientRound.begin(9, s);
      clients.push(client);
      await server.receive(encodeMessage(message), now);
    }
    const wire = async <T extends SecAggMessage>(slot: number): Promise<T> =>
      decodeMessage(encodeMessage((await server.messageFor(9, slot))!)) as T;
    restart();
    for (let s = 1; s <= 7; s++)
      await server.receive(encodeMessage(await clients[s - 1]!.onRoster(await wire<Roster>(s))), now);
    restart();
    const want = new Uint32Array(d);
    for (let s = 1; s <= 7; s++) {
      const out = await clients[s - 1]!.onSharesIn(
        await wire<SharesIn>(s),
        new Float32Array(d).fill(s / 100),
      );
      ringAddInto(want, out.input, out.message.bits);
      await server.receive(encodeMessage(out.message), now);
      if (s === 3) restart(); // mid-phase: the running masked sum is on disk
    }
    restart();
    for (let s = 1; s <= 7; s++) {
      if ((await server.tick(9, now)).phase === 'done') break;
      await server.receive(encodeMessage(clients[s - 1]!.onUnmaskRequest(await wire<UnmaskRequest>(s))), now);
    }
    expect(server.takeResult(9)!.ringSum).toEqual(want);
    store.close();
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { computeEpsilon } from '../shared/dp/accountant.ts';
import { buildServer, type FedrankServer } from './app.ts';
import { defaultConfig } from './config.ts';
import { SqliteStore } from './store/sqlite.ts';
import { randomId, testConfig, TEST_TOKEN } from './testing.ts';
import { uploadWith } from './tokens/testing.ts';

const servers: FedrankServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function make(over: Record<string, unknown>, deps = {}): Promise<FedrankServer> {
  const s = await buildServer(testConfig(over), { logger: false, ...deps });
  servers.push(s);
  return s;
}

/** An all-`value` upload for the open round (the token tests' helper, without a token here). */
const send = (s: FedrankServer, value: number, headers: Record<string, string> = {}) =>
  uploadWith(s, headers, value);

const admin = (s: FedrankServer, url: string) =>
  s.app.inject({ url, headers: { authorization: `Bearer ${TEST_TOKEN}` } }).then((r) => r.json());

describe('rounds', () => {
  it('a round past its deadline with fewer than minClients stays open and says so; then closes', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const s = await make(
      { rounds: { minClients: 2, maxClients: 10, deadlineSeconds: 10 } },
      { clock: () => now },
    );
    expect(s.aggregator.roundInfo()!.deadline).toBe('2026-01-01T00:00:10.000Z');
    await send(s, 1);
    now += 11_000;
    s.aggregator.checkDeadline();
    await s.aggregator.idle();
    expect(s.aggregator.open!.round.id).toBe(1);
    const st = await admin(s, '/v1/admin/status');
    expect(st.roundNote).toMatch(/past its deadline with 1 of 2 required updates; it stays open/);
    await send(s, 3); // reaches minClients after the deadline: closes at once
    await s.aggregator.idle();
    expect(s.aggregator.version).toBe(1);
    expect((await admin(s, '/v1/admin/status')).roundNote).toBeNull();
  });

  it('closes at the deadline with minClients (not before), and below maxClients', async () => {
    let now = 1_000_000;
    const s = await make(
      { rounds: { minClients: 2, maxClients: 10, deadlineSeconds: 5 } },
      { clock: () => now },
    );
    await send(s, 1);
    await send(s, 1);
    await s.aggregator.idle();
    expect(s.aggregator.version).toBe(0);
    now += 5_000;
    s.aggregator.checkDeadline();
    await s.aggregator.idle();
    expect(s.aggregator.version).toBe(1);
    expect(s.aggregator.open!.round).toMatchObject({ id: 2, baseVersion: 1 });
  });

  it('records noise and epsilon per round (local mode: sigma_r = sigma*sqrt(n))', async () => {
    const s = await make({
      training: { clipNorm: 100, noiseMultiplier: 1.5, noiseMode: 'local', expectedClientsPerRound: 3 },
      rounds: { minClients: 3, maxClients: 3 },
    });
    for (let i = 0; i < 3; i++) await send(s, 1);
    await s.aggregator.idle();
    const [, r1] = (await admin(s, '/v1/admin/rounds')).rounds;
    expect(r1.sigma).toBeCloseTo(1.5 * Math.sqrt(3), 9);
    expect(r1.noiseStd).toBeCloseTo((150 * Math.sqrt(3)) / 3, 9);
    expect(r1.q).toBe(1);
    expect(r1).not.toHaveProperty('meanUpdateNorm');
    const eps = computeEpsilon({ q: 1, sigma: 1.5 * Math.sqrt(3), steps: 1, delta: 1e-5 }).epsilon;
    expect(r1.epsilonAfter).toBeCloseTo(eps, 9);
    expect((await admin(s, '/v1/admin/status')).privacy.epsilonSpent).toBeCloseTo(eps, 9);
  });

  it('the default epsilon budget stops training, and the admin status says so and for whom', async () => {
    const s = await make({
      training: { clipNorm: 100, noiseMultiplier: 1, noiseMode: 'local', expectedClientsPerRound: 3 },
      rounds: { minClients: 3, maxClients: 3 },
      privacy: { epsilonBudget: defaultConfig().privacy.epsilonBudget },
    });
    // Fresh updates give sigma sqrt(3) per round; a round opens only if, after it, epsilon stays within 8
    // even at the least sigma it could close with: one fresh update, two at the least staleness weight
    // (testConfig: maxStaleness 1, alpha 0.5, so 2^-0.5).
    const planned = Math.sqrt(1 + 2 * 0.5);
    const epsOf = (fresh: number) =>
      computeEpsilon({ q: 1, sigma: 1 / Math.sqrt(fresh / 3 + 1 / planned ** 2), steps: 1, delta: 1e-5 })
        .epsilon;
    let rounds = 1;
    while (epsOf(rounds) <= 8) rounds++;
    for (let i = 0; i < 3 * rounds; i++) expect((await send(s, 0.5)).statusCode).toBe(201);
    await s.aggregator.idle();
    expect(rounds).toBeGreaterThan(2);
    expect(s.aggregator.version).toBe(rounds);
    expect(s.aggregator.open).toBeNull();
    const st = await admin(s, '/v1/admin/status');
    expect(st.budgetExhausted).toBe(true);
    expect(st.privacy.epsilonBudget).toBe(8);
    expect(st.privacy.epsilonSpent).toBeLessThanOrEqual(8);
    expect(st.privacy.party).toBe('observers');
    // What the configuration promises one shopper who follows the device caps, per party.
    expect(st.privacy.perShopper.server.epsilon).toBeCloseTo(
      computeEpsilon({ q: 1, sigma: 1, steps: st.privacy.perShopper.server.contributions, delta: 1e-5 })
        .epsilon,
      9,
    );
    expect(st.privacy.perShopper.observers.assumptions.join(' ')).toMatch(/at least 3 honest clients/);
    expect(st.privacy.trainingStopped).toMatch(/epsilon budget 8 .*per shopper, against model observers/);
    const late = await send(s, 0.5);
    expect(late.statusCode).toBe(409);
    expect(late.json().error.code).toBe('BUDGET_EXHAUSTED');
  });

  it('refuses secure aggregation with local noise: one switch, not two that can disagree', async () => {
    await expect(
      make({
        training: { clipNorm: 100, noiseMultiplier: 2, noiseMode: 'local', expectedClientsPerRound: 2 },
        privacy: { secureAggregation: true },
      }),
    ).rejects.toThrow(/use 'distributed'/);
  });

  it('divides the round sum by the configured cohort size, whatever the realized count', async () => {
    const s = await make({
      training: { expectedClientsPerRound: 4 },
      rounds: { minClients: 2, maxClients: 2 },
    });
    const before = s.aggregator.params.slice();
    await send(s, 1);
    await send(s, 3);
    await s.aggregator.idle();
    expect(s.aggregator.version).toBe(1);
    // FedAvg lr 1: (1 + 3) / 4 = 1, where the realized-count mean would move by 2.
    const moved = s.aggregator.params.map((p, i) => p - before[i]!);
    expect(Math.min(...moved)).toBeCloseTo(1, 5);
    expect(Math.max(...moved)).toBeCloseTo(1, 5);
  });

  it('FedAdam with bias correction steps every parameter by about lr in the first rounds, as Adam', async () => {
    const s = await make({
      optimizer: {
        kind: 'fedadam',
        learningRate: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        tau: 1e-9,
        biasCorrection: true,
      },
      rounds: { minClients: 2, maxClients: 2 },
    });
    const before = s.aggregator.params.slice();
    for (const v of [0.5, 1.5, 1.2, 0.8]) await send(s, v); // two rounds, mean delta 1 each
    await s.aggregator.idle();
    expect(s.aggregator.version).toBe(2);
    // Adam's step on a constant-sign gradient is lr per step once bias-corrected: 2 steps = 0.02.
    const moved = s.aggregator.params.map((p, i) => p - before[i]!);
    expect(Math.min(...moved.subarray(0, 1000))).toBeGreaterThan(0.0199);
    expect(Math.max(...moved.subarray(0, 1000))).toBeLessThan(0.0201);
  });

  it('restart on the same database keeps model, round log, partial round, idempotency and Adam state', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedrank-'));
    dirs.push(dir);
    const over = {
      db: join(dir, 'a.db'),
      optimizer: { kind: 'fedadam', learningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.001 },
      rounds: { minClients: 2, maxClients: 2 },
    };
    const a = await buildServer(testConfig(over), { logger: false });
    await send(a, 1);
    await send(a, 2);
    await a.aggregator.idle();
    const key = randomId('k');
    const client = randomId('c');
    const first = await send(a, 5, { 'idempotency-key': key, 'x-fedrank-client': client });
    expect(first.statusCode).toBe(201);
    const params = a.aggregator.params.slice();
    const sum = a.aggregator.open!.acc.sum.slice();
    await a.close();

    const store = new SqliteStore({ path: over.db });
    const state = (await store.load())!;
    await store.close();
    expect(state.model.version).toBe(1);
    expect(state.model.adam!.m.some((x) => x !== 0)).toBe(true);

    const b = await make(over);
    expect(b.aggregator.version).toBe(1);
    expect(Array.from(b.aggregator.params)).toEqual(Array.from(params));
    expect(b.aggregator.open!.acc.count).toBe(1);
    expect(Array.from(b.aggregator.open!.acc.sum)).toEqual(Array.from(sum));
    const replay = await send(b, 5, { 'idempotency-key': key, 'x-fedrank-client': client });
    expect(replay.json()).toEqual({ accepted: true, duplicate: true, round: 2, modelVersion: 1 });
    const rounds = (await admin(b, '/v1/admin/rounds')).rounds;
    expect(rounds.map((r: { id: number; state: string }) => [r.id, r.state])).toEqual([
      [2, 'open'],
      [1, 'closed'],
    ]);
  });

  it('after a restart with a lower maxClients, a round that is now full closes at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedrank-'));
    dirs.push(dir);
    const db = join(dir, 'b.db');
    const a = await buildServer(testConfig({ db, rounds: { minClients: 2, maxClients: 5 } }), {
      logger: false,
    });
    for (let i = 0; i < 3; i++) await send(a, 1);
    await a.aggregator.idle();
    expect(a.aggregator.version).toBe(0);
    await a.close();
    const b = await make({ db, rounds: { minClients: 2, maxClients: 3 } });
    await b.aggregator.idle();
    expect(b.aggregator.version).toBe(1);
    expect(b.aggregator.open!.round.id).toBe(2);
  });
});

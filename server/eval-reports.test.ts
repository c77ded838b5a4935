import { afterEach, describe, expect, it } from 'vitest';
import { buildServer, type FedrankServer } from './app.ts';
import { constantDelta, randomId, testConfig, TEST_TOKEN } from './testing.ts';

const servers: FedrankServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
const auth = { authorization: `Bearer ${TEST_TOKEN}` };

/** A server whose model is at version 1, and a function posting eval reports for that version. */
async function setup(over: Record<string, unknown> = {}) {
  const s = await buildServer(testConfig({ rounds: { minClients: 1, maxClients: 1 }, ...over }), {
    logger: false,
  });
  servers.push(s);
  const a = s.aggregator;
  await s.app.inject({
    method: 'POST',
    url: '/v1/updates',
    payload: Buffer.from(
      constantDelta({ modelId: a.model.modelId, baseVersion: 0, round: 1 }, a.model.paramCount, 0.01),
    ),
    headers: {
      'content-type': 'application/vnd.fedrank.tensor',
      'x-fedrank-client': randomId('c'),
      'idempotency-key': randomId('k'),
    },
  });
  await a.idle();
  const report = (examples: number, hitsAt10: number, ndcgAt10: number) =>
    s.app.inject({
      method: 'POST',
      url: '/v1/eval',
      payload: { modelVersion: 1, examples, hitsAt10, ndcgAt10 },
      headers: { 'x-fedrank-client': randomId('c') },
    });
  const status = async () =>
    (await s.app.inject({ url: '/v1/admin/status', headers: auth })).json().evals as {
      modelVersion: number;
      reports: number;
      meanHitAt10: number | null;
    }[];
  const round1 = async () =>
    (await s.app.inject({ url: '/v1/admin/rounds', headers: auth })).json().rounds[1].eval;
  return { s, report, status, round1 };
}

describe('evaluation reports', () => {
  it('five forged perfect reports show no HR@10 or NDCG@10, only their count', async () => {
    const { report, status, round1 } = await setup();
    for (let i = 0; i < 5; i++) expect((await report(20, 20, 20)).statusCode).toBe(204);
    const e = (await status()).find((x) => x.modelVersion === 1)!;
    expect(e).toMatchObject({ reports: 5, examples: 100, minReports: 20, meanHitAt10: null });
    expect(e).not.toHaveProperty('hitsAt10'); // no raw sums a dashboard could divide itself
    expect(await round1()).toEqual({
      reports: 5,
      examples: 100,
      minReports: 20,
      hitAt10: null,
      ndcgAt10: null,
    });
  });

  it('a report claiming more examples than one device evaluates is refused', async () => {
    const { report, status } = await setup();
    const r = await report(1000, 1000, 1000);
    expect([r.statusCode, r.json().error.code]).toEqual([400, 'BAD_REQUEST']);
    expect(await status()).toEqual([]);
  });

  it('from minReports on, the means are shown with their sample size', async () => {
    const { report, round1 } = await setup({ evals: { minReports: 3 } });
    await report(10, 4, 2);
    await report(10, 6, 3);
    expect((await round1()).hitAt10).toBeNull();
    await report(20, 10, 5);
    expect(await round1()).toEqual({ reports: 3, examples: 40, minReports: 3, hitAt10: 0.5, ndcgAt10: 0.25 });
  });
});

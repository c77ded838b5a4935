import { describe, expect, it } from 'vitest';
import { toView } from './view-model.js';

// Shapes as server/routes-admin.ts answers them.
const status = {
  health: { ok: true, store: 'ok' },
  uptimeSeconds: 125,
  store: 'sqlite',
  model: { modelId: 'seqdot-v1-abc', version: 2, paramCount: 1000 },
  round: { id: 3, state: 'open', accepted: 1, minClients: 2, maxClients: 3, deadline: null },
  roundNote: null,
  totals: { accepted: 5, duplicates: 0, rejected: 2 },
  privacy: { delta: 1e-5, epsilonSpent: 6.5, epsilonBudget: 100, rounds: 2 },
  training: { clipNorm: 1, noiseMultiplier: 1, noiseMode: 'distributed', updateEncoding: 'i8' },
  evals: [
    {
      modelVersion: 1,
      reports: 2,
      examples: 10,
      hitsAt10: 4,
      ndcgAt10: 2,
      meanNdcgAt10: 0.2,
      meanHitAt10: 0.4,
    },
    { modelVersion: 0, reports: 1, examples: 4, hitsAt10: 1, ndcgAt10: 0.5 },
    { modelVersion: 2, reports: 0, examples: 0, hitsAt10: 0, ndcgAt10: 0 },
  ],
  rssBytes: 100 * 2 ** 20,
};
const rounds = {
  rounds: [
    {
      id: 3,
      state: 'open',
      closedAt: null,
      participants: 1,
      epsilonAfter: null,
      resultVersion: null,
    },
    {
      id: 2,
      state: 'closed',
      closedAt: '2026-01-01T00:00:02Z',
      participants: 3,
      epsilonAfter: 6.5,
      resultVersion: 2,
    },
    {
      id: 1,
      state: 'closed',
      closedAt: '2026-01-01T00:00:01Z',
      participants: 2,
      epsilonAfter: 4,
      resultVersion: 1,
    },
  ],
};
const rejections = { byReason: { UPDATE_NORM_TOO_LARGE: 1, CODEC_TRUNCATED: 1 }, total: 2 };

describe('dashboard view model', () => {
  it('maps the admin replies to KPIs, chart series and tables', () => {
    const v = toView(status, rounds, rejections);
    expect(v.modelVersion).toBe(2);
    expect(v.round).toEqual({ id: 3, accepted: 1, minClients: 2, maxClients: 3, deadline: null });
    expect(v.acceptedTotal).toBe(5);
    expect(v.rejectedTotal).toBe(2);
    expect(v.epsilonSpent).toBe(6.5);
    expect(v.epsilonBudget).toBe(100);
    const closed = v.rounds.filter((r) => r.closed).map((r) => [r.id, r.version, r.clients, r.epsilon]);
    expect(closed).toEqual([
      [2, 2, 3, 6.5],
      [1, 1, 2, 4],
    ]);
    // Eval: means per version, sorted, versions without examples dropped; sums divided when no mean is given.
    expect(v.evals).toEqual([
      { version: 0, examples: 4, ndcgAt10: 0.125, hitAt10: 0.25 },
      { version: 1, examples: 10, ndcgAt10: 0.2, hitAt10: 0.4 },
    ]);
    expect(v.rejections).toEqual({ UPDATE_NORM_TOO_LARGE: 1, CODEC_TRUNCATED: 1 });
    expect(Object.fromEntries(v.serverInfo)).toMatchObject({
      uptime: '2.1 min',
      store: 'sqlite',
      'memory (RSS)': '100 MiB',
    });
  });

  it('renders an empty or older server without throwing', () => {
    const v = toView({}, {}, {});
    expect(v.modelVersion).toBeNull();
    expect(v.round).toBeNull();
    expect(v.rounds).toEqual([]);
    expect(v.evals).toEqual([]);
    expect(v.rejectedTotal).toBe(0);
    expect(toView({ model: { version: 1 }, round: { id: 2, state: 'closed' } }, [], null).round).toBeNull();
  });
});

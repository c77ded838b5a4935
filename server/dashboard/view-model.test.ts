import { describe, expect, it } from 'vitest';
import { interval95, learningVerdict, roundWhy, secureSummary, toView } from './view-model.js';
import type { EvalRow } from './view-model.js';

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
    expect(v.evals.map((e) => [e.version, e.examples, e.reports, e.ndcgAt10, e.hitAt10])).toEqual([
      [0, 4, 1, 0.125, 0.25],
      [1, 10, 2, 0.2, 0.4],
    ]);
    // 95% interval of HR@10 = 0.4 over 10 examples: 0.4 +- 1.96*sqrt(0.24/10).
    expect(v.evals[1]!.hitCi![0]).toBeCloseTo(0.4 - 1.959964 * Math.sqrt(0.024), 6);
    expect(v.evals[1]!.hitCi![1]).toBeCloseTo(0.4 + 1.959964 * Math.sqrt(0.024), 6);
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

const row = (version: number, examples: number, hitAt10: number): EvalRow => ({
  version,
  examples,
  reports: 1,
  hitAt10,
  ndcgAt10: hitAt10 / 2,
  hitCi: interval95(hitAt10, examples),
  ndcgCi: interval95(hitAt10 / 2, examples),
});

describe('is learning helping?', () => {
  it('does not call a drop on 3 reports against 20: too few examples, then an interval that includes 0', () => {
    // The case: an evaluation "drop" on a handful of examples is not a finding.
    expect(learningVerdict([row(0, 20, 0.5), row(3, 3, 0)]).verdict).toBe('unknown');
    const unclear = learningVerdict([row(0, 40, 0.5), row(3, 40, 0.45)]);
    expect(unclear.verdict).toBe('unclear');
    expect(unclear.ci![0]).toBeLessThan(0);
    expect(unclear.ci![1]).toBeGreaterThan(0);
  });

  it('says helping or hurting only when the 95% interval of the difference excludes 0', () => {
    expect(learningVerdict([row(0, 400, 0.3), row(5, 400, 0.45)]).verdict).toBe('helping');
    const hurt = learningVerdict([row(0, 400, 0.45), row(5, 400, 0.3)]);
    expect(hurt.verdict).toBe('hurting');
    expect(hurt.text).toMatch(/-15\.0 points HR@10/);
    expect(learningVerdict([row(4, 400, 0.3)]).text).toMatch(/No on-device baseline/);
  });
});

describe('why a round is waiting', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const round = (accepted: number, deadline: string | null) => ({
    id: 7,
    accepted,
    minClients: 3,
    maxClients: 10,
    deadline,
  });
  it('says how many more shoppers and how long until the deadline', () => {
    expect(roundWhy(round(1, '2026-01-01T00:00:12Z'), now)).toBe(
      'Waiting for 2 more shoppers (needs 3); deadline in 12 s.',
    );
    expect(roundWhy(round(2, '2025-12-31T23:59:50Z'), now)).toBe(
      'Deadline passed 10 s ago; closes as soon as 1 more shopper contributes (needs 3).',
    );
    expect(roundWhy(round(3, '2026-01-01T00:00:05Z'), now)).toMatch(
      /Has enough shoppers; closes at its deadline in 5 s/,
    );
    expect(roundWhy(null, now)).toBeNull();
  });
});

describe('is learning helping? picks a version with enough examples', () => {
  it('prefers the newest version that has enough clicks over a newer one with a handful', () => {
    const v = learningVerdict([row(0, 400, 0.3), row(5, 400, 0.45), row(6, 4, 0)]);
    expect(v.latest!.version).toBe(5);
    expect(v.verdict).toBe('helping');
  });
});

describe('secure-aggregation card', () => {
  it('says local noise when off, and the newest rounds survivors, dropouts and timings when on', () => {
    expect(toView(status, [], {}).secure).toMatchObject({ on: false, rounds: [] });
    expect(secureSummary(null).text).toMatch(/local noise/);
    const on = secureSummary({
      current: null,
      recent: [
        {
          secureRound: 2,
          forRound: 2,
          phase: 'done',
          cohort: 20,
          threshold: 13,
          survivors: { advertise: 20, share: 20, mask: 18, unmask: 14 },
          dropouts: 2,
          phaseMs: { advertise: 5672, share: 1041, mask: 8702, unmask: 473 },
          failure: null,
        },
      ],
      totals: { opened: 3, completed: 1, failed: 1, unmaskFailures: 0 },
    });
    expect(on.on).toBe(true);
    expect(on.text).toMatch(/1 secure rounds completed, 1 failed/);
    expect(on.rounds).toEqual([
      {
        id: 2,
        forRound: 2,
        phase: 'done',
        text: 'cohort 20, threshold 13; survivors 20 / 20 / 18 / 14 (advertise / share / mask / unmask), 2 dropped; advertise 5.7 s, share 1.0 s, mask 8.7 s, unmask 0.5 s',
      },
    ]);
  });
});

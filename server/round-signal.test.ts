import { describe, expect, it } from 'vitest';
import { makeConfig } from './config.ts';
import { roundSignal } from './round-signal.ts';

// Secure aggregation goes with distributed noise (one switch): set it as the noise mode asks.
const training = (over: Record<string, unknown>) =>
  makeConfig({
    training: over,
    rounds: { minClients: 1000, maxClients: 1000 },
    privacy: { secureAggregation: over.noiseMode === 'distributed', epsilonBudget: null },
  }).training;

describe('roundSignal', () => {
  it('distributed: SNR = sqrt(n*m)/(sigma*sqrt(d)); SNR 1 exactly at n = m = sigma*sqrt(d)', () => {
    const t = training({ noiseMultiplier: 2, noiseMode: 'distributed', expectedClientsPerRound: 100 });
    const s = roundSignal(t, 100, 10_000);
    expect(s.snr).toBeCloseTo(100 / (2 * 100), 12);
    expect(s.minClientsForSignal).toBe(200);
    expect(s.roundsToOutweighNoise).toBe(4);
    expect(s.warning).toMatch(/use rounds\.minClients >= 200/);
    const enough = training({ noiseMultiplier: 2, noiseMode: 'distributed', expectedClientsPerRound: 200 });
    expect(roundSignal(enough, 200, 10_000)).toMatchObject({ snr: 1, warning: null });
  });

  it('local: SNR = sqrt(n)/(sigma*sqrt(d)), needs sigma^2*d clients', () => {
    const s = roundSignal(training({ noiseMultiplier: 0.5, noiseMode: 'local' }), 25, 400);
    expect(s.snr).toBeCloseTo(5 / (0.5 * 20), 12);
    expect(s.minClientsForSignal).toBe(100);
  });

  it('the default server (3 clients, sigma 1, the default model) is warned about; no noise is never', () => {
    const c = makeConfig();
    const s = roundSignal(c.training, c.rounds.minClients, 323_255);
    expect(s.snr).toBeLessThan(0.01);
    expect(s.warning).toMatch(/rounds of 3 clients are too small for noise sigma=1 over 323255 parameters/);
    expect(roundSignal(training({ noiseMultiplier: 0 }), 2, 323_255).warning).toBeNull();
  });
});

describe('the server and small rounds', () => {
  it('warns at start and reports the assessment in the admin status', async () => {
    const { Writable } = await import('node:stream');
    const { buildServer } = await import('./app.ts');
    const { TEST_TOKEN, testConfig } = await import('./testing.ts');
    const lines: { level: number; msg: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, done) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
        done();
      },
    });
    const s = await buildServer(testConfig({ training: { noiseMultiplier: 1 } }), {
      logger: { level: 'info', stream: sink },
    });
    try {
      expect(lines.some((l) => l.level === 40 && /rounds too small for the noise/.test(l.msg))).toBe(true);
      const status = (
        await s.app.inject({ url: '/v1/admin/status', headers: { authorization: `Bearer ${TEST_TOKEN}` } })
      ).json() as { roundSignal: { snr: number; warning: string; minClientsForSignal: number } };
      expect(status.roundSignal.snr).toBeLessThan(1);
      expect(status.roundSignal.warning).toMatch(/use rounds\.minClients >= \d+/);
    } finally {
      await s.close();
    }
  });
});

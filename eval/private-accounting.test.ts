import { describe, expect, it } from 'vitest';
import { accountedSigma, ledgerEpsilon } from '../shared/device/rules.ts';
import { userLevelPrivacy } from '../shared/dp/participation.ts';
import { planEncoding } from '../shared/secagg/calibration.ts';
import { DEFAULT_SPEC, paramCount } from '../shared/model/spec.ts';
import type { TrainingConfig } from '../shared/protocol.ts';
import { parseEvalArgs } from './config.ts';
import { honestPrivacy, noiseForEpsilon, PRODUCT_RING_BITS } from './private-accounting.ts';
import { privacyOf } from './runner.ts';

const d = paramCount(DEFAULT_SPEC);
const shape = (k: number) => ({
  d,
  clip: 1,
  cohort: 1000,
  survivors: 1000,
  maxContributions: k,
  minSeparation: 1,
  delta: 1e-5,
});

describe('the privacy of a private eval run', () => {
  it('solves the least noise for a target epsilon against the server', () => {
    for (const k of [1, 3]) {
      const z = noiseForEpsilon(shape(k), 8);
      expect(honestPrivacy(shape(k), z).server.epsilon).toBeLessThanOrEqual(8);
      expect(honestPrivacy(shape(k), z).server.epsilon).toBeGreaterThan(7.99);
      expect(honestPrivacy(shape(k), z * 0.99).server.epsilon).toBeGreaterThan(8);
    }
    // More contributions per device need more noise for the same epsilon.
    expect(noiseForEpsilon(shape(3), 8)).toBeGreaterThan(noiseForEpsilon(shape(1), 8) * 1.5);
  });

  it("is the shared accountant's DDG figure, and agrees with the device's own ledger within the encoding's 2%", () => {
    const z = 0.9;
    const h = honestPrivacy(shape(2), z);
    // The same encoding planned independently, as the server's coordinator plans it (16-bit ring).
    expect(PRODUCT_RING_BITS).toBe(16);
    const plan = planEncoding(
      { d, clipNorm: 1, noiseMultiplier: z, noiseClients: 1000, maxClients: 1000 },
      16,
    )!;
    const direct = userLevelPrivacy(
      {
        noiseMode: 'distributed',
        secureAggregation: true,
        sigma: Math.sqrt(1000 * plan.noiseVariance) / plan.scale,
        threshold: 1000,
        discrete: { scale: plan.scale, dimension: d, l2: Math.sqrt(plan.normBoundSq) },
      },
      { maxContributions: 2, minSeparation: 1 },
      1e-5,
    );
    expect(h.server.epsilon).toBe(direct.server.epsilon);
    expect(h.observers.epsilon).toBe(direct.observers.epsilon);
    // The device's ledger accounts each contribution as a Gaussian at its accounted sigma.
    const t = { clipNorm: 1, noiseMultiplier: z, noiseMode: 'distributed', expectedClientsPerRound: 1000 };
    const sigma = accountedSigma(t as TrainingConfig, z, 1000);
    const device = ledgerEpsilon(
      [
        { q: 1, sigma },
        { q: 1, sigma },
      ],
      1e-5,
    );
    expect(Math.abs(h.server.epsilon - device) / device).toBeLessThan(0.02);
  });

  it('a private run reports the solved noise and its epsilon per party', () => {
    const cfg = parseEvalArgs(['--data', 'd', '--preset', 'private', '--max-contributions', '2']);
    const run = cfg.runs.find((r) => r.mode === 'federated')!;
    const p = privacyOf(run, cfg, 22363);
    expect(p.targetEpsilon).toBe(8);
    expect(p.epsilon).toBeLessThanOrEqual(8);
    expect(p.honest!.server.epsilon).toBe(p.epsilon);
    expect(p.honest!.observers.epsilon).toBeLessThanOrEqual(8);
    expect(p.honest!.maxContributions).toBe(2);
    expect(p.rounds).toBe(Math.ceil((2 * 22363) / 1000));
  });
});

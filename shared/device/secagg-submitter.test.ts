import { describe, expect, it } from 'vitest';
import { planEncoding } from '../secagg/calibration.ts';
import type { SecAggRoundParams } from '../secagg/messages.ts';
import { HttpTransport } from './http.ts';
import type { Contribution, SubmitOutcome, Submitter } from './ports.ts';
import { DEFAULT_FLOORS } from './rules.ts';
import { RoutingSubmitter, secAggFloorViolation } from './secagg-submitter.ts';

function params(z: number, t: number, minSurvivors: number): SecAggRoundParams {
  const e = planEncoding(
    { d: 100, clipNorm: 1, noiseMultiplier: z, noiseClients: minSurvivors, maxClients: 20 },
    20,
  )!;
  const { d, bits, scale, clipNorm, noiseVariance, normBoundSq } = e;
  return {
    n: 20,
    k: 19,
    t,
    minSurvivors,
    seed: new Uint8Array(32),
    encoding: { d, bits, scale, clipNorm, noiseVariance, normBoundSq },
  };
}

const contribution = (secure: boolean): Contribution => ({
  clientId: 'client-000000000000',
  token: null,
  record: {
    key: 'key-0000000000000000',
    body: new Uint8Array(8),
    ...(secure ? { secure } : {}),
    modelId: 'm',
    baseVersion: 0,
    round: 1,
    createdAt: 0,
    attempts: 0,
    nextAttemptAt: 0,
  },
});

describe('the secure submitter', () => {
  it('takes part only when the roster parameters meet the device floors', () => {
    const floors = { ...DEFAULT_FLOORS, minSecAggThreshold: 5 };
    expect(secAggFloorViolation(params(1, 13, 13), floors)).toBeNull();
    expect(secAggFloorViolation(params(1, 4, 13), floors)).toMatch(/threshold t = 4 below the floor 5/);
    expect(secAggFloorViolation(params(1, 13, 3), floors)).toMatch(/survivor threshold 3/);
    // Noise calibrated to z = 0.3 over the survivors: below the floor of 0.5 (a server lowering the noise).
    expect(secAggFloorViolation(params(0.3, 13, 13), floors)).toMatch(
      /noise multiplier 0\.3\d* below the floor 0\.5/,
    );
  });

  it('routes secure contributions only to secure aggregation; the plain transport refuses them', async () => {
    const seen: string[] = [];
    const fake = (name: string): Submitter => ({
      async submit(): Promise<SubmitOutcome> {
        seen.push(name);
        return { kind: 'retry', code: 'SDK_SERVER_UNREACHABLE' };
      },
    });
    const r = new RoutingSubmitter(fake('plain'), fake('secure'));
    await r.submit(contribution(true));
    await r.submit(contribution(false));
    expect(seen).toEqual(['secure', 'plain']);
    let fetched = false;
    const http = new HttpTransport('http://x', async () => {
      fetched = true;
      throw new Error('no');
    });
    expect(await http.submit(contribution(true))).toEqual({ kind: 'rejected', code: 'SECURE_ROUND_ONLY' });
    expect(fetched).toBe(false);
  });
});

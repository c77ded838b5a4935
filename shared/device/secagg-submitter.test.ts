import { describe, expect, it } from 'vitest';
import { planEncoding } from '../secagg/calibration.ts';
import type { SecAggRoundParams } from '../secagg/messages.ts';
import { HttpTransport, type FetchLike } from './http.ts';
import type { Clock, Contribution, SubmitOutcome, Submitter } from './ports.ts';
import { DEFAULT_FLOORS } from './rules.ts';
import { RoutingSubmitter, SecAggSubmitter, secAggFloorViolation } from './secagg-submitter.ts';
import { MemoryStore } from './store.ts';
import { HEADER_SECAGG_PHASE, type SecAggPhase } from '../secagg/phases.ts';

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

// Polling: one request per poll when the reply names the round's phase, waits that grow while nothing comes,
// and a client left out learns it from the phase (shoppers behind one address share its rate limit).

/** A clock whose timers fire at once, recording how long each wait asked for. */
function recordingClock(waits: number[]): Clock {
  return {
    now: () => 0,
    setTimer: (fn, ms) => {
      waits.push(ms);
      queueMicrotask(fn);
      return null;
    },
    clearTimer: () => {},
  };
}

/**
 * A relay in which the client joins secure round 7 and advertises, then finds no roster: the slot replies
 * 204 `polls` times in the advertise phase, then the round is in `after` (the client was left out).
 */
function relay(polls: number, after: SecAggPhase, phaseHeader: boolean) {
  const requests: string[] = [];
  let slotPolls = 0;
  const phase = (): SecAggPhase => (slotPolls > polls ? after : 'advertise');
  const fetch: FetchLike = async (url, req) => {
    const path = new URL(url).pathname;
    requests.push(`${req.method} ${path}`);
    const json = (x: unknown, status = 200): Response =>
      new Response(JSON.stringify(x), { status, headers: { 'content-type': 'application/json' } });
    if (path === '/v1/secagg/current') return json({ round: 7, forRound: 1 });
    if (path === '/v1/secagg/rounds/7/join') return json({ slot: 3 });
    if (path === '/v1/secagg/rounds/7/messages') return json({ phase: 'advertise' }, 202);
    if (path === '/v1/secagg/rounds/7/slots/3') {
      slotPolls++;
      return new Response(null, {
        status: 204,
        headers: phaseHeader ? { [HEADER_SECAGG_PHASE]: phase() } : {},
      });
    }
    if (path === '/v1/secagg/rounds/7') return json({ round: 7, phase: phase(), deadline: '' });
    return json({ error: { code: 'NOT_FOUND', message: path } }, 404);
  };
  return { fetch, requests };
}

const submitter = (fetch: FetchLike, waits: number[]) =>
  new SecAggSubmitter(
    'http://relay.test',
    fetch,
    new MemoryStore('memory'),
    recordingClock(waits),
    DEFAULT_FLOORS,
    100,
  );

describe('a waiting secure-aggregation client', () => {
  it('polls once per wait, backs off from 1x to 4x its poll interval, and learns from the phase that it was left out', async () => {
    const waits: number[] = [];
    const r = relay(8, 'mask', true);
    const out = await submitter(r.fetch, waits).submit(contribution(true));
    expect(out).toEqual({ kind: 'retry', code: 'SECAGG_BELOW_THRESHOLD' });
    const slotGets = r.requests.filter((x) => x === 'GET /v1/secagg/rounds/7/slots/3');
    expect(slotGets).toHaveLength(9);
    // The phase came with every empty reply: the round's status was never asked for.
    expect(r.requests).not.toContain('GET /v1/secagg/rounds/7');
    expect(waits).toEqual([100, 150, 225, 337.5, 400, 400, 400, 400]);
  });

  it('asks the round for its phase when the empty reply does not name one', async () => {
    const waits: number[] = [];
    const r = relay(2, 'failed', false);
    const out = await submitter(r.fetch, waits).submit(contribution(true));
    expect(out).toEqual({ kind: 'retry', code: 'SECAGG_BELOW_THRESHOLD' });
    expect(r.requests.filter((x) => x === 'GET /v1/secagg/rounds/7')).toHaveLength(3);
    expect(waits).toEqual([100, 150]);
  });

  it('keeps waiting while the round is in the phase that will serve it', async () => {
    const waits: number[] = [];
    // 'share' is the phase that serves an advertised client its roster: not a reason to give up.
    const r = relay(3, 'share', true);
    let calls = 0;
    const capped: FetchLike = (url, req) =>
      ++calls > 30 ? Promise.reject(new Error('closed')) : r.fetch(url, req);
    const out = await submitter(capped, waits).submit(contribution(true));
    expect(out).toEqual({ kind: 'retry', code: 'SDK_SERVER_UNREACHABLE' });
    expect(waits.length).toBeGreaterThan(20);
  });
});

/**
 * The secure-aggregation Submitter: one contribution goes to the server as a SecAgg+ client (join,
 * advertise keys, share keys, masked input, unmask) over the HTTP relay, never as a plain upload. The
 * round state (shared/secagg/client.ts) is saved in the device store after every step, before its message
 * is sent, so a page that navigates resumes the round instead of dropping out, and a reload can never be
 * made to reveal both kinds of share for one peer. The secrets are deleted when the round ends.
 *
 * The outbox body holds the clipped, un-noised delta (f32): it never leaves the device; the discrete
 * Gaussian noise is drawn by the encoding, calibrated by the round's public parameters, which the device
 * checks against its floors before it takes part.
 */
import { decodeTensor } from '../codec/tensor-codec.ts';
import { FedrankError, type ErrorCode } from '../errors.ts';
import { parseErrorReply } from '../protocol-parse.ts';
import { HEADER_CLIENT_ID, HEADER_IDEMPOTENCY_KEY } from '../routes.ts';
import { HEADER_TOKEN } from '../tokens/types.ts';
import { SecAggClientRound, type ClientPhase } from '../secagg/client.ts';
import { decodeMessage, encodeMessage, SECAGG_CONTENT_TYPE } from '../secagg/codec.ts';
import type { SecAggMessage, SecAggRoundParams } from '../secagg/messages.ts';
import { HEADER_SECAGG_PHASE, parseSecAggPhase, SECAGG_PHASES, type SecAggPhase } from '../secagg/phases.ts';
import type { FetchLike, HttpResponse } from './http.ts';
import type { Clock, Contribution, SubmitOutcome, Submitter } from './ports.ts';
import type { RoundSecretsRecord } from './records.ts';
import type { DeviceFloors } from './rules.ts';
import { isRetryable } from './rules.ts';
import type { Store } from './store.ts';

const TIMEOUT_MS = 15_000;
/** How often a waiting client first asks the relay whether its next message is there. */
const DEFAULT_POLL_MS = 500;
/** Each empty poll waits this much longer than the last, up to MAX_POLL_FACTOR x the first wait. */
const POLL_GROWTH = 1.5;
const MAX_POLL_FACTOR = 4;
/** Busy replies (429, 5xx) in a row that a waiting client sits out before it gives the round up. */
const MAX_BUSY_POLLS = 30;

/** Why the device will not take part in a round with these public parameters, or null. */
export function secAggFloorViolation(p: SecAggRoundParams, floors: DeviceFloors): string | null {
  if (p.t < floors.minSecAggThreshold)
    return `threshold t = ${p.t} below the floor ${floors.minSecAggThreshold}`;
  if (p.minSurvivors < floors.minSecAggThreshold)
    return `survivor threshold ${p.minSurvivors} below the floor ${floors.minSecAggThreshold}`;
  const e = p.encoding;
  // The noise of the sum over the fewest survivors, in units of the rounded sensitivity.
  const z = Math.sqrt((p.minSurvivors * e.noiseVariance) / e.normBoundSq);
  if (z < floors.minNoiseMultiplier)
    return `noise multiplier ${z.toFixed(3)} below the floor ${floors.minNoiseMultiplier}`;
  return null;
}

/** The server message each client phase waits for. */
const NEXT_MESSAGE: Partial<Record<ClientPhase, SecAggMessage['type']>> = {
  advertised: 'roster',
  shared: 'shares-in',
  masked: 'unmask-request',
};

/**
 * Test seam: told each encoded (pre-mask) input just before its masked input is sent (once per round: it is
 * saved as sent first), for exact-sum checks against the server's ring sum over its survivors. In-process
 * only (simulated shoppers); production browser builds never pass one (client/worker/test-seams.ts).
 */
export type EncodedInputSeam = (x: {
  secureRound: number;
  slot: number;
  bits: number;
  input: Uint32Array;
}) => void;

class Stop extends Error {
  constructor(readonly outcome: SubmitOutcome) {
    super(outcome.kind);
  }
}

/** Submits contributions through secure aggregation. */
export class SecAggSubmitter implements Submitter {
  private readonly base: string;

  constructor(
    server: string,
    private readonly fetch: FetchLike,
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly floors: DeviceFloors,
    private readonly pollMs = DEFAULT_POLL_MS,
    private readonly onInput?: EncodedInputSeam,
  ) {
    this.base = server.replace(/\/$/, '');
  }

  async submit(c: Contribution): Promise<SubmitOutcome> {
    try {
      return await this.run(c);
    } catch (err) {
      if (err instanceof Stop) return err.outcome;
      if (err instanceof FedrankError) return { kind: 'retry', code: err.code };
      return { kind: 'retry', code: 'SDK_SERVER_UNREACHABLE' };
    }
  }

  private async run(c: Contribution): Promise<SubmitOutcome> {
    const rec = c.record;
    let saved = await this.store.getRoundSecrets(rec.key);
    if (!saved) {
      const cur = await this.current();
      if (cur.forRound !== rec.round)
        // The contribution's round closed (or has not opened): the plain path's answer for a stale round.
        return { kind: cur.forRound > rec.round ? 'rejected' : 'retry', code: 'UPDATE_WRONG_ROUND' };
      // The join pays the contribution's token, bound to its idempotency key as a plain upload's is.
      const pay = { [HEADER_IDEMPOTENCY_KEY]: rec.key, ...(c.token ? { [HEADER_TOKEN]: c.token } : {}) };
      const joined = await this.post(`/rounds/${cur.round}/join`, c.clientId, undefined, pay);
      const { slot } = (await this.json(joined)) as { slot: number };
      const { client, message } = await SecAggClientRound.begin(cur.round, slot);
      saved = { key: rec.key, secureRound: cur.round, forRound: cur.forRound, state: client.state() };
      await this.store.putRoundSecrets(saved);
      await this.send(saved, message, c.clientId);
    }
    const client = SecAggClientRound.resume(saved.state);
    const save = async (): Promise<void> => {
      saved = { ...saved!, state: client.state() };
      await this.store.putRoundSecrets(saved);
    };
    try {
      while (client.phase !== 'done') {
        const m = await this.waitFor(saved, c.clientId);
        let reply: SecAggMessage;
        let input: Uint32Array | null = null;
        if (m.type === 'roster') {
          const why = secAggFloorViolation(m.params, this.floors);
          if (why) throw new Stop({ kind: 'rejected', code: 'SECAGG_INCONSISTENT' });
          reply = await client.onRoster(m);
        } else if (m.type === 'shares-in') {
          const delta = decodeTensor(rec.body, { maxCount: 1 << 26 }).values;
          ({ message: reply, input } = await client.onSharesIn(m, delta));
        } else if (m.type === 'unmask-request') reply = client.onUnmaskRequest(m);
        else throw new Stop({ kind: 'retry', code: 'SECAGG_BAD_MESSAGE' });
        await save(); // before sending: a reload resumes from what was sent, never reveals twice
        if (input && reply.type === 'masked-input')
          this.onInput?.({ secureRound: saved.secureRound, slot: saved.state.slot, bits: reply.bits, input });
        await this.send(saved, reply, c.clientId);
      }
    } catch (err) {
      // Unreachable server: keep the round to resume; anything else ends it here.
      const o = err instanceof Stop ? err.outcome : null;
      if (o?.kind === 'retry' && o.code === 'SDK_SERVER_UNREACHABLE') throw err;
      client.abort();
      await this.store.deleteRoundSecrets(rec.key);
      throw err;
    }
    await this.store.deleteRoundSecrets(rec.key);
    return {
      kind: 'accepted',
      ack: { accepted: true, duplicate: false, round: saved.forRound, modelVersion: rec.baseVersion },
    };
  }

  /** Polls the slot until the server has this client's next message; stops when the round moved on. */
  private async waitFor(s: RoundSecretsRecord, clientId: string): Promise<SecAggMessage> {
    const path = `/rounds/${s.secureRound}/slots/${s.state.slot}`;
    const want = NEXT_MESSAGE[s.state.phase];
    // Past the phase that serves this client without a message for it: it was left out (or the round ended).
    const serving: SecAggPhase = ({ advertised: 'share', shared: 'mask', masked: 'unmask' } as const)[
      s.state.phase as 'shared'
    ];
    const leftOut = (phase: SecAggPhase): boolean =>
      phase === 'failed' || SECAGG_PHASES.indexOf(phase) > SECAGG_PHASES.indexOf(serving);
    let busy = 0;
    let wait = this.pollMs;
    for (;;) {
      const res = await this.get(path, clientId);
      // A busy relay (429, 5xx: many shoppers behind one address, a restarting process) is asked again
      // later: the round's deadline, not a throttled poll, decides whether this client is left out.
      if (isRetryable(res.status) && (await this.pauseIfBusy(res, ++busy))) continue;
      let phase = parseSecAggPhase(res.headers.get(HEADER_SECAGG_PHASE));
      if (res.status === 200) {
        const m = decodeMessage(new Uint8Array(await res.arrayBuffer()));
        if (m.round !== s.secureRound || m.slot !== s.state.slot)
          throw new Stop({ kind: 'retry', code: 'SECAGG_INCONSISTENT' });
        // Only the awaited message counts (a relay may serve one this client already answered).
        if (m.type === want) return m;
      } else if (res.status !== 204) throw new Stop(await this.failure(res));
      if (phase === null) {
        // A relay that does not name the phase on its replies: ask the round itself.
        const stRes = await this.get(`/rounds/${s.secureRound}`, clientId);
        if (isRetryable(stRes.status) && (await this.pauseIfBusy(stRes, ++busy))) continue;
        phase = parseSecAggPhase(((await this.json(stRes)) as { phase?: unknown }).phase);
        if (phase === null) throw new Stop({ kind: 'retry', code: 'SECAGG_BAD_MESSAGE' });
      }
      busy = 0;
      if (leftOut(phase)) throw new Stop({ kind: 'retry', code: 'SECAGG_BELOW_THRESHOLD' });
      await new Promise<void>((r) => this.clock.setTimer(r, wait));
      // Waits grow while nothing comes (a phase waits for its slowest members or its deadline).
      wait = Math.min(wait * POLL_GROWTH, this.pollMs * MAX_POLL_FACTOR);
    }
  }

  /**
   * Waits before polling a busy relay again (Retry-After when it says, within 1-10 s); false once it was
   * busy MAX_BUSY_POLLS times in a row, so the caller fails as before (the round is kept to resume).
   */
  private async pauseIfBusy(res: HttpResponse, times: number): Promise<boolean> {
    if (times > MAX_BUSY_POLLS) return false;
    const after = Number(res.headers.get('retry-after'));
    const ms = Number.isFinite(after) && after > 0 ? Math.min(10_000, after * 1000) : 1000;
    await new Promise<void>((r) => this.clock.setTimer(r, Math.max(this.pollMs, ms)));
    return true;
  }

  private async current(): Promise<{ round: number; forRound: number }> {
    const res = await this.get('/current', undefined);
    if (res.status === 404) throw new Stop({ kind: 'retry', code: 'ROUND_NOT_OPEN' });
    const x = (await this.json(res)) as { round: unknown; forRound: unknown };
    if (!Number.isInteger(x.round) || !Number.isInteger(x.forRound))
      throw new Stop({ kind: 'retry', code: 'SDK_BAD_MESSAGE' });
    return x as { round: number; forRound: number };
  }

  private async send(s: RoundSecretsRecord, m: SecAggMessage, clientId: string): Promise<void> {
    const res = await this.post(`/rounds/${s.secureRound}/messages`, clientId, encodeMessage(m));
    if (res.status !== 202) throw new Stop(await this.failure(res));
  }

  private async json(res: HttpResponse): Promise<unknown> {
    if (!res.ok) throw new Stop(await this.failure(res));
    return res.json();
  }

  private async failure(res: HttpResponse): Promise<SubmitOutcome> {
    const body = await res.json().catch(() => null);
    let code: ErrorCode = 'SDK_SERVER_UNREACHABLE';
    try {
      code = parseErrorReply(body).error.code;
    } catch {
      /* not a catalogued reply: treated as the server being unreachable */
    }
    // A refused protocol step loses this round, not the contribution: the next secure round may take it.
    return { kind: isRetryable(res.status) || code.startsWith('SECAGG_') ? 'retry' : 'rejected', code };
  }

  private get(path: string, clientId: string | undefined): Promise<HttpResponse> {
    const headers: Record<string, string> = clientId ? { [HEADER_CLIENT_ID]: clientId } : {};
    return this.call(path, { method: 'GET', headers, timeoutMs: TIMEOUT_MS });
  }

  private post(
    path: string,
    clientId: string,
    body?: Uint8Array,
    extra: Record<string, string> = {},
  ): Promise<HttpResponse> {
    const headers: Record<string, string> = { ...extra, [HEADER_CLIENT_ID]: clientId };
    if (body) headers['content-type'] = SECAGG_CONTENT_TYPE;
    return this.call(path, { method: 'POST', headers, body, timeoutMs: TIMEOUT_MS });
  }

  private async call(path: string, req: Parameters<FetchLike>[1]): Promise<HttpResponse> {
    try {
      return await this.fetch(`${this.base}/v1/secagg${path}`, req);
    } catch {
      throw new Stop({ kind: 'retry', code: 'SDK_SERVER_UNREACHABLE' });
    }
  }
}

/** Routes each contribution by how it was privatized: secure ones through secure aggregation, others plain. */
export class RoutingSubmitter implements Submitter {
  constructor(
    private readonly plain: Submitter,
    private readonly secure: Submitter,
  ) {}

  submit(c: Contribution): Promise<SubmitOutcome> {
    return (c.record.secure ? this.secure : this.plain).submit(c);
  }
}

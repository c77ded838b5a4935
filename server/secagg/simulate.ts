/**
 * An in-process secure round: n clients (the shared SecAggClientRound) and the coordinator over a store,
 * with messages passed as bytes through the one codec, a manual clock, and scripted dropouts. Returns the
 * server's result with the exact sum of the survivors' encoded inputs (the test seam) and CPU times.
 */
import { FedrankError } from '../../shared/errors.ts';
import { encodeMessage } from '../../shared/secagg/codec.ts';
import { SecAggClientRound } from '../../shared/secagg/client.ts';
import type {
  AdvertiseKeys,
  MaskedInput,
  Roster,
  SecAggMessage,
  ShareKeys,
  SharesIn,
  Unmask,
  UnmaskRequest,
} from '../../shared/secagg/messages.ts';
import { ringAddInto } from '../../shared/secagg/ring.ts';
import type { SecAggConfig } from './config.ts';
import { type OpenRound, SecAggCoordinator, type SecAggResult } from './coordinator.ts';
import type { SecAggRoundRecord, SecAggStore } from './store.ts';
import { MemorySecAggStore } from './store-memory.ts';

/**
 * A client the round drives through its steps: the shared SecAggClientRound by default, or the same round
 * run elsewhere (another process: server/secagg/client-process.ts) behind this interface.
 */
export interface SimulatedClient {
  onRoster(m: Roster): Promise<ShareKeys>;
  onSharesIn(m: SharesIn, update: Float32Array): Promise<{ message: MaskedInput; input: Uint32Array }>;
  onUnmaskRequest(m: UnmaskRequest): Unmask | Promise<Unmask>;
}

/** A scripted round. */
export interface SimulationOptions extends Omit<OpenRound, 'round'> {
  config: SecAggConfig;
  /** Slots that send share keys, then vanish (no masked input). */
  dropAfterShareKeys?: number[];
  /** Slots that send their masked input, then vanish (no unmask). */
  dropAfterMaskedInput?: number[];
  /** Each client's model delta (length d). */
  update: (slot: number) => Float32Array;
  store?: SecAggStore;
  round?: number;
  /** The clock CPU costs are read from (default performance.now; the benchmark passes process CPU time). */
  clockMs?: () => number;
  /** Sees every client upload as it goes on the wire (what the server receives). */
  onUpload?: (m: SecAggMessage, bytes: Uint8Array) => void;
  /**
   * Starts the client of `slot` somewhere else; undefined for a slot runs it in this process. The CPU times
   * this round reports for such a slot are only this side's (messages passed), not the client's work.
   */
  beginElsewhere?: (
    round: number,
    slot: number,
  ) => Promise<{ client: SimulatedClient; message: AdvertiseKeys }> | undefined;
}

/** The client round's steps: begin (keys), onRoster (shares), onSharesIn (encoding and masks), unmask. */
export type ClientStep = 'advertise' | 'share' | 'mask' | 'unmask';

/** What a simulated round produced. */
export interface SimulationReport {
  record: SecAggRoundRecord;
  result: SecAggResult | null;
  /** Exact ring sum of the encoded inputs of U3 (clients that sent a masked input). */
  expectedRingSum: Uint32Array;
  /** CPU milliseconds: per client (all its steps), and the server's total. */
  clientMs: number[];
  /** Per client, its CPU milliseconds in each step of the shared client round. */
  clientStepMs: Record<ClientStep, number[]>;
  serverMs: number;
  /** Bytes each client uploaded, by message type (one client, the largest). */
  uploadBytes: Record<string, number>;
}

/**
 * A client's step, or null when the client refused it because too few of its neighbours are left
 * (SECAGG_BELOW_THRESHOLD): it then sends nothing and leaves the round, as a device does
 * (shared/device/secagg-submitter.ts). Any other refusal is a bug here and propagates.
 */
async function leftBelowThreshold<T>(step: Promise<T>): Promise<T | null> {
  try {
    return await step;
  } catch (e) {
    if (e instanceof FedrankError && e.code === 'SECAGG_BELOW_THRESHOLD') return null;
    throw e;
  }
}

/** Runs one round; the clock only moves past a deadline when the round waits for a dropout. */
export async function simulateRound(o: SimulationOptions): Promise<SimulationReport> {
  const store = o.store ?? new MemorySecAggStore();
  const server = new SecAggCoordinator(store, o.config);
  const round = o.round ?? 1;
  let now = 1_000_000;
  let serverMs = 0;
  const clientMs = new Array<number>(o.cohort).fill(0);
  const perClient = (): number[] => new Array<number>(o.cohort).fill(0);
  const clientStepMs: Record<ClientStep, number[]> = {
    advertise: perClient(),
    share: perClient(),
    mask: perClient(),
    unmask: perClient(),
  };
  const uploadBytes: Record<string, number> = {};
  const clock = o.clockMs ?? (() => performance.now());
  const timed = async <T>(f: () => Promise<T>, slot?: number, step?: ClientStep): Promise<T> => {
    const t0 = clock();
    try {
      return await f();
    } finally {
      const ms = clock() - t0;
      if (slot === undefined) serverMs += ms;
      else {
        clientMs[slot - 1]! += ms;
        if (step) clientStepMs[step][slot - 1]! += ms;
      }
    }
  };
  const send = async (m: SecAggMessage): Promise<void> => {
    const bytes = encodeMessage(m);
    uploadBytes[m.type] = Math.max(uploadBytes[m.type] ?? 0, bytes.length);
    o.onUpload?.(m, bytes);
    await timed(() => server.receive(bytes, now));
  };
  const poll = <T extends SecAggMessage>(slot: number): Promise<T> =>
    timed(async () => (await server.messageFor(round, slot)) as T);
  const {
    config,
    dropAfterShareKeys = [],
    dropAfterMaskedInput = [],
    update,
    store: _s,
    round: _r,
    beginElsewhere,
    ...open
  } = o;
  let r = await timed(() => server.open({ ...open, round }, now));
  const clients = new Map<number, SimulatedClient>();
  for (let slot = 1; slot <= o.cohort; slot++) {
    const { client, message } = await timed(
      () => beginElsewhere?.(round, slot) ?? SecAggClientRound.begin(round, slot),
      slot,
      'advertise',
    );
    clients.set(slot, client);
    await send(message);
  }
  const waitPhase = async (phase: SecAggRoundRecord['phase']): Promise<void> => {
    r = await timed(() => server.tick(round, now));
    if (r.phase === phase || r.phase === 'failed' || r.phase === 'done') return;
    now = r.deadline; // everyone else answered: only dropouts are missing
    r = await timed(() => server.tick(round, now));
  };
  await waitPhase('share');
  for (const slot of r.phase === 'share' ? r.advertised : []) {
    const roster = await poll<Extract<SecAggMessage, { type: 'roster' }>>(slot);
    const reply = await leftBelowThreshold(timed(() => clients.get(slot)!.onRoster(roster), slot, 'share'));
    if (reply) await send(reply);
  }
  await waitPhase('mask');
  // Summed as they are made (not kept: each input is a view on the client's encoding buffer, 8 d bytes).
  const sentSum = new Uint32Array(o.d);
  const sent = new Set<number>();
  for (const slot of r.phase === 'mask' ? r.shared : []) {
    if (dropAfterShareKeys.includes(slot)) continue;
    const sharesIn = await poll<Extract<SecAggMessage, { type: 'shares-in' }>>(slot);
    const delta = update(slot);
    const out = await leftBelowThreshold(
      timed(() => clients.get(slot)!.onSharesIn(sharesIn, delta), slot, 'mask'),
    );
    if (!out) continue;
    ringAddInto(sentSum, out.input, out.message.bits);
    sent.add(slot);
    await send(out.message);
  }
  await waitPhase('unmask');
  for (const slot of r.phase === 'unmask' ? r.masked : []) {
    if (dropAfterMaskedInput.includes(slot)) continue;
    const req = await poll<Extract<SecAggMessage, { type: 'unmask-request' }>>(slot);
    const reply = await leftBelowThreshold(
      timed(async () => clients.get(slot)!.onUnmaskRequest(req), slot, 'unmask'),
    );
    if (!reply) continue;
    await send(reply);
    r = await timed(() => server.tick(round, now));
    if (r.phase !== 'unmask') break;
  }
  if (r.phase === 'unmask') await waitPhase('done');
  if (r.phase === 'done' && (r.masked.length !== sent.size || r.masked.some((s) => !sent.has(s))))
    throw new Error('the server took a different set of masked inputs than the clients sent');
  const expectedRingSum = sentSum;
  return {
    record: r,
    result: server.takeResult(round),
    expectedRingSum,
    clientMs,
    clientStepMs,
    serverMs,
    uploadBytes,
  };
}

/**
 * The secure-aggregation server: applies the pure rules (rules.ts) to its injected store, one message at a
 * time, with the clock passed in. It relays keys and sealed shares, keeps only the running ring sum of the
 * masked inputs, and unmasks once every needed secret has t shares, never with fewer than minSurvivors
 * masked inputs. What a transport (HTTP relay, simulation) calls: open, receive, messageFor, tick.
 *
 * Every state change runs in the store's exclusive section (in order within this process, under a lock
 * across processes on a shared store) and reads the round afresh, so any process may take any message.
 * The only per-process cache is the neighbour graph, derived from the round's public seed.
 */
import { FedrankError } from '../../shared/errors.ts';
import { chooseBits, planEncoding, type EncodingInput } from '../../shared/secagg/calibration.ts';
import { decodeMessage } from '../../shared/secagg/codec.ts';
import { graphSeed, roundRotation } from '../../shared/secagg/derive.ts';
import { decodeSum, meanOfSum } from '../../shared/secagg/encode.ts';
import { neighbourGraph, type NeighbourGraph } from '../../shared/secagg/graph.ts';
import type { SecAggMessage } from '../../shared/secagg/messages.ts';
import { ringAddPacked, unpackRing } from '../../shared/secagg/ring.ts';
import { randomBytes } from '../../shared/secagg/webcrypto.ts';
import { degreeAndThreshold, type SecAggConfig } from './config.ts';
import {
  advance,
  checkMaskedInput,
  checkSender,
  checkShareKeys,
  checkUnmask,
  rosterFor,
  sharesInFor,
  unmaskRequestFor,
  withSlot,
} from './rules.ts';
import type { SecAggPhase, SecAggRoundRecord, SecAggStore } from './store.ts';
import { missingSecrets, unmaskSum } from './unmask.ts';

/** What opening a round needs besides the config. */
export interface OpenRound {
  round: number;
  /** Cohort size n (slots 1..n). */
  cohort: number;
  /** Fewest masked inputs that may be unmasked; the noise is calibrated to it. */
  minSurvivors: number;
  /** Fixed denominator of the mean (e.g. the target cohort size). */
  denominator: number;
  /** Model dimension, clip and noise multiplier of the encoding. */
  d: number;
  clipNorm: number;
  noiseMultiplier: number;
}

/** The outcome of a finished round. */
export interface SecAggResult {
  record: SecAggRoundRecord;
  /** Exact ring sum of the survivors' encoded inputs (the test seam). */
  ringSum: Uint32Array;
  /** Decoded sum of the survivors' clipped, noised updates, and its mean over the fixed denominator. */
  sum: Float64Array;
  mean: Float32Array;
}

/** What the owner of a coordinator hears, inside the exclusive section of the change. */
export interface SecAggHooks {
  /**
   * A round unmasked (its secrets are deleted already). Runs before any other process can see the round
   * done, so a caller that closes its aggregation round here closes it at most once. Without this hook the
   * result waits in memory for takeResult.
   */
  onDone?(res: SecAggResult): Promise<void>;
  /** A round failed (too few survivors, or the unmask failed); its secrets are deleted already. */
  onFailed?(r: SecAggRoundRecord): void;
}

const IN_PROGRESS: readonly SecAggPhase[] = ['advertise', 'share', 'mask', 'unmask'];

/** Whether a round still takes messages. */
export function inProgress(r: SecAggRoundRecord): boolean {
  return IN_PROGRESS.includes(r.phase);
}

/** The secure-aggregation coordinator of one server. */
export class SecAggCoordinator {
  private graphs = new Map<number, NeighbourGraph>();
  private results = new Map<number, SecAggResult>();
  // One state change at a time: each reads the round record, applies a message and writes it back, so two
  // concurrent requests would otherwise lose one another's slot. Only one per process waits for the store's
  // lock, so waiters never take all of its connections.
  private queue: Promise<unknown> = Promise.resolve();

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => this.store.exclusive(fn));
    this.queue = run.catch(() => {});
    return run;
  }

  constructor(
    private readonly store: SecAggStore,
    private readonly config: SecAggConfig,
    private readonly hooks: SecAggHooks = {},
  ) {}

  /** Opens a round: draws the public seed, plans the encoding, starts the advertise phase. */
  async open(o: OpenRound, now: number): Promise<SecAggRoundRecord> {
    const r = this.plan(o, now);
    await this.store.saveRound(r);
    return r;
  }

  /**
   * Makes sure the aggregation round `forRound()` names (read inside the exclusive section) has a secure
   * round in progress: the one another process opened for it, or the next round id. `opened` says which.
   * Null when no aggregation round is open.
   */
  ensureOpen(
    o: Omit<OpenRound, 'round'>,
    forRound: () => Promise<number | null>,
    now: () => number,
  ): Promise<{ record: SecAggRoundRecord; opened: boolean } | null> {
    return this.serial(async () => {
      const id = await forRound();
      if (id === null) return null;
      const latest = await this.store.latestRound();
      if (latest && latest.forRound === id && inProgress(latest)) return { record: latest, opened: false };
      // A round unmasked for `id` whose aggregation round is still open lost its close (refused, or the
      // closing process died): its result is gone with it, and a fresh round runs.
      const r = { ...this.plan({ ...o, round: (latest?.round ?? 0) + 1 }, now()), forRound: id };
      await this.store.saveRound(r);
      return { record: r, opened: true };
    });
  }

  /**
   * The slot of `client` in round `round` (its own again if it joined before); only while advertising. A
   * paid join replayed with the same token and key is admitted as a retry, so `contribution` (its
   * idempotency key) is bound to the first client id: it never buys a second slot under another id.
   */
  join(round: number, client: string, now: number, contribution: string | null = null): Promise<number> {
    return this.serial(async () => {
      const r = await this.advanceRound(round, now);
      if (r.phase !== 'advertise') throw new FedrankError('SECAGG_WRONG_PHASE', 'the cohort is closed');
      const slot = await this.store.joinSlot(round, client, r.params.n, contribution);
      if (slot === 'spent')
        throw new FedrankError('TOKEN_SPENT', 'this contribution already joined the cohort under another id');
      if (slot === null) throw new FedrankError('SECAGG_NOT_PARTICIPANT', 'the cohort is full');
      return slot;
    });
  }

  private plan(o: OpenRound, now: number): SecAggRoundRecord {
    const { k, t } = degreeAndThreshold(this.config, o.cohort);
    const input: EncodingInput = {
      d: o.d,
      clipNorm: o.clipNorm,
      noiseMultiplier: o.noiseMultiplier,
      noiseClients: o.minSurvivors,
      maxClients: o.cohort,
    };
    const plan = this.config.bits === 'auto' ? chooseBits(input) : planEncoding(input, this.config.bits);
    if (!plan)
      throw new FedrankError(
        'CONFIG_INVALID',
        `secureAggregation.bits = ${this.config.bits} cannot hold this round`,
      );
    const { d, bits, scale, clipNorm, noiseVariance, normBoundSq } = plan;
    const r: SecAggRoundRecord = {
      round: o.round,
      phase: 'advertise',
      params: {
        n: o.cohort,
        k,
        t,
        minSurvivors: o.minSurvivors,
        seed: randomBytes(32),
        encoding: { d, bits, scale, clipNorm, noiseVariance, normBoundSq },
      },
      denominator: o.denominator,
      openedAt: now,
      phaseStartedAt: now,
      deadline: now + this.config.deadlines.advertise * 1000,
      advertised: [],
      shared: [],
      masked: [],
      unmasked: [],
      phaseMs: {},
      failure: null,
    };
    return r;
  }

  private async graph(r: SecAggRoundRecord): Promise<NeighbourGraph> {
    let g = this.graphs.get(r.round);
    if (!g) {
      g = await neighbourGraph(await graphSeed(r.params.seed, r.round), r.params.n, r.params.k);
      this.graphs.set(r.round, g);
    }
    return g;
  }

  private async current(round: number): Promise<SecAggRoundRecord> {
    const r = await this.store.loadRound(round);
    if (!r) throw new FedrankError('SECAGG_WRONG_PHASE', `no secure round ${round}`);
    return r;
  }

  /** Validates and applies one client message (bytes from the wire); throws a catalogued error otherwise. */
  receive(bytes: Uint8Array, now: number): Promise<SecAggRoundRecord> {
    const m = decodeMessage(bytes);
    return this.serial(async () => {
      let r = await this.advanceRound(m.round, now);
      r = await this.apply(r, m);
      return this.advanceRound(r.round, now);
    });
  }

  private async apply(r: SecAggRoundRecord, m: SecAggMessage): Promise<SecAggRoundRecord> {
    const g = await this.graph(r);
    switch (m.type) {
      case 'advertise-keys': {
        checkSender(r, 'advertise', m.round, m.slot);
        const next = { ...r, advertised: withSlot(r.advertised, m.slot) };
        await this.store.addAdvert(next, { slot: m.slot, cPk: m.cPk, sPk: m.sPk });
        return next;
      }
      case 'share-keys': {
        checkSender(r, 'share', m.round, m.slot);
        checkShareKeys(r, g, m);
        const next = { ...r, shared: withSlot(r.shared, m.slot) };
        await this.store.addShares(next, m.slot, m.shares);
        return next;
      }
      case 'masked-input': {
        checkSender(r, 'mask', m.round, m.slot);
        checkMaskedInput(r, m);
        const e = r.params.encoding;
        const prev = await this.store.maskedSum(r.round);
        const sum = prev ? ringAddPacked(prev, m.data, e.d, e.bits) : m.data.slice();
        const next = { ...r, masked: withSlot(r.masked, m.slot) };
        await this.store.addMaskedInput(next, sum);
        return next;
      }
      case 'unmask': {
        checkSender(r, 'unmask', m.round, m.slot);
        checkUnmask(r, g, m);
        const next = { ...r, unmasked: withSlot(r.unmasked, m.slot) };
        await this.store.addUnmask(next, m.slot, m.shares);
        return next;
      }
      default:
        throw new FedrankError('SECAGG_BAD_MESSAGE', `${m.type} is a server message`);
    }
  }

  /** Advances the round on completion or deadline; finishes it once the unmask phase can recover the sum. */
  tick(round: number, now: number): Promise<SecAggRoundRecord> {
    return this.serial(() => this.advanceRound(round, now));
  }

  private async advanceRound(round: number, now: number): Promise<SecAggRoundRecord> {
    let r = await this.current(round);
    const before = r.phase;
    r = advance(r, now, this.config.deadlines);
    if (r.phase === 'unmask') r = await this.tryFinish(r, now);
    if (r.phase === 'failed' && before !== 'failed') {
      await this.store.closeRound(r);
      this.graphs.delete(r.round);
      this.hooks.onFailed?.(r);
    } else if (r.phase !== before && r.phase !== 'done') await this.store.saveRound(r);
    return r;
  }

  private async tryFinish(r: SecAggRoundRecord, now: number): Promise<SecAggRoundRecord> {
    const g = await this.graph(r);
    const unmasks = await this.store.unmasks(r.round);
    const missing = missingSecrets(r, g, unmasks);
    const ready = missing.selfSeeds.length === 0 && missing.maskKeys.length === 0;
    const phaseMs = { ...r.phaseMs, unmask: now - r.phaseStartedAt };
    if (!ready) {
      if (now < r.deadline && r.unmasked.length < r.masked.length) return r;
      const failed = {
        ...r,
        phase: 'failed' as const,
        phaseMs,
        failure: `unmask: ${missing.selfSeeds.length + missing.maskKeys.length} secrets below t`,
      };
      return failed;
    }
    const e = r.params.encoding;
    const ringSum = unpackRing((await this.store.maskedSum(r.round))!, e.d, e.bits)!;
    try {
      await unmaskSum(r, g, await this.store.adverts(r.round), unmasks, ringSum);
    } catch (err) {
      return { ...r, phase: 'failed', phaseMs, failure: `unmask: ${(err as Error).message}` };
    }
    const sum = decodeSum(ringSum, e, await roundRotation(r.params.seed, r.round, e.d));
    const done = { ...r, phase: 'done' as const, phaseMs };
    const res = { record: done, ringSum, sum, mean: meanOfSum(sum, r.denominator) };
    await this.store.closeRound(done);
    this.graphs.delete(r.round);
    if (this.hooks.onDone) await this.hooks.onDone(res);
    else this.results.set(r.round, res);
    return done;
  }

  /** The result of a finished round (held in memory until taken: the caller merges and persists it). */
  takeResult(round: number): SecAggResult | null {
    const x = this.results.get(round) ?? null;
    this.results.delete(round);
    return x;
  }

  /** What the server has for `slot` in the current phase (roster, shares-in, unmask-request), or null. */
  async messageFor(round: number, slot: number): Promise<SecAggMessage | null> {
    return (await this.slotState(round, slot)).message;
  }

  /**
   * The round's phase and the server message for the slot in it: null while it has none, and once the slot
   * has answered it (a waiting client must not download its roster or shares again with every poll).
   */
  async slotState(
    round: number,
    slot: number,
  ): Promise<{ phase: SecAggPhase; message: SecAggMessage | null }> {
    const r = await this.current(round);
    const phase = r.phase;
    if (phase === 'share' && r.advertised.includes(slot) && !r.shared.includes(slot))
      return { phase, message: rosterFor(r, await this.graph(r), await this.store.adverts(round), slot) };
    if (phase === 'mask' && r.shared.includes(slot) && !r.masked.includes(slot))
      return { phase, message: sharesInFor(r, slot, await this.store.sharesTo(round, slot)) };
    if (phase === 'unmask' && r.masked.includes(slot) && !r.unmasked.includes(slot))
      return { phase, message: unmaskRequestFor(r, await this.graph(r), slot) };
    return { phase, message: null };
  }
}

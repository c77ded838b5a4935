/**
 * The model and round state the aggregator's writer owns, and its turnover: the model version, parameters
 * and optimizer state, the privacy ledger, the open round with this process's running sum, closing a round
 * (close-commit.ts) and opening the next. Only the writer loop (aggregator.ts) calls the mutating methods,
 * so no two of them interleave; reloading after another process moved the round on is the writer's too.
 */
import { newAdamState, type AdamState } from '../shared/fl/aggregate.ts';
import { commitClose } from './close-commit.ts';
import type { ServerConfig } from './config.ts';
import { emptyAccumulator } from './ingest.ts';
import type { ModelSource } from './model-source.ts';
import { plannedSigma, PrivacyLedger, type RoundNoise } from './privacy.ts';
import { loadOrInitialize } from './resume.ts';
import { closeDue, newRound, roundDeadline } from './round-close.ts';
import {
  StoreConflict,
  type RoundAccumulator,
  type RoundRecord,
  type Store,
  type StoredState,
} from './store/types.ts';

/** Minimal structured logger (pino's shape). */
export interface Log {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What the aggregator reports about itself after each state change. */
export interface AggregatorEvents {
  onAccepted?(n: number): void;
  onRoundClosed?(r: RoundRecord): void;
  /** A round opened (secure-rounds.ts opens its secure round for it). */
  onRoundOpened?(id: number): void;
}

/** A secure round's unmasked result, closed through the ordinary close path (secure-rounds.ts). */
export interface SecureClose {
  round: number;
  /** Decoded sum of the survivors' clipped, noised updates. */
  sum: Float64Array;
  survivors: number;
  noise: RoundNoise;
}

/** The open round and this process's running sum of it. */
export type OpenRound = { round: RoundRecord; acc: RoundAccumulator };

/** The aggregator's model, ledger and open round (see the file comment). */
export class RoundState {
  version: number;
  params: Float32Array;
  adam: AdamState | null;
  open: OpenRound | null = null;
  /** Why no round is open (budget), or null. */
  refusal: string | null = null;
  /** Set while the open round is past its deadline without minClients. */
  waitingNote: string | null = null;
  ledger: PrivacyLedger;
  /** Shared store only: accepted updates of the open round over all processes. */
  sharedAccepted = 0;

  constructor(
    private readonly config: ServerConfig,
    private readonly model: ModelSource,
    private readonly store: Store,
    private readonly log: Log,
    private readonly now: () => number,
    private readonly events: AggregatorEvents,
    state: { version: number; params: Float32Array; adam: AdamState | null },
    closedPrivacy: { q: number; sigma: number }[],
  ) {
    this.version = state.version;
    this.params = state.params;
    this.adam = state.adam;
    this.ledger = new PrivacyLedger(config, closedPrivacy);
  }

  /**
   * Loads the store (or initializes it with the initial model and round 1). On a shared store the open
   * round's running sum is this process's committed partial sum, and its count the round's over all.
   */
  static async resume(
    config: ServerConfig,
    model: ModelSource,
    store: Store,
    log: Log,
    now: () => number,
    events: AggregatorEvents,
  ): Promise<RoundState> {
    const state = await loadOrInitialize(config, model, store, log, now);
    const wantsAdam = config.optimizer.kind === 'fedadam';
    const adam = wantsAdam ? (state.model.adam ?? newAdamState(model.paramCount)) : null;
    const { version, params } = state.model;
    const rs = new RoundState(
      config,
      model,
      store,
      log,
      now,
      events,
      { version, params, adam },
      state.closedPrivacy,
    );
    rs.open = state.open;
    const shared = store.shared;
    if (shared && rs.open) {
      rs.sharedAccepted = rs.open.acc.count;
      rs.open = { round: rs.open.round, acc: await shared.partial(rs.open.round.id, model.paramCount) };
    }
    return rs;
  }

  /** Accepted updates of the open round (over all processes when the store is shared). */
  get accepted(): number {
    if (!this.open) return 0;
    return this.store.shared ? this.sharedAccepted : this.open.acc.count;
  }

  /** When the open round's deadline passes (ms since the epoch), or null. */
  deadlineMs(): number | null {
    return this.open ? roundDeadline(this.open.round, this.config.rounds.deadlineSeconds) : null;
  }

  /** Whether the open plain round is due to close now; notes (once) that it waits past its deadline. */
  closeDue(): boolean {
    if (!this.open) return false;
    const n = this.accepted;
    const { close, waiting } = closeDue(this.open.round, n, this.config.rounds, this.now());
    if (waiting !== null && this.waitingNote === null)
      this.log.warn(
        { round: this.open.round.id, accepted: n, minClients: this.config.rounds.minClients },
        waiting,
      );
    if (waiting !== null) this.waitingNote = waiting;
    return close;
  }

  /**
   * Shared store: takes the model, ledger and open round as committed by all processes, with `partial`, this
   * process's own committed partial sum of that round.
   */
  adopt(state: StoredState, partial: RoundAccumulator | null): void {
    if (state.model.version !== this.version) {
      this.version = state.model.version;
      this.params = state.model.params;
      if (this.adam) this.adam = state.model.adam ?? this.adam;
      this.ledger = new PrivacyLedger(this.config, state.closedPrivacy);
      this.waitingNote = null;
    }
    this.open = state.open && partial ? { round: state.open.round, acc: partial } : null;
    this.sharedAccepted = state.open?.acc.count ?? 0;
  }

  /**
   * Closes the open round (with `secure`'s unmasked sum for a secure round): 'closed' with the next round
   * open (or none, budget spent), 'lost' when another process closed it first, 'failed' when the store
   * refused (the round then stays open).
   */
  async close(secure: SecureClose | null): Promise<'closed' | 'lost' | 'failed'> {
    const open = this.open!;
    const acc = open.acc;
    const input = {
      config: this.config,
      modelId: this.model.modelId,
      spec: this.model.spec,
      version: this.version,
      params: this.params,
      adam: this.adam,
      ledger: this.ledger,
      open,
      now: () => this.now(),
    };
    const outcome = await commitClose(this.store, input, secure);
    if (outcome.kind === 'lost') return 'lost';
    if (outcome.kind === 'failed') {
      this.log.error({ err: outcome.err, round: open.round.id }, 'closing the round failed; it stays open');
      return 'failed';
    }
    const done = outcome.plan;
    const { closed, next, refusal } = done;
    this.params = done.model.params;
    this.adam = done.model.adam;
    this.version += 1;
    this.ledger.record(done.sigma);
    this.waitingNote = null;
    this.refusal = refusal;
    if (next) {
      acc.sum.fill(0);
      Object.assign(acc, { weight: 0, count: 0, sqWeightSum: 0, maxWeight: 0 });
      this.open = { round: next, acc };
      this.sharedAccepted = 0;
      this.events.onRoundOpened?.(next.id);
    } else {
      this.open = null;
      this.log.warn({ reason: refusal }, 'BUDGET_EXHAUSTED: no further round opens');
    }
    this.log.info(
      {
        round: closed.id,
        participants: closed.participants,
        version: this.version,
        sigma: done.sigma,
        epsilon: this.ledger.epsilon,
        robust: done.robust,
      },
      'round closed',
    );
    this.events.onRoundClosed?.(closed);
    return 'closed';
  }

  /**
   * Opens a round when none is open and the budget allows (at start, e.g. after the budget was raised);
   * 'conflict' when, on a shared store, another process opened it at the same moment (reload to take it).
   */
  async tryOpen(): Promise<'opened' | 'refused' | 'conflict'> {
    const refusal = this.ledger.refusal(plannedSigma(this.config, this.config.rounds.minClients));
    this.refusal = refusal;
    if (refusal) {
      this.log.warn({ reason: refusal }, 'BUDGET_EXHAUSTED: no round is open');
      return 'refused';
    }
    const rounds = await this.store.listRounds(1);
    const id = (rounds[0]?.id ?? 0) + 1;
    const round = newRound(id, this.version, new Date(this.now()).toISOString());
    try {
      await this.store.openRound(round, this.model.paramCount);
    } catch (err) {
      if (err instanceof StoreConflict) return 'conflict';
      throw err;
    }
    this.sharedAccepted = 0;
    this.open = { round, acc: emptyAccumulator(this.model.paramCount) };
    this.events.onRoundOpened?.(round.id);
    return 'opened';
  }
}

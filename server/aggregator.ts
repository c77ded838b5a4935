/**
 * The round logic: validates updates, folds them into the open round's running sum, commits them durably
 * in groups (one transaction per batch of concurrent uploads, acknowledged only after commit), closes
 * rounds with the server optimizer, and keeps the privacy ledger. Talks to persistence only through Store.
 *
 * Concurrency: request handlers only validate what does not depend on state, then enqueue. One writer
 * loop owns all state: it resolves idempotency and one-update-per-client against the store, adds to the
 * running sum, commits the batch, and closes rounds. So the sum is never mutated while a commit is in flight.
 * The acceptance rules live in admission.ts, the close arithmetic in round-close.ts, and what clients are
 * shown in manifest.ts.
 *
 * Several processes on one shared store (store.shared, PostgreSQL): `open.acc` is this process's partial
 * sum and `sharedAccepted` the round's count over all processes. The writer reads the round head before
 * each batch and reloads when another process closed the round; a commit that lost a race (StoreConflict)
 * is re-admitted; a close merges every process's partial sum under the round's row lock.
 */
import { createHash } from 'node:crypto';
import { FedrankError } from '../shared/errors.ts';
import { newAdamState, type AdamState } from '../shared/fl/aggregate.ts';
import type { ModelManifest, RoundInfo, UpdateAck } from '../shared/protocol.ts';
import { ackOf, admitBatch, checkUpload, type Submission } from './admission.ts';
import type { ServerConfig } from './config.ts';
import { emptyAccumulator } from './ingest.ts';
import { encodeWeights, manifestOf, roundInfoOf } from './manifest.ts';
import type { ModelSource } from './model-source.ts';
import { plannedSigma, PrivacyLedger, type RoundNoise } from './privacy.ts';
import { commitClose } from './close-commit.ts';
import { loadOrInitialize } from './resume.ts';
import { closeDue, newRound, roundDeadline } from './round-close.ts';
import {
  StoreConflict,
  type RoundAccumulator,
  type RoundRecord,
  type Store,
  type UpdateRecord,
} from './store/types.ts';
import { UploadQueue } from './upload-queue.ts';
import { uploadBounds, type UploadBounds } from './upload-shape.ts';

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

/** The aggregation state machine over a Store. */
export class Aggregator {
  version = 0;
  params: Float32Array;
  private adam: AdamState | null;
  open: { round: RoundRecord; acc: RoundAccumulator } | null = null;
  /** Why no round is open (budget), or null. */
  refusal: string | null = null;
  /** Set while the open round is past its deadline without minClients. */
  waitingNote: string | null = null;
  ledger: PrivacyLedger;
  /** Shared store only: accepted updates of the open round over all processes. */
  private sharedAccepted = 0;
  private syncRequested = false;
  private syncWaiters: (() => void)[] = [];
  private readonly queue = new UploadQueue();
  private writerRunning = false;
  private closeRequested = false;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private weightsCache: { version: number; bytes: Uint8Array } | null = null;
  private closed = false;
  // --- secure aggregation: the unmasked result waiting for the writer to close its round ---
  private secureResult: SecureClose | null = null;
  /** What a plain upload may look like (codec parameters, norm, shape), fixed by the configuration. */
  readonly bounds: UploadBounds;

  private constructor(
    readonly config: ServerConfig,
    readonly model: ModelSource,
    readonly store: Store,
    private readonly log: Log,
    private readonly now: () => number,
    state: { version: number; params: Float32Array; adam: AdamState | null },
    closedPrivacy: { q: number; sigma: number }[],
    private readonly events: AggregatorEvents,
  ) {
    this.version = state.version;
    this.params = state.params;
    this.adam = state.adam;
    this.ledger = new PrivacyLedger(config, closedPrivacy);
    this.bounds = uploadBounds(config.training, model.paramCount, config.privacy.normTailZ);
  }

  /** Loads the store (or initializes it with the initial model and round 1) and resumes. */
  static async open(
    config: ServerConfig,
    model: ModelSource,
    store: Store,
    log: Log,
    now: () => number = Date.now,
    events: AggregatorEvents = {},
  ): Promise<Aggregator> {
    const state = await loadOrInitialize(config, model, store, log, now);
    const wantsAdam = config.optimizer.kind === 'fedadam';
    const adam = wantsAdam ? (state.model.adam ?? newAdamState(model.paramCount)) : null;
    const agg = new Aggregator(
      config,
      model,
      store,
      log,
      now,
      { version: state.model.version, params: state.model.params, adam },
      state.closedPrivacy,
      events,
    );
    agg.open = state.open;
    const shared = store.shared;
    if (shared && agg.open) {
      agg.sharedAccepted = agg.open.acc.count;
      agg.open = { round: agg.open.round, acc: await shared.partial(agg.open.round.id, model.paramCount) };
    }
    // Another process closed or opened a round: reload before the next request is admitted.
    shared?.onChange(() => agg.requestSync());
    if (!agg.open) await agg.tryOpenRound();
    agg.armDeadline();
    // The configuration may have changed since the last run (e.g. a lower maxClients): check at once.
    agg.checkDeadline();
    log.info(
      {
        version: agg.version,
        round: agg.open?.round.id ?? null,
        accepted: agg.roundAccepted,
        epsilon: agg.ledger.epsilon,
      },
      'aggregator resumed',
    );
    return agg;
  }

  /**
   * Validates an upload and, once it is durably counted (or found to be a replay), resolves to its ack.
   * Throws FedrankError with the rejection code.
   */
  submit(clientId: string, key: string, body: Uint8Array): Promise<UpdateAck> {
    if (this.closed) return Promise.reject(new FedrankError('UNAVAILABLE', 'server is shutting down'));
    // --- secure aggregation: the server must never see one upload on its own ---
    if (this.config.privacy.secureAggregation) return Promise.reject(new FedrankError('SECURE_ROUND_ONLY'));
    const { view } = checkUpload(this.model, body, this.bounds);
    const hash = createHash('sha256').update(body).digest('hex');
    const acked = this.queue.push({ clientId, key, hash, view }, body.byteLength);
    this.kick();
    return acked;
  }

  /** An upload's body started arriving; call the result once it is in (group commit waits for it). */
  uploadArriving(): () => void {
    return this.queue.arrive();
  }

  /** Uploads validated and waiting for the writer. */
  get queuedUploads(): number {
    return this.queue.length;
  }

  /** The bound of maxHonestNorm for this model: int8 at the protocol's block size (> 0), or f32 (0). */
  normBound(blockSize: number): number {
    return blockSize > 0 ? this.bounds.normI8 : this.bounds.normF32;
  }

  /** Accepted updates of the open round (over all processes when the store is shared). */
  get roundAccepted(): number {
    if (!this.open) return 0;
    return this.store.shared ? this.sharedAccepted : this.open.acc.count;
  }

  /**
   * The open round as clients see it; with the exact count of accepted updates (over all processes) only
   * for the operator.
   */
  roundInfo(withCount = false): RoundInfo | null {
    if (!this.open) return null;
    const view = { round: this.open.round, acc: { ...this.open.acc, count: this.roundAccepted } };
    return roundInfoOf(view, this.config.rounds, this.deadlineMs(), withCount);
  }

  /**
   * Shared store: brings the model version and the round count up to date with the other processes before a
   * manifest or weights request (one cheap query; a full reload only when another process closed a round).
   */
  async refresh(): Promise<void> {
    const shared = this.store.shared;
    if (!shared || this.closed) return;
    const head = await shared.head();
    if (head.version === this.version && head.round?.id === this.open?.round.id) {
      if (head.round) this.sharedAccepted = Math.max(this.sharedAccepted, head.round.accepted);
      return;
    }
    await new Promise<void>((resolve) => {
      this.syncWaiters.push(resolve);
      this.requestSync();
    });
  }

  /** Asks the writer to reload the shared state (another process changed the round). */
  private requestSync(): void {
    this.syncRequested = true;
    this.kick();
  }

  /** The model manifest clients fetch before training. */
  manifest(): ModelManifest {
    return manifestOf(this.config, this.model, this.version, this.roundInfo(), this.ledger.epsilon);
  }

  /** The current weights in the tensor codec (f32), encoded once per version. */
  weights(): { version: number; bytes: Uint8Array } {
    if (this.weightsCache?.version !== this.version) {
      const bytes = encodeWeights(this.model.modelId, this.version, this.open?.round.id ?? 0, this.params);
      this.weightsCache = { version: this.version, bytes };
    }
    return this.weightsCache;
  }

  /** Stops timers and fails queued uploads; the store stays open (the caller closes it). */
  async shutdown(): Promise<void> {
    this.closed = true;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    while (this.writerRunning) await new Promise((r) => setTimeout(r, 5));
    this.queue.flush();
    for (const s of this.queue.drain()) s.reject(new FedrankError('UNAVAILABLE', 'server is shutting down'));
  }

  private deadlineMs(): number | null {
    return this.open ? roundDeadline(this.open.round, this.config.rounds.deadlineSeconds) : null;
  }

  private armDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
    const at = this.deadlineMs();
    if (at === null || this.closed) return;
    const wait = Math.max(0, Math.min(at - this.now(), 2 ** 31 - 1));
    this.deadlineTimer = setTimeout(() => this.checkDeadline(), wait);
    this.deadlineTimer.unref();
  }

  private shouldClose(): boolean {
    if (!this.open) return false;
    // --- secure aggregation: only an unmasked result closes a secure round ---
    if (this.config.privacy.secureAggregation) return this.secureResult?.round === this.open.round.id;
    const n = this.roundAccepted;
    const { close, waiting } = closeDue(this.open.round, n, this.config.rounds, this.now());
    if (waiting !== null && this.waitingNote === null)
      this.log.warn(
        { round: this.open.round.id, accepted: n, minClients: this.config.rounds.minClients },
        waiting,
      );
    if (waiting !== null) this.waitingNote = waiting;
    return close;
  }

  private kick(): void {
    if (this.writerRunning) return;
    this.writerRunning = true;
    setImmediate(() => {
      this.writer()
        .catch((err) => this.log.error({ err }, 'aggregation writer failed'))
        .finally(() => {
          this.writerRunning = false;
          if (this.queue.length > 0 || this.closeRequested || this.syncRequested) this.kick();
        });
    });
  }

  private async writer(): Promise<void> {
    while (this.queue.length > 0 || this.closeRequested || this.syncRequested) {
      if (this.syncRequested) await this.resync();
      // A deadline check on a shared store needs the count over all processes, not this one's last view.
      if (this.closeRequested && this.store.shared && this.queue.length === 0)
        await this.syncHead().catch((err) => this.log.warn({ err }, 'reading the round head failed'));
      this.closeRequested = false;
      if (this.queue.length > 0) {
        await this.queue.gather();
        await this.processBatch(this.queue.take());
      }
      if (this.shouldClose() && !(await this.closeRound())) {
        this.failAll(this.queue.drain(), new Error('round close failed'));
        return;
      }
    }
  }

  /** Asks the writer to check the close condition now (deadline timers call this). */
  checkDeadline(): void {
    this.closeRequested = true;
    this.kick();
  }

  /** Resolves when no upload is queued and the writer is idle (tests, graceful shutdown). */
  async idle(): Promise<void> {
    while (this.writerRunning || this.queue.length > 0) await new Promise((r) => setTimeout(r, 2));
  }

  private async processBatch(batch: Submission[]): Promise<void> {
    let existing: Map<string, UpdateRecord>;
    let seen: Set<string>;
    try {
      if (this.store.shared) await this.syncHead();
      existing = await this.store.findUpdates(batch.map((s) => s.key));
      seen = this.open
        ? await this.store.clientsInRound(
            this.open.round.id,
            batch.map((s) => s.clientId),
          )
        : new Set();
    } catch (err) {
      this.failAll(batch, err);
      return;
    }
    const acc = this.open?.acc;
    const { accepted, waitForBatch, deferred } = admitBatch(batch, existing, seen, {
      open: this.open,
      refusal: this.refusal,
      version: this.version,
      accepted: this.roundAccepted,
      rounds: this.config.rounds,
      nowIso: new Date(this.now()).toISOString(),
    });
    this.queue.unshift(deferred);
    if (accepted.length === 0) return;
    const roundId = this.open!.round.id;
    const recs = accepted.map((a) => a.rec);
    const started = performance.now();
    try {
      if (this.store.shared)
        this.sharedAccepted = await this.store.shared.commitPartial(
          roundId,
          recs,
          acc!,
          this.config.rounds.maxClients,
        );
      else await this.store.commitUpdates(roundId, recs, acc!);
    } catch (err) {
      if (err instanceof StoreConflict) {
        // Another process closed or filled the round, or took a key or client first: nothing was written.
        // Restore the committed partial sum and admit the same uploads again against the new state.
        this.log.info({ round: roundId, reason: err.message }, 'commit lost a race; re-admitting');
        this.queue.unshift([...accepted.map((a) => a.sub), ...waitForBatch.map((w) => w.sub)]);
        await this.resync();
        return;
      }
      this.log.error({ err }, 'commit of accepted updates failed; reloading the running sum');
      const all = [...accepted, ...waitForBatch].map((a) => a.sub);
      this.failAll(all, err);
      await this.reload();
      return;
    }
    this.queue.committed(performance.now() - started);
    for (const a of accepted) a.sub.resolve(ackOf(a.rec, false));
    for (const w of waitForBatch) w.sub.resolve(ackOf(w.rec, true));
    this.events.onAccepted?.(accepted.length);
  }

  private failAll(subs: Submission[], err: unknown): void {
    this.log.error({ err }, 'store operation failed');
    for (const s of subs) s.reject(new FedrankError('UNAVAILABLE', 'the store failed; retry'));
  }

  /** Re-reads the open round from the store after a failed commit (the in-memory sum may be ahead). */
  private async reload(): Promise<void> {
    if (this.store.shared) return this.resync();
    const state = await this.store.load();
    if (state) this.open = state.open;
  }

  /** Shared store: reads the round head; reloads everything when another process moved the round on. */
  private async syncHead(): Promise<void> {
    const head = await this.store.shared!.head();
    if (head.version !== this.version || head.round?.id !== this.open?.round.id) await this.resync();
    else if (head.round) this.sharedAccepted = head.round.accepted;
  }

  /**
   * Shared store: reloads model, privacy ledger and open round as committed by all processes, with this
   * process's own committed partial sum. Runs in the writer loop only.
   */
  private async resync(): Promise<void> {
    this.syncRequested = false;
    const shared = this.store.shared!;
    const state = await this.store.load();
    if (!state) throw new FedrankError('STORE_CORRUPT', 'the shared store lost its model');
    if (state.model.version !== this.version) {
      this.version = state.model.version;
      this.params = state.model.params;
      if (this.adam) this.adam = state.model.adam ?? this.adam;
      this.ledger = new PrivacyLedger(this.config, state.closedPrivacy);
      this.waitingNote = null;
    }
    const n = this.model.paramCount;
    this.open = state.open
      ? { round: state.open.round, acc: await shared.partial(state.open.round.id, n) }
      : null;
    this.sharedAccepted = state.open?.acc.count ?? 0;
    if (!this.open) await this.tryOpenRound();
    this.armDeadline();
    for (const w of this.syncWaiters.splice(0)) w();
  }

  /** Closes the open round; false when the store refused (the round then stays open). */
  private async closeRound(): Promise<boolean> {
    const open = this.open!;
    const acc = open.acc;
    // --- secure aggregation: the round's sum is the unmasked one ---
    const secure = this.secureResult;
    this.secureResult = null;
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
    if (outcome.kind === 'lost') {
      await this.resync(); // another process closed it first
      return true;
    }
    if (outcome.kind === 'failed') {
      this.log.error({ err: outcome.err, round: open.round.id }, 'closing the round failed; it stays open');
      return false;
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
    this.armDeadline();
    return true;
  }

  /** Opens a round when none is open and the budget allows (at start, e.g. after the budget was raised). */
  private async tryOpenRound(): Promise<void> {
    const refusal = this.ledger.refusal(plannedSigma(this.config, this.config.rounds.minClients));
    this.refusal = refusal;
    if (refusal) {
      this.log.warn({ reason: refusal }, 'BUDGET_EXHAUSTED: no round is open');
      return;
    }
    const rounds = await this.store.listRounds(1);
    const id = (rounds[0]?.id ?? 0) + 1;
    const round = newRound(id, this.version, new Date(this.now()).toISOString());
    try {
      await this.store.openRound(round, this.model.paramCount);
    } catch (err) {
      // Shared store: another process opened it at the same moment; take that one.
      if (err instanceof StoreConflict) return this.resync();
      throw err;
    }
    this.sharedAccepted = 0;
    this.open = { round, acc: emptyAccumulator(this.model.paramCount) };
    this.events.onRoundOpened?.(round.id);
  }

  /**
   * Closes secure round `c.round` with its unmasked sum through the ordinary close path (robust step,
   * optimizer, ledger); false when that round is no longer open or the store refused the close.
   */
  async closeSecure(c: SecureClose): Promise<boolean> {
    if (this.open?.round.id !== c.round || this.closed) return false;
    this.secureResult = c;
    this.checkDeadline();
    await this.idle();
    this.secureResult = null;
    return this.open?.round.id !== c.round;
  }
}

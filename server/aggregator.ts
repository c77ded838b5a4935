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
import { newRound, planClose } from './round-close.ts';
import type { RoundAccumulator, RoundRecord, Store, UpdateRecord } from './store/types.ts';
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

const MAX_BATCH = 256;
/** Upload bodies held while waiting for the writer; beyond this the server sheds load (503, retry). */
const MAX_QUEUED_BYTES = 256 * 1024 * 1024;

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
  readonly ledger: PrivacyLedger;
  private queue: Submission[] = [];
  private queuedBytes = 0;
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
    let state = await store.load();
    const wantsAdam = config.optimizer.kind === 'fedadam';
    if (!state) {
      const params = model.init();
      const adam = wantsAdam ? newAdamState(model.paramCount) : null;
      const first: RoundRecord = newRound(1, 0, new Date(now()).toISOString());
      await store.initialize({ modelId: model.modelId, version: 0, params, adam }, first, model.paramCount);
      state = await store.load();
      if (!state) throw new FedrankError('STORE_CORRUPT', 'store did not keep the initial model');
      log.info({ modelId: model.modelId, params: model.paramCount }, 'initialized a fresh store');
    }
    if (state.model.modelId !== model.modelId || state.model.params.length !== model.paramCount) {
      throw new FedrankError(
        'CONFIG_INVALID',
        `the database holds model ${state.model.modelId} (${state.model.params.length} params) but the configuration describes ${model.modelId} (${model.paramCount}); use another --db`,
      );
    }
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
    if (!agg.open) await agg.tryOpenRound();
    agg.armDeadline();
    // The configuration may have changed since the last run (e.g. a lower maxClients): check at once.
    agg.checkDeadline();
    log.info(
      {
        version: agg.version,
        round: agg.open?.round.id ?? null,
        accepted: agg.open?.acc.count ?? 0,
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
    if (this.queuedBytes + body.byteLength > MAX_QUEUED_BYTES)
      throw new FedrankError('UNAVAILABLE', 'too many uploads queued; retry later');
    const hash = createHash('sha256').update(body).digest('hex');
    const bytes = body.byteLength;
    this.queuedBytes += bytes;
    return new Promise<UpdateAck>((resolve, reject) => {
      let settled = false;
      const done = (): void => {
        if (!settled) this.queuedBytes -= bytes;
        settled = true;
      };
      this.queue.push({
        clientId,
        key,
        hash,
        view,
        resolve: (a) => (done(), resolve(a)),
        reject: (e) => (done(), reject(e)),
      });
      this.kick();
    });
  }

  /** Uploads validated and waiting for the writer. */
  get queuedUploads(): number {
    return this.queue.length;
  }

  /** The bound of maxHonestNorm for this model: int8 at the protocol's block size (> 0), or f32 (0). */
  normBound(blockSize: number): number {
    return blockSize > 0 ? this.bounds.normI8 : this.bounds.normF32;
  }

  /** The open round as clients see it; with the exact count of accepted updates for the operator. */
  roundInfo(withCount = false): RoundInfo | null {
    return this.open ? roundInfoOf(this.open, this.config.rounds, this.deadlineMs(), withCount) : null;
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
    for (const s of this.queue.splice(0))
      s.reject(new FedrankError('UNAVAILABLE', 'server is shutting down'));
  }

  private deadlineMs(): number | null {
    const d = this.config.rounds.deadlineSeconds;
    if (!this.open || d === null) return null;
    return Date.parse(this.open.round.openedAt) + d * 1000;
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
    const { minClients, maxClients } = this.config.rounds;
    const n = this.open.acc.count;
    if (n >= maxClients) return true;
    const at = this.deadlineMs();
    const past = at !== null && this.now() >= at;
    if (past && n >= minClients) return true;
    if (past && n < minClients) {
      const note = `round ${this.open.round.id} is past its deadline with ${n} of ${minClients} required updates; it stays open until minClients is reached`;
      if (this.waitingNote === null)
        this.log.warn({ round: this.open.round.id, accepted: n, minClients }, note);
      this.waitingNote = note;
    }
    return false;
  }

  private kick(): void {
    if (this.writerRunning) return;
    this.writerRunning = true;
    setImmediate(() => {
      this.writer()
        .catch((err) => this.log.error({ err }, 'aggregation writer failed'))
        .finally(() => {
          this.writerRunning = false;
          if (this.queue.length > 0 || this.closeRequested) this.kick();
        });
    });
  }

  private async writer(): Promise<void> {
    while (this.queue.length > 0 || this.closeRequested) {
      this.closeRequested = false;
      if (this.queue.length > 0) await this.processBatch(this.queue.splice(0, MAX_BATCH));
      if (this.shouldClose() && !(await this.closeRound())) {
        this.failAll(this.queue.splice(0), new Error('round close failed'));
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
      rounds: this.config.rounds,
      nowIso: new Date(this.now()).toISOString(),
    });
    this.queue.unshift(...deferred);
    if (accepted.length === 0) return;
    try {
      await this.store.commitUpdates(
        this.open!.round.id,
        accepted.map((a) => a.rec),
        acc!,
      );
    } catch (err) {
      this.log.error({ err }, 'commit of accepted updates failed; reloading the running sum');
      const all = [...accepted, ...waitForBatch].map((a) => a.sub);
      this.failAll(all, err);
      await this.reload();
      return;
    }
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
    const state = await this.store.load();
    if (state) this.open = state.open;
  }

  /** Closes the open round; false when the store refused (the round then stays open). */
  private async closeRound(): Promise<boolean> {
    const open = this.open!;
    const acc = open.acc;
    // --- secure aggregation: the round's sum is the unmasked one ---
    const secure = this.secureResult;
    this.secureResult = null;
    if (secure) {
      acc.sum.set(secure.sum);
      const n = secure.survivors;
      Object.assign(acc, { weight: n, count: n, sqWeightSum: n, maxWeight: 1 });
    }
    const plan = planClose({
      config: this.config,
      modelId: this.model.modelId,
      spec: this.model.spec,
      version: this.version,
      params: this.params,
      adam: this.adam,
      ledger: this.ledger,
      open,
      now: () => this.now(),
      noise: secure?.noise,
    });
    const { closed, next, refusal } = plan;
    try {
      await this.store.closeRound(closed, plan.model, next, plan.keepFromVersion);
    } catch (err) {
      this.log.error({ err, round: open.round.id }, 'closing the round failed; it stays open');
      if (secure) acc.sum.fill(0); // an unmasked sum is never kept past its close
      return false;
    }
    this.params = plan.model.params;
    this.adam = plan.model.adam;
    this.version += 1;
    this.ledger.record(plan.sigma);
    this.waitingNote = null;
    this.refusal = refusal;
    if (next) {
      acc.sum.fill(0);
      Object.assign(acc, { weight: 0, count: 0, sqWeightSum: 0, maxWeight: 0 });
      this.open = { round: next, acc };
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
        sigma: plan.sigma,
        epsilon: this.ledger.epsilon,
        robust: plan.robust,
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
    await this.store.openRound(round, this.model.paramCount);
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

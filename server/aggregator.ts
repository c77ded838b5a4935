/**
 * The round logic: validates updates, folds them into the open round's running sum, commits them durably
 * in groups (one transaction per batch of concurrent uploads, acknowledged only after commit), closes
 * rounds with the server optimizer, and keeps the privacy ledger. Talks to persistence only through Store.
 *
 * Concurrency: request handlers only validate what does not depend on state, then enqueue. One writer
 * loop owns all state: it resolves idempotency and one-update-per-client against the store, adds to the
 * running sum, commits the batch, and closes rounds. So the sum is never mutated while a commit is in flight.
 * One batch's read, admission and commit live in batch-commit.ts (the acceptance rules in admission.ts),
 * the model and round state with its turnover in round-state.ts (the close arithmetic in round-close.ts),
 * and what clients are shown in manifest.ts.
 *
 * Several processes on one shared store (store.shared, PostgreSQL): `open.acc` is this process's partial
 * sum and `sharedAccepted` (round-state.ts) the round's count over all processes. The writer reads the round
 * head beside each batch's reads and reloads when another process closed the round; a commit that lost a
 * race (StoreConflict) is re-admitted; a close merges every process's partial sum under the round's row lock.
 */
import { createHash } from 'node:crypto';
import { FedrankError } from '../shared/errors.ts';
import type { ModelManifest, RoundInfo, UpdateAck } from '../shared/protocol.ts';
import { ackOf, checkUpload, type AdmissionState, type Submission } from './admission.ts';
import { commitBatch } from './batch-commit.ts';
import type { ServerConfig } from './config.ts';
import { encodeWeights, manifestOf, roundInfoOf } from './manifest.ts';
import type { ModelSource } from './model-source.ts';
import type { PrivacyLedger } from './privacy.ts';
import {
  RoundState,
  type AggregatorEvents,
  type Log,
  type OpenRound,
  type SecureClose,
} from './round-state.ts';
import type { Store } from './store/types.ts';
import { UploadQueue } from './upload-queue.ts';
import { uploadBounds, type UploadBounds } from './upload-shape.ts';

export type { AggregatorEvents, Log, SecureClose } from './round-state.ts';

/** The aggregation state machine over a Store. */
export class Aggregator {
  /** The model, ledger and open round; mutated by the writer loop only. */
  private readonly state: RoundState;
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
    state: RoundState,
    private readonly events: AggregatorEvents,
  ) {
    this.state = state;
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
    const rs = await RoundState.resume(config, model, store, log, now, events);
    const agg = new Aggregator(config, model, store, log, now, rs, events);
    // Another process closed or opened a round: reload before the next request is admitted.
    store.shared?.onChange(() => agg.requestSync());
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

  /** Current model version. */
  get version(): number {
    return this.state.version;
  }

  /** Current model parameters. */
  get params(): Float32Array {
    return this.state.params;
  }

  /** The open round with this process's running sum of it, or null. */
  get open(): OpenRound | null {
    return this.state.open;
  }

  /** Why no round is open (budget), or null. */
  get refusal(): string | null {
    return this.state.refusal;
  }

  /** Set while the open round is past its deadline without minClients. */
  get waitingNote(): string | null {
    return this.state.waitingNote;
  }

  /** The privacy ledger of the closed rounds. */
  get ledger(): PrivacyLedger {
    return this.state.ledger;
  }

  /** Accepted updates of the open round (over all processes when the store is shared). */
  get roundAccepted(): number {
    return this.state.accepted;
  }

  /**
   * The open round as clients see it; with the exact count of accepted updates (over all processes) only
   * for the operator.
   */
  roundInfo(withCount = false): RoundInfo | null {
    if (!this.open) return null;
    const view = { round: this.open.round, acc: { ...this.open.acc, count: this.roundAccepted } };
    return roundInfoOf(view, this.config.rounds, this.state.deadlineMs(), withCount);
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
      if (head.round) this.state.sharedAccepted = Math.max(this.state.sharedAccepted, head.round.accepted);
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

  private armDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
    const at = this.state.deadlineMs();
    if (at === null || this.closed) return;
    const wait = Math.max(0, Math.min(at - this.now(), 2 ** 31 - 1));
    this.deadlineTimer = setTimeout(() => this.checkDeadline(), wait);
    this.deadlineTimer.unref();
  }

  private shouldClose(): boolean {
    if (!this.open) return false;
    // --- secure aggregation: only an unmasked result closes a secure round ---
    if (this.config.privacy.secureAggregation) return this.secureResult?.round === this.open.round.id;
    return this.state.closeDue();
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
    const sync = this.store.shared ? () => this.syncHead() : undefined;
    const out = await commitBatch(this.store, batch, () => this.admissionState(), sync);
    if (out.kind === 'unread') return this.failAll(batch, out.err);
    const { accepted, waitForBatch, deferred } = out.admission;
    const subs = [...accepted, ...waitForBatch].map((a) => a.sub);
    if (out.kind === 'raced') {
      // Restore the committed partial sum and admit the same uploads again against the new state.
      this.log.info({ round: this.open?.round.id, reason: out.reason }, 'commit lost a race; re-admitting');
      this.queue.unshift([...subs, ...deferred]);
      return this.resync();
    }
    this.queue.unshift(deferred);
    if (out.kind === 'failed') {
      this.log.error({ err: out.err }, 'commit of accepted updates failed; reloading the running sum');
      this.failAll(subs, out.err);
      return this.reload();
    }
    if (accepted.length === 0) return;
    if (out.sharedAccepted !== null) this.state.sharedAccepted = out.sharedAccepted;
    this.queue.committed(out.ms, accepted.length);
    for (const a of accepted) a.sub.resolve(ackOf(a.rec, false));
    for (const w of waitForBatch) w.sub.resolve(ackOf(w.rec, true));
    this.events.onAccepted?.(accepted.length);
  }

  /** What a batch is admitted against: the state as the writer holds it now. */
  private admissionState(): AdmissionState {
    return {
      open: this.open,
      refusal: this.refusal,
      version: this.version,
      accepted: this.roundAccepted,
      rounds: this.config.rounds,
      nowIso: new Date(this.now()).toISOString(),
    };
  }

  private failAll(subs: Submission[], err: unknown): void {
    this.log.error({ err }, 'store operation failed');
    for (const s of subs) s.reject(new FedrankError('UNAVAILABLE', 'the store failed; retry'));
  }

  /** Re-reads the open round from the store after a failed commit (the in-memory sum may be ahead). */
  private async reload(): Promise<void> {
    if (this.store.shared) return this.resync();
    const state = await this.store.load();
    if (state) this.state.open = state.open;
  }

  /** Shared store: reads the round head; reloads everything when another process moved the round on. */
  private async syncHead(): Promise<void> {
    const head = await this.store.shared!.head();
    if (head.version !== this.version || head.round?.id !== this.open?.round.id) await this.resync();
    else if (head.round) this.state.sharedAccepted = head.round.accepted;
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
    const partial = state.open ? await shared.partial(state.open.round.id, this.model.paramCount) : null;
    this.state.adopt(state, partial);
    if (!this.open) await this.tryOpenRound();
    this.armDeadline();
    for (const w of this.syncWaiters.splice(0)) w();
  }

  /** Closes the open round; false when the store refused (the round then stays open). */
  private async closeRound(): Promise<boolean> {
    // --- secure aggregation: the round's sum is the unmasked one ---
    const secure = this.secureResult;
    this.secureResult = null;
    const outcome = await this.state.close(secure);
    if (outcome === 'lost') await this.resync(); // another process closed it first
    if (outcome === 'closed') this.armDeadline();
    return outcome !== 'failed';
  }

  /** Opens a round when none is open and the budget allows (at start, e.g. after the budget was raised). */
  private async tryOpenRound(): Promise<void> {
    // Shared store: another process opened it at the same moment; take that one.
    if ((await this.state.tryOpen()) === 'conflict') await this.resync();
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

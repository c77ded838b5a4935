/**
 * The round logic: validates updates, folds them into the open round's running sum, commits them durably
 * in groups (one transaction per batch of concurrent uploads, acknowledged only after commit), closes
 * rounds with the server optimizer, and keeps the privacy ledger. Talks to persistence only through Store.
 *
 * Concurrency: request handlers only validate what does not depend on state, then enqueue. One writer
 * loop owns all state: it resolves idempotency and one-update-per-client against the store, adds to the
 * running sum, commits the batch, and closes rounds. So the sum is never mutated while a commit is in flight.
 */
import { createHash } from 'node:crypto';
import { decodeTensorView, encodeTensor, type TensorView } from '../shared/codec/tensor-codec.ts';
import { FedrankError } from '../shared/errors.ts';
import {
  applyServerStep,
  meanDelta,
  newAdamState,
  stalenessWeight,
  type AdamState,
} from '../shared/fl/aggregate.ts';
import type { ModelManifest, RoundInfo, UpdateAck } from '../shared/protocol.ts';
import { PROTOCOL_VERSION } from '../shared/protocol.ts';
import type { ServerConfig } from './config.ts';
import { addView, emptyAccumulator, maxHonestNorm, viewNorm } from './ingest.ts';
import type { ModelSource } from './model-source.ts';
import { plannedSigma, PrivacyLedger, roundNoise } from './privacy.ts';
import type { RoundAccumulator, RoundRecord, Store, UpdateRecord } from './store/types.ts';

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
}

interface Submission {
  clientId: string;
  key: string;
  hash: string;
  view: TensorView;
  norm: number;
  resolve(ack: UpdateAck): void;
  reject(err: unknown): void;
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
  private readonly maxNormByBlock = new Map<number, number>();

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
    const n = this.model.paramCount;
    const view = decodeTensorView(body, { maxCount: n });
    const h = view.header;
    if (h.kind !== 'delta')
      throw new FedrankError('CODEC_BAD_HEADER', 'an update must be a delta, not weights');
    if (h.modelId !== this.model.modelId)
      throw new FedrankError('UPDATE_WRONG_MODEL', `got ${h.modelId}, serving ${this.model.modelId}`);
    if (h.count !== n)
      throw new FedrankError('UPDATE_WRONG_SHAPE', `got ${h.count} parameters, model has ${n}`);
    const norm = viewNorm(view);
    const bound = this.normBound(view.blockSize);
    if (!(norm <= bound))
      throw new FedrankError(
        'UPDATE_NORM_TOO_LARGE',
        `norm ${norm.toPrecision(6)} exceeds ${bound.toPrecision(6)}`,
      );
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
        norm,
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

  /** The bound of maxHonestNorm for this model and an int8 block size (0 for f32). */
  normBound(blockSize: number): number {
    let b = this.maxNormByBlock.get(blockSize);
    if (b === undefined) {
      b = maxHonestNorm(
        this.config.training,
        this.model.paramCount,
        this.config.privacy.normTailZ,
        blockSize,
      );
      this.maxNormByBlock.set(blockSize, b);
    }
    return b;
  }

  /** The open round as clients see it. */
  roundInfo(): RoundInfo | null {
    if (!this.open) return null;
    const r = this.config.rounds;
    return {
      id: this.open.round.id,
      state: 'open',
      accepted: this.open.acc.count,
      minClients: r.minClients,
      maxClients: r.maxClients,
      deadline: this.deadlineMs() === null ? null : new Date(this.deadlineMs()!).toISOString(),
    };
  }

  manifest(): ModelManifest {
    const c = this.config;
    return {
      protocol: PROTOCOL_VERSION,
      modelId: this.model.modelId,
      version: this.version,
      paramCount: this.model.paramCount,
      weightsEncoding: 'f32',
      spec: this.model.spec,
      training: c.training,
      round: this.roundInfo(),
      privacy: {
        delta: c.privacy.delta,
        // JSON has no Infinity: a noiseless deployment reports the largest finite double.
        epsilonSpent: Math.min(this.ledger.epsilon, Number.MAX_VALUE),
        epsilonBudget: c.privacy.epsilonBudget,
        deviceEpsilonBudget: c.privacy.deviceEpsilonBudget,
      },
      maxStaleness: c.rounds.maxStaleness,
    };
  }

  /** The current weights in the tensor codec (f32), encoded once per version. */
  weights(): { version: number; bytes: Uint8Array } {
    if (this.weightsCache?.version !== this.version) {
      const bytes = encodeTensor(
        {
          kind: 'weights',
          modelId: this.model.modelId,
          baseVersion: this.version,
          round: this.open?.round.id ?? 0,
          encoding: 'f32',
        },
        this.params,
      );
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
    const accepted: { sub: Submission; rec: UpdateRecord }[] = [];
    const waitForBatch: { sub: Submission; rec: UpdateRecord }[] = [];
    const inBatch = new Map<string, UpdateRecord>();
    const deferred: Submission[] = [];
    const acc = this.open?.acc;
    const nowIso = new Date(this.now()).toISOString();
    for (const sub of batch) {
      const prior = existing.get(sub.key) ?? inBatch.get(sub.key);
      if (prior) {
        if (prior.payloadHash !== sub.hash) {
          sub.reject(new FedrankError('UPDATE_IDEMPOTENCY_CONFLICT'));
        } else if (inBatch.has(sub.key)) waitForBatch.push({ sub, rec: prior });
        else sub.resolve(ackOf(prior, true));
        continue;
      }
      if (!this.open || !acc) {
        sub.reject(
          this.refusal
            ? new FedrankError('BUDGET_EXHAUSTED', this.refusal)
            : new FedrankError('ROUND_NOT_OPEN'),
        );
        continue;
      }
      if (acc.count >= this.config.rounds.maxClients) {
        deferred.push(sub); // the round is full: this one goes to the next round after the close
        continue;
      }
      const h = sub.view.header;
      const round = this.open.round;
      if (h.baseVersion > this.version) {
        sub.reject(
          new FedrankError('UPDATE_FUTURE_VERSION', `base ${h.baseVersion}, current ${this.version}`),
        );
        continue;
      }
      const staleness = this.version - h.baseVersion;
      if (staleness > this.config.rounds.maxStaleness) {
        sub.reject(
          new FedrankError(
            'UPDATE_STALE',
            `base ${h.baseVersion}, current ${this.version}, max staleness ${this.config.rounds.maxStaleness}`,
          ),
        );
        continue;
      }
      if (h.round > round.id) {
        sub.reject(new FedrankError('UPDATE_WRONG_ROUND', `round ${h.round}, open round ${round.id}`));
        continue;
      }
      if (seen.has(sub.clientId)) {
        sub.reject(new FedrankError('UPDATE_ALREADY_CONTRIBUTED', `round ${round.id}`));
        continue;
      }
      const weight = stalenessWeight(staleness, this.config.rounds.stalenessAlpha);
      addView(acc, sub.view, weight, sub.norm);
      seen.add(sub.clientId);
      const rec: UpdateRecord = {
        idempotencyKey: sub.key,
        clientId: sub.clientId,
        roundId: round.id,
        payloadHash: sub.hash,
        baseVersion: h.baseVersion,
        weight,
        norm: sub.norm,
        modelVersion: this.version,
        receivedAt: nowIso,
      };
      inBatch.set(sub.key, rec);
      accepted.push({ sub, rec });
    }
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
    const t = this.config.training;
    const mean = meanDelta(acc);
    const params = this.params.slice();
    const adam = this.adam ? { m: this.adam.m.slice(), v: this.adam.v.slice() } : null;
    applyServerStep(params, mean, this.config.optimizer, adam ?? undefined, this.version + 1);
    const noise = roundNoise(t, acc);
    const q = this.ledger.q;
    const nowIso = new Date(this.now()).toISOString();
    const epsilonAfter = this.ledger.projected(noise.sigma);
    const closed: RoundRecord = {
      ...open.round,
      state: 'closed',
      closedAt: nowIso,
      participants: acc.count,
      weightSum: acc.weight,
      meanUpdateNorm: acc.count > 0 ? acc.normSum / acc.count : null,
      noiseStd: noise.noiseStd,
      sigma: noise.sigma,
      q,
      epsilonAfter: Number.isFinite(epsilonAfter) ? epsilonAfter : null,
      resultVersion: this.version + 1,
    };
    const nextSigma = plannedSigma(t, this.config.rounds.minClients);
    const refusal = this.ledger.refusalAfter(noise.sigma, nextSigma);
    const next = refusal ? null : newRound(open.round.id + 1, this.version + 1, nowIso);
    try {
      await this.store.closeRound(
        closed,
        { modelId: this.model.modelId, version: this.version + 1, params, adam },
        next,
      );
    } catch (err) {
      this.log.error({ err, round: open.round.id }, 'closing the round failed; it stays open');
      return false;
    }
    this.params = params;
    this.adam = adam;
    this.version += 1;
    this.ledger.record(q, noise.sigma);
    this.waitingNote = null;
    this.refusal = refusal;
    if (next) {
      acc.sum.fill(0);
      Object.assign(acc, { weight: 0, count: 0, normSum: 0, sqWeightSum: 0, maxWeight: 0 });
      this.open = { round: next, acc };
    } else {
      this.open = null;
      this.log.warn({ reason: refusal }, 'BUDGET_EXHAUSTED: no further round opens');
    }
    this.log.info(
      {
        round: closed.id,
        participants: closed.participants,
        version: this.version,
        sigma: noise.sigma,
        epsilon: this.ledger.epsilon,
      },
      'round closed',
    );
    this.events.onRoundClosed?.(closed);
    this.armDeadline();
    return true;
  }

  /** Opens a round when none is open and the budget allows (at start, e.g. after the budget was raised). */
  private async tryOpenRound(): Promise<void> {
    const refusal = this.ledger.refusal(plannedSigma(this.config.training, this.config.rounds.minClients));
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
  }
}

function newRound(id: number, baseVersion: number, openedAt: string): RoundRecord {
  return {
    id,
    baseVersion,
    openedAt,
    closedAt: null,
    state: 'open',
    participants: 0,
    weightSum: 0,
    meanUpdateNorm: null,
    noiseStd: null,
    sigma: null,
    q: null,
    epsilonAfter: null,
    resultVersion: null,
  };
}

function ackOf(r: UpdateRecord, duplicate: boolean): UpdateAck {
  return { accepted: true, duplicate, round: r.roundId, modelVersion: r.modelVersion };
}

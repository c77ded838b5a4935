/**
 * The shopper's device as a state machine over the rules (rules.ts) and the injected ports (ports.ts):
 * what to do on new events (personalize online, count them), on idle (refresh the model, contribute when
 * due, flush the outbox), on a new manifest (keep it, rebuild personal state for a new model id), and on
 * forget / opt-out. The browser worker, the simulated shoppers and the eval all drive this class.
 */
import { isFedrankError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { emptyPersonal, updatePersonal } from '../model/personal.ts';
import type { PersonalState } from '../model/personal.ts';
import { DEFAULT_SPEC } from '../model/spec.ts';
import type { ModelSpec } from '../model/spec.ts';
import { prepareContribution } from './contribute.ts';
import { evaluate, scoreHeldOut, toInteraction } from './examples.ts';
import type { DevicePorts } from './ports.ts';
import { SAFEGUARD_PRIOR, chooseGlobalWeight } from './safeguard.ts';
import type { SafeguardDecision } from './safeguard.ts';
import type { EvalReport } from '../protocol.ts';
import type { EventRecord, LedgerRecord, ModelRecord } from './records.ts';
import { MAX_EVENTS } from './store.ts';
import { Uploads } from './uploads.ts';
import { DEFAULT_FLOORS, backoffDelay, budgetState, canContribute, isWaiting, shouldTrain } from './rules.ts';
import type { BudgetState, ContributeDecision, DeviceFloors, Refusal } from './rules.ts';
import type { DeviceConfig, DeviceHooks, DeviceStatus, IdleResult } from './config.ts';

const MODEL_RESYNC_MS = 5 * 60_000;
/** While waiting for a round this device may join, the manifest is asked again at most this often. */
const ROUND_RECHECK_MS = 5_000;
/** Name of the cross-tab lock the contribution step runs under. */
export const CONTRIBUTE_LOCK = 'fedrank-contribute';

export type { DeviceConfig, DeviceHooks, DeviceStatus, IdleResult } from './config.ts';

export class Device {
  model: ModelRecord | null = null;
  personal: PersonalState = emptyPersonal(DEFAULT_SPEC);
  ledger: LedgerRecord[] = [];
  optedOut = false;
  lastError: ErrorCode | null = null;
  lastRefusal: Refusal | null = null;
  trainMs: number | null = null;
  /** The safeguard's latest measurement (null before one: the prior applies). */
  safeguard: SafeguardDecision | null = null;
  /** Model version and positives the safeguard last measured, so an unchanged state is not re-scored. */
  private assessedKey = '';
  private eventsStored = 0;
  private newPositives = 0;
  /** Bumped by forget() and opt-out: work begun before it must leave nothing behind. */
  private generation = 0;
  private busy = false;
  private lastSync = Number.NEGATIVE_INFINITY;
  private syncFailures = 0;
  private nextSyncAt = 0;
  private readonly floors: DeviceFloors;
  private readonly uploads: Uploads;

  constructor(
    private readonly ports: DevicePorts,
    private readonly cfg: DeviceConfig,
    private readonly hooks: DeviceHooks = {},
  ) {
    this.floors = cfg.floors ?? DEFAULT_FLOORS;
    this.uploads = new Uploads(ports, {
      enabled: () => !this.optedOut && cfg.hasServer,
      generation: () => this.generation,
      error: (code) => (this.lastError = code),
    });
  }

  /** Bytes of the latest upload, or null before one. */
  get lastUploadBytes(): number | null {
    return this.uploads.lastBytes;
  }

  /** Reads the stored state (no network): opt-out choice, counters, ledger, the cached model. */
  async open(): Promise<void> {
    const s = this.ports.store;
    this.optedOut = this.cfg.gpcOptOut || (await s.getSetting('optedOut')) === true;
    // Reading the events validates them (bad records are dropped) before they are counted.
    const events = await s.events();
    this.eventsStored = await s.countEvents();
    await this.uploads.load();
    this.ledger = await s.ledger();
    const trained = (await s.getSetting('trainedSeq')) ?? 0;
    this.newPositives = events.filter((e) => (e.seq ?? 0) > trained && e.type !== 'impression').length;
    if (!this.optedOut) this.model = await s.getModel();
  }

  /** Starts learning: personal state for the model, then (with a server) a model refresh and a flush. */
  async resume(): Promise<void> {
    if (this.model) this.hooks.onModel?.(this.model, false);
    await this.loadPersonal();
    await this.assess();
    if (this.cfg.hasServer && !this.optedOut) {
      await this.sync();
      this.prefetchTokens();
      this.uploads.schedule(0);
    }
  }

  spec(): ModelSpec {
    return this.model?.manifest.spec ?? DEFAULT_SPEC;
  }

  /** New interactions: personalize online (the very next rank sees a click), then store them. */
  async track(evs: EventRecord[]): Promise<void> {
    if (this.optedOut || evs.length === 0) return;
    this.eventsStored = Math.min(MAX_EVENTS, this.eventsStored + evs.length);
    const spec = this.spec();
    let changed = false;
    for (const e of evs) {
      if (e.type === 'impression') continue;
      this.personal = updatePersonal(spec, this.personal, toInteraction(spec, e));
      this.newPositives++;
      changed = true;
    }
    if (changed) this.hooks.onPersonal?.();
    await this.ports.store.addEvents(evs);
    if (changed) {
      const modelId = this.model?.manifest.modelId ?? 'none';
      await this.ports.store.putPersonal({ key: 'state', modelId, seq: 0, state: this.personal });
    }
  }

  /**
   * The page is idle: refresh the model when stale, contribute when enough new interactions arrived and
   * canContribute allows it, then flush the outbox. A tensor failure is rethrown (after the flush) for the
   * adapter to switch backends; every other failure becomes lastError.
   */
  async idle(): Promise<IdleResult> {
    const none: IdleResult = { trained: false, queued: false, decision: null };
    if (this.optedOut || !this.cfg.hasServer || this.busy) return none;
    this.busy = true;
    let result = none;
    let failure: unknown = null;
    try {
      const now = this.ports.clock.now();
      if (!this.model || now - this.lastSync > MODEL_RESYNC_MS) await this.sync();
      await this.assess();
      // Fresh round information before deciding to train (a 304 when nothing changed).
      if (this.model && shouldTrain(this.newPositives, this.model.manifest)) {
        if (this.ports.clock.now() - this.lastSync > ROUND_RECHECK_MS) await this.sync();
      }
      this.prefetchTokens();
      if (this.model && shouldTrain(this.newPositives, this.model.manifest)) {
        const lock = this.ports.lock;
        const pass = (): Promise<IdleResult> => this.contributionPass();
        result = (lock ? await lock.ifAvailable(CONTRIBUTE_LOCK, pass) : await pass()) ?? none;
      }
    } catch (e) {
      this.lastError = isFedrankError(e) ? e.code : 'SDK_BAD_MESSAGE';
      if (!isFedrankError(e)) failure = e;
    } finally {
      this.busy = false;
    }
    await this.flush();
    if (failure) throw failure;
    return result;
  }

  /** One decision and, when allowed, one contribution (under the cross-tab lock when there is one). */
  private async contributionPass(): Promise<IdleResult> {
    const { store, clock, random, learner } = this.ports;
    const gen = this.generation;
    const model = this.model!;
    // Read back, not cached: another tab of this shopper may have contributed meanwhile.
    this.ledger = await store.ledger();
    const outbox = await store.outbox();
    const decision = this.decide(outbox);
    if (!decision.ok) {
      this.lastRefusal = decision.why;
      // Waiting for a round to join: the new interactions stay counted for the next one.
      if (!isWaiting(decision.why)) this.newPositives = 0;
      return { trained: false, queued: false, decision };
    }
    this.lastRefusal = null;
    const events = await store.events();
    const maxSeq = events.reduce((m, e) => Math.max(m, e.seq ?? 0), 0);
    const since = (await store.getSetting('trainedSeq')) ?? 0;
    // Whatever happens below, these events have had their turn.
    await store.putSetting('trainedSeq', maxSeq);
    this.newPositives = 0;
    // One id for this round's messages only: nothing links them to the device's other rounds.
    const clientId = random.id();
    if (this.cfg.evalReports) {
      const report = await evaluate(model, learner, events, since);
      if (report && gen === this.generation) await this.sendEval(report, clientId);
    }
    const t0 = clock.now();
    const prepared = await prepareContribution(
      model,
      events,
      { round: decision.round, clientId },
      learner,
      random,
      () => clock.now(),
      () => gen !== this.generation,
    );
    if (!prepared || gen !== this.generation) return { trained: false, queued: false, decision };
    this.trainMs = clock.now() - t0;
    // Checked and written without an await in between: forget() cannot slip in.
    await store.addContribution(prepared.ledger, prepared.outbox);
    this.ledger = await store.ledger();
    await this.uploads.recount();
    return { trained: true, queued: true, decision };
  }

  /**
   * The safeguard: measures the global model against on-device personalization on this shopper's own
   * positives (the federated evaluation's scoring) and sets the weight rank() gives the global model.
   * Each positive is scored with the history before it; the device's own past contributions reached the
   * global model only clipped and noised among others', so these events are nearly held out.
   */
  async assess(): Promise<void> {
    const model = this.model;
    if (!model || this.optedOut) return;
    const key = `${model.manifest.modelId}:${model.manifest.version}:${this.personal.positives}`;
    if (key === this.assessedKey) return;
    const gen = this.generation;
    const examples = await scoreHeldOut(model, this.ports.learner, await this.ports.store.events(), 0);
    if (gen !== this.generation || model !== this.model) return;
    this.assessedKey = key;
    this.safeguard = chooseGlobalWeight(examples);
  }

  /** Weight of the global model's score in rank(), in [0, 1]; null without a global model. */
  globalWeight(): number | null {
    if (!this.model) return null;
    return this.safeguard?.weight ?? SAFEGUARD_PRIOR;
  }

  /** Tokens are fetched ahead of need, not before an upload, so issuance timing links to no contribution. */
  private prefetchTokens(): void {
    // A memory-only device never contributes, so it asks for no tokens either.
    if (this.ports.store.kind !== 'memory') void this.ports.tokens?.prefetch();
  }

  /** One eval report, paid for by its own token when the deployment uses them. */
  private async sendEval(report: EvalReport, clientId: string): Promise<void> {
    const { tokens, evals, random } = this.ports;
    if (!tokens) return evals.sendEval(report, clientId);
    const key = random.id();
    // None on hand: sent without (accepted where tokens are optional; refused, and lost, where required).
    const token = await tokens.tokenFor('eval', key);
    // Best effort and never retried, so the token is used up whatever the answer.
    await evals.sendEval(report, clientId, token);
    await tokens.settle(key, 'spent');
  }

  /** canContribute over this device's current state. */
  decide(outbox: { round: number }[] = []): ContributeDecision {
    return canContribute({
      manifest: this.model?.manifest ?? null,
      ledger: this.ledger,
      outbox,
      cap: this.cfg.epsilonCap,
      floors: this.floors,
      dpOff: this.cfg.dpOff,
      storage: this.ports.store.kind,
      optedOut: this.optedOut,
      hasServer: this.cfg.hasServer,
      ...(this.cfg.participation ? { participation: this.cfg.participation } : {}),
    });
  }

  /** Fetches the model if changed; errors are recorded, never thrown. */
  async sync(): Promise<void> {
    const now = this.ports.clock.now();
    if (!this.cfg.hasServer || this.optedOut || now < this.nextSyncAt) return;
    this.lastSync = now;
    const gen = this.generation;
    try {
      const before = this.model?.manifest.modelId;
      const r = await this.ports.models.fetchModel(this.model);
      if (gen !== this.generation && this.optedOut) return;
      const sameId = before === r.model.manifest.modelId;
      this.model = r.model;
      if (r.weightsChanged) {
        this.hooks.onModel?.(r.model, sameId);
        if (!sameId) await this.loadPersonal();
      }
      await this.ports.store.putModel(r.model);
      this.syncFailures = 0;
      this.nextSyncAt = 0;
    } catch (e) {
      this.lastError = isFedrankError(e) ? e.code : 'SDK_SERVER_UNREACHABLE';
      // A failing server is asked again later and later, never hammered by every idle pass.
      this.syncFailures++;
      this.nextSyncAt = this.ports.clock.now() + backoffDelay(this.syncFailures, this.ports.random.uniform());
    }
  }

  /** Submits due outbox entries and schedules the next retry. */
  flush(): Promise<void> {
    return this.uploads.flush();
  }

  /** Stops the device: no timer stays pending, work in flight leaves nothing behind (the store is kept). */
  close(): void {
    this.generation++;
    this.uploads.cancel();
  }

  /** Opting out stops learning and sending, and erases what waits to be sent. */
  async setOptOut(optedOut: boolean): Promise<void> {
    await this.ports.store.putSetting('optedOut', optedOut);
    this.optedOut = optedOut || this.cfg.gpcOptOut;
    if (this.optedOut) {
      this.generation++;
      this.uploads.cancel();
      await this.ports.store.clearOutbox();
      await this.ports.tokens?.clear();
      this.uploads.pending = 0;
    }
  }

  /**
   * Erases the shopper's data: events, personal state, ledger, outbox and counters, in one store
   * transaction. A training pass or flush in flight is abandoned (the generation changes first), so
   * nothing derived from the erased events is queued or sent afterwards.
   */
  async forget(): Promise<void> {
    this.generation++;
    this.uploads.cancel();
    // Memory first, so nothing forgotten is used while storage is being cleared.
    this.personal = emptyPersonal(this.spec());
    this.hooks.onPersonal?.();
    // Measured on the erased events: back to the prior.
    this.safeguard = null;
    this.assessedKey = '';
    this.ledger = [];
    this.eventsStored = 0;
    this.uploads.sent = 0;
    this.uploads.pending = 0;
    this.newPositives = 0;
    this.lastError = null;
    this.lastRefusal = null;
    this.ports.store.badRecords = 0;
    // The opt-out choice itself survives, or forgetting would silently opt the shopper back in.
    await this.ports.store.clear(this.optedOut ? { optedOut: true } : {});
    // The store's clear took the tokens with it; the wallet also drops a batch still in flight.
    await this.ports.tokens?.clear();
    // The public global model stays in memory for ranking, but is no longer stored on the device.
  }

  /** Epsilon spent, the budget, and whether one more contribution would exceed it. */
  privacy(): BudgetState {
    return budgetState(this.model?.manifest ?? null, this.ledger, this.cfg.epsilonCap);
  }

  status(): DeviceStatus {
    const p = this.privacy();
    return {
      modelVersion: this.model?.manifest.version ?? null,
      modelId: this.model?.manifest.modelId ?? null,
      eventsStored: this.eventsStored,
      updatesSent: this.uploads.sent,
      updatesPending: this.uploads.pending,
      epsilonSpent: p.spent,
      epsilonAgainst: 'server',
      epsilonBudget: p.budget,
      privacyDelta: p.delta,
      budgetExhausted: p.exhausted,
      optedOut: this.optedOut,
      storage: this.ports.store.kind,
      dp: this.cfg.dpOff ? 'off' : 'on',
      lastRefusal: this.lastRefusal,
      personalized: this.personal.positives > 0,
      globalWeight: this.globalWeight(),
      lastError: this.lastError ?? (this.ports.store.badRecords > 0 ? 'SDK_BAD_MESSAGE' : null),
    };
  }

  /** Personal state for the current model id: stored, or rebuilt from the stored events. */
  private async loadPersonal(): Promise<void> {
    const modelId = this.model?.manifest.modelId ?? 'none';
    const rec = await this.ports.store.getPersonal();
    if (rec && rec.modelId === modelId) {
      this.personal = rec.state;
      this.hooks.onPersonal?.();
      return;
    }
    const spec = this.spec();
    let p = emptyPersonal(spec);
    let seq = 0;
    for (const e of await this.ports.store.events()) {
      if (e.type !== 'impression') p = updatePersonal(spec, p, toInteraction(spec, e));
      seq = Math.max(seq, e.seq ?? 0);
    }
    this.personal = p;
    this.hooks.onPersonal?.();
    await this.ports.store.putPersonal({ key: 'state', modelId, seq, state: p });
  }
}

/**
 * The worker's engine: storage, backend, the global model, personal state, ranking, and the learning loop
 * (train when enough new interactions arrived and the page is idle, privatize, queue, upload). Every
 * request from the page is validated here; failures become status codes, never exceptions to the page.
 */
import { isFedrankError } from '../../shared/errors.ts';
import { emptyPersonal, updatePersonal } from '../../shared/model/personal.ts';
import type { PersonalState } from '../../shared/model/personal.ts';
import { Ranker } from '../../shared/model/ranker.ts';
import { DEFAULT_SPEC, initGlobalParams } from '../../shared/model/spec.ts';
import type { ModelSpec } from '../../shared/model/spec.ts';
import type { RankItem, TrackEvent } from '../types.ts';
import { parseWorkerInit, sanitizeEvent, sanitizeItems } from '../wire.ts';
import type { WorkerApi, WorkerDebug, WorkerInit, WorkerStatus } from '../wire.ts';
import { chooseBackend, currentBackend, demoteBackend, numTensors } from './backend.ts';
import type { BackendName } from '../types.ts';
import { backoffDelay, randomId } from './http.ts';
import { DEFAULT_PRIVACY_DELTA, deviceBudget, ledgerEpsilon } from './ledger.ts';
import { learnOnce, toInteraction } from './learn.ts';
import type { EventRecord, LedgerRecord, ModelRecord } from './records.ts';
import { Scorer } from './scorer.ts';
import { MAX_EVENTS, MemoryStore, openStore } from './storage.ts';
import type { Store } from './storage.ts';
import { syncModel } from './sync.ts';
import { flushOutbox } from './uploader.ts';

/** Positive interactions needed before training when no manifest says otherwise. */
const DEFAULT_MIN_NEW_EVENTS = 5;
const MODEL_RESYNC_MS = 5 * 60_000;
/** While waiting for a round this device may join, the manifest is asked again at most this often. */
const ROUND_RECHECK_MS = 5_000;

export class Engine implements WorkerApi {
  cfg: WorkerInit = { server: null, backend: null, epsilonCap: 8, evalReports: false, gpcOptOut: false };
  store: Store = new MemoryStore();
  model: ModelRecord | null = null;
  ranker: Ranker | null = null;
  scorer: Scorer | null = null;
  personal: PersonalState = emptyPersonal(DEFAULT_SPEC);
  ledger: LedgerRecord[] = [];
  clientId = '';
  lastError: string | null = null;
  trainMs: number | null = null;
  lastUploadBytes: number | null = null;
  private backend: BackendName | null = null;
  private backendReason = 'not started';
  private optedOut = false;
  private started: Promise<void> | null = null;
  private eventsStored = 0;
  private updatesSent = 0;
  private updatesPending = 0;
  private newPositives = 0;
  private busy = false;
  private recovering = false;
  private fingerprint: string | null = null;
  private flushing = false;
  private flushAgain = false;
  private lastSync = 0;
  private syncFailures = 0;
  private nextSyncAt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;

  async init(raw: WorkerInit): Promise<WorkerStatus> {
    const cfg = parseWorkerInit(raw);
    if (!cfg) {
      this.lastError = 'SDK_BAD_MESSAGE';
      return this.status();
    }
    this.cfg = cfg;
    this.store = await openStore();
    if (this.store.kind === 'memory') this.lastError = 'SDK_STORAGE_UNAVAILABLE';
    this.optedOut = cfg.gpcOptOut || (await this.store.getSetting('optedOut')) === true;
    await this.loadCounters();
    if (!this.optedOut) await this.start();
    return this.status();
  }

  /** Backend, model and personal state: only for shoppers who have not opted out. */
  private start(): Promise<void> {
    this.started ??= (async () => {
      this.model = await this.store.getModel();
      const spec = this.spec();
      const params = this.model?.params ?? initGlobalParams(spec);
      const cached = await this.store.getSetting('backend');
      const r = await chooseBackend(spec, params, this.cfg.backend, cached);
      this.backend = r.backend;
      this.backendReason = r.reason;
      this.fingerprint = r.fingerprint;
      if (r.choice) await this.store.putSetting('backend', r.choice);
      if (this.model) this.useModel(this.model);
      await this.loadPersonal();
      if (this.cfg.server) {
        await this.sync();
        this.scheduleFlush(0);
      }
    })();
    return this.started;
  }

  private async loadCounters(): Promise<void> {
    // Reading the events validates them (bad records are dropped) before they are counted.
    const events = await this.store.events();
    this.eventsStored = await this.store.countEvents();
    this.updatesSent = (await this.store.getSetting('updatesSent')) ?? 0;
    this.updatesPending = (await this.store.outbox()).length;
    this.ledger = await this.store.ledger();
    let id = await this.store.getSetting('clientId');
    if (!id) {
      id = randomId();
      await this.store.putSetting('clientId', id);
    }
    this.clientId = id;
    const trained = (await this.store.getSetting('trainedSeq')) ?? 0;
    this.newPositives = events.filter((e) => e.seq! > trained && e.type !== 'impression').length;
  }

  spec(): ModelSpec {
    return this.model?.manifest.spec ?? DEFAULT_SPEC;
  }

  private useModel(m: ModelRecord): void {
    const sameSpec = this.ranker && this.model && this.model.manifest.modelId === m.manifest.modelId;
    this.model = m;
    if (sameSpec && this.ranker) {
      this.ranker.setGlobal(m.params);
      this.scorer?.modelChanged();
    } else {
      this.ranker?.dispose();
      this.ranker = new Ranker(m.manifest.spec, m.params);
      this.scorer = new Scorer(m.manifest.spec, this.ranker);
    }
  }

  /** Personal state for the current model id: stored, or rebuilt from the stored events. */
  private async loadPersonal(): Promise<void> {
    const modelId = this.model?.manifest.modelId ?? 'none';
    const rec = await this.store.getPersonal();
    if (rec && rec.modelId === modelId) {
      this.personal = rec.state;
      return;
    }
    const spec = this.spec();
    let p = emptyPersonal(spec);
    let seq = 0;
    for (const e of await this.store.events()) {
      if (e.type !== 'impression') p = updatePersonal(spec, p, toInteraction(spec, e));
      seq = Math.max(seq, e.seq ?? 0);
    }
    this.personal = p;
    this.scorer?.personalChanged();
    await this.store.putPersonal({ key: 'state', modelId, seq, state: p });
  }

  /**
   * A tensor error that is not ours (a lost WebGPU device, a driver fault): move to the next backend down
   * and rebuild the ranker there, and remember the choice so the next visit does not start on it again.
   */
  private async recover(e: unknown): Promise<boolean> {
    const failed = this.backend;
    if (isFedrankError(e) || !failed || failed === 'cpu' || this.recovering) return false;
    this.recovering = true;
    try {
      const now = await demoteBackend(failed);
      const why = String(e instanceof Error ? e.message : e).slice(0, 120);
      this.backend = now;
      this.backendReason = `${failed} failed at runtime (${why}); switched to ${now}; was: ${this.backendReason}`;
      try {
        this.ranker?.dispose();
      } catch {
        // the failed backend may not even free its memory any more
      }
      this.ranker = null;
      this.scorer = null;
      if (this.model) this.useModel(this.model);
      if (this.fingerprint) {
        await this.store.putSetting('backend', {
          fingerprint: this.fingerprint,
          backend: now,
          reason: this.backendReason,
        });
      }
      return true;
    } catch {
      return false;
    } finally {
      this.recovering = false;
    }
  }

  /** Fetches the model if changed; errors are recorded, never thrown. */
  async sync(): Promise<void> {
    if (!this.cfg.server || this.optedOut || Date.now() < this.nextSyncAt) return;
    this.lastSync = Date.now();
    try {
      const before = this.model?.manifest.modelId;
      const r = await syncModel(this.cfg.server, this.model);
      if (r.weightsChanged) {
        this.useModel(r.model);
        if (before !== r.model.manifest.modelId) await this.loadPersonal();
      } else this.model = r.model;
      await this.store.putModel(this.model!);
      this.syncFailures = 0;
      this.nextSyncAt = 0;
    } catch (e) {
      this.lastError = isFedrankError(e) ? e.code : 'SDK_SERVER_UNREACHABLE';
      // A failing server is asked again later and later, never hammered by every idle pass.
      this.syncFailures++;
      this.nextSyncAt = Date.now() + backoffDelay(this.syncFailures, Math.random());
    }
  }

  async rank(rawItems: RankItem[], rawQuery: string): Promise<number[] | null> {
    if (this.optedOut || !this.scorer) return null;
    const items = sanitizeItems(rawItems);
    if (!items) {
      this.lastError = 'SDK_BAD_MESSAGE';
      return null;
    }
    const query = typeof rawQuery === 'string' ? rawQuery.slice(0, 256) : '';
    try {
      return await this.scorer.rankAsync(items, query, this.personal);
    } catch (e) {
      this.lastError = 'SDK_BAD_MESSAGE';
      // One retry on the next backend down when the active one failed (e.g. a lost WebGPU device).
      if (!(await this.recover(e)) || !this.scorer) return null;
      try {
        return await this.scorer.rankAsync(items, query, this.personal);
      } catch {
        return null;
      }
    }
  }

  async track(raw: TrackEvent[]): Promise<void> {
    if (this.optedOut || !Array.isArray(raw)) return;
    const now = Date.now();
    const evs: EventRecord[] = [];
    for (const r of raw.slice(0, 500)) {
      const e = sanitizeEvent(r);
      if (!e) {
        this.lastError = 'SDK_BAD_MESSAGE';
        continue;
      }
      evs.push({ type: e.type, item: e.item, time: now, ...(e.query ? { query: e.query } : {}) });
    }
    if (evs.length === 0) return;
    // Memory first, synchronously: a rank() or status() that arrives next already sees these events.
    this.eventsStored = Math.min(MAX_EVENTS, this.eventsStored + evs.length);
    const spec = this.spec();
    let changed = false;
    for (const e of evs) {
      if (e.type === 'impression') continue;
      // Online personalization: the very next rank() sees this click.
      this.personal = updatePersonal(spec, this.personal, toInteraction(spec, e));
      this.newPositives++;
      changed = true;
    }
    if (changed) this.scorer?.personalChanged();
    await this.store.addEvents(evs);
    if (changed) {
      const modelId = this.model?.manifest.modelId ?? 'none';
      await this.store.putPersonal({ key: 'state', modelId, seq: 0, state: this.personal });
    }
  }

  async idle(): Promise<void> {
    if (this.optedOut || !this.cfg.server || this.busy) return;
    await this.start();
    this.busy = true;
    try {
      if (!this.model || Date.now() - this.lastSync > MODEL_RESYNC_MS) await this.sync();
      const need = this.model?.manifest.training.minNewEvents ?? DEFAULT_MIN_NEW_EVENTS;
      if (this.model && this.ranker && this.newPositives >= need) {
        // Fresh round information before deciding to train (a 304 when nothing changed).
        if (Date.now() - this.lastSync > ROUND_RECHECK_MS) await this.sync();
      }
      if (this.model && this.ranker && this.newPositives >= need) {
        const t0 = performance.now();
        const r = await learnOnce(this);
        if (r.trained) this.trainMs = performance.now() - t0;
        if (r.error) this.lastError = r.error;
        // Waiting for a round to join: the new interactions stay counted for the next one.
        if (!r.waiting) this.newPositives = 0;
        this.updatesPending = (await this.store.outbox()).length;
        this.ledger = await this.store.ledger();
      }
    } catch (e) {
      this.lastError = isFedrankError(e) ? e.code : 'SDK_BAD_MESSAGE';
      // The pass is tried again on the replacement backend.
      if (await this.recover(e)) setTimeout(() => void this.idle(), 0);
    } finally {
      this.busy = false;
    }
    await this.flush();
  }

  /** Uploads due outbox entries and schedules the next retry. */
  async flush(): Promise<void> {
    if (this.optedOut || !this.cfg.server) return;
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    // One flush at a time: a timer and an idle pass must not send the same update twice.
    this.flushing = true;
    try {
      const r = await flushOutbox(this.store, this.cfg.server, this.clientId);
      if (r.sent > 0) {
        this.updatesSent += r.sent;
        await this.store.putSetting('updatesSent', this.updatesSent);
      }
      if (r.bytes !== null) this.lastUploadBytes = r.bytes;
      if (r.error) this.lastError = r.error;
      this.updatesPending = (await this.store.outbox()).length;
      if (r.nextInMs !== null) this.scheduleFlush(r.nextInMs);
    } catch (e) {
      this.lastError = isFedrankError(e) ? e.code : 'SDK_BAD_MESSAGE';
    } finally {
      this.flushing = false;
      if (this.flushAgain) {
        this.flushAgain = false;
        this.scheduleFlush(0);
      }
    }
  }

  private scheduleFlush(ms: number): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.flush();
    }, ms);
  }

  async setOptOut(optedOut: boolean): Promise<void> {
    if (typeof optedOut !== 'boolean') return;
    await this.store.putSetting('optedOut', optedOut);
    this.optedOut = optedOut || this.cfg.gpcOptOut;
    if (this.optedOut && this.retryTimer) clearTimeout(this.retryTimer);
    if (!this.optedOut) await this.start();
  }

  async forget(): Promise<void> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    // Memory first, so nothing forgotten is used while storage is being cleared.
    this.personal = emptyPersonal(this.spec());
    this.scorer?.personalChanged();
    this.ledger = [];
    this.eventsStored = 0;
    this.updatesSent = 0;
    this.updatesPending = 0;
    this.newPositives = 0;
    this.clientId = randomId();
    this.lastError = null;
    this.store.badRecords = 0;
    await this.store.clear();
    // The opt-out choice itself must survive, or forgetting would silently opt the shopper back in.
    if (this.optedOut) await this.store.putSetting('optedOut', true);
    await this.store.putSetting('clientId', this.clientId);
    // The public global model stays in memory for ranking, but is no longer stored on the device.
  }

  /** Epsilon spent, the budget, and whether one more contribution would exceed it. */
  privacy(): { spent: number; budget: number; delta: number; exhausted: boolean } {
    const m = this.model?.manifest ?? null;
    const delta = m?.privacy.delta ?? DEFAULT_PRIVACY_DELTA;
    const budget = deviceBudget(m, this.cfg.epsilonCap);
    const spent = ledgerEpsilon(this.ledger, delta);
    const next = m ? ledgerEpsilon(this.ledger, delta, { q: 1, sigma: m.training.noiseMultiplier }) : spent;
    return { spent, budget, delta, exhausted: spent >= budget || next > budget };
  }

  async status(): Promise<WorkerStatus> {
    const p = this.privacy();
    return {
      ready: !this.optedOut && this.scorer !== null,
      backend: this.backend,
      backendReason: this.backendReason,
      modelVersion: this.model?.manifest.version ?? null,
      modelId: this.model?.manifest.modelId ?? null,
      eventsStored: this.eventsStored,
      updatesSent: this.updatesSent,
      updatesPending: this.updatesPending,
      epsilonSpent: Number.isFinite(p.spent) ? p.spent : 1e9,
      epsilonBudget: p.budget,
      privacyDelta: p.delta,
      budgetExhausted: p.exhausted,
      optedOut: this.optedOut,
      storage: this.store.kind,
      lastError: this.lastError ?? (this.store.badRecords > 0 ? 'SDK_BAD_MESSAGE' : null),
    };
  }

  async debug(): Promise<WorkerDebug> {
    return {
      tfBackend: currentBackend(),
      numTensors: numTensors(),
      trainMs: this.trainMs,
      lastUploadBytes: this.lastUploadBytes,
    };
  }
}

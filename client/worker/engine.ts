/**
 * The worker's engine: a thin adapter around the device core (shared/device). It validates every request
 * from the page, supplies the browser's ports (IndexedDB store, fetch transport, tfjs backend, Web Locks)
 * and owns the tensors the page's rank() uses (ranker, scorer, backend recovery). Failures become status
 * codes, never exceptions to the page.
 */
import { Device } from '../../shared/device/device.ts';
import { personalOrder } from '../../shared/device/local-rank.ts';
import type { EventRecord, ModelRecord } from '../../shared/device/records.ts';
import { MemoryStore } from '../../shared/device/store.ts';
import type { Store } from '../../shared/device/store.ts';
import { isFedrankError } from '../../shared/errors.ts';
import type { ErrorCode } from '../../shared/errors.ts';
import { encodeItem } from '../../shared/model/features.ts';
import type { ItemFeatures } from '../../shared/model/features.ts';
import { Ranker } from '../../shared/model/ranker.ts';
import { initGlobalParams } from '../../shared/model/spec.ts';
import { encodeEpsilon } from '../../shared/routes.ts';
import type { BackendName, RankItem, TrackEvent } from '../types.ts';
import { parseWorkerInit, sanitizeEvent, sanitizeItems } from '../wire.ts';
import type { WorkerApi, WorkerDebug, WorkerInit, WorkerStatus } from '../wire.ts';
import { chooseBackend, currentBackend, demoteBackend, numTensors } from './backend.ts';
import { Scorer } from './scorer.ts';
import { browserPorts } from './ports.ts';
import { openStore } from './storage.ts';

export class Engine implements WorkerApi {
  private cfg: WorkerInit | null = null;
  private store: Store = new MemoryStore();
  private device: Device | null = null;
  private ranker: Ranker | null = null;
  private scorer: Scorer | null = null;
  private backend: BackendName | null = null;
  private backendReason = 'not started';
  private fingerprint: string | null = null;
  private started: Promise<void> | null = null;
  /** Personal state loaded: rank() re-orders (with the global model, or on-device alone without one). */
  private running = false;
  /**
   * The first model fetch is over (a model, or the server refused / failed): status().ready, which the
   * page's DOM integration waits for, so a first page view gets the global model's order when there is one.
   */
  private settled = false;
  private recovering = false;
  private lastError: ErrorCode | null = null;

  async init(raw: WorkerInit): Promise<WorkerStatus> {
    const cfg = parseWorkerInit(raw);
    if (!cfg || this.cfg) {
      this.lastError = 'SDK_BAD_MESSAGE';
      return this.status();
    }
    this.cfg = cfg;
    this.store = await openStore();
    if (this.store.kind === 'memory') this.lastError = 'SDK_STORAGE_UNAVAILABLE';
    this.device = new Device(
      browserPorts(cfg, this.store, () => this.ranker),
      {
        hasServer: cfg.server !== null,
        epsilonCap: cfg.epsilonCap,
        evalReports: cfg.evalReports,
        gpcOptOut: cfg.gpcOptOut,
        dpOff: cfg.dpOff,
      },
      {
        onModel: (m, same) => this.useModel(m, same),
        // Personal state loaded: rank() works from here, before (or without) any answer from the server.
        onPersonal: () => {
          if (this.started) this.running = true;
          this.scorer?.personalChanged();
        },
      },
    );
    await this.device.open();
    if (!this.device.optedOut) await this.start();
    return this.status();
  }

  /** Backend, model and personal state: only for shoppers who have not opted out. */
  private start(): Promise<void> {
    const dev = this.device;
    if (!dev) return Promise.resolve();
    this.started ??= (async () => {
      const spec = dev.spec();
      const params = dev.model?.params ?? initGlobalParams(spec);
      const r = await chooseBackend(spec, params, this.cfg!.backend, await this.store.getSetting('backend'));
      this.backend = r.backend;
      this.backendReason = r.reason;
      this.fingerprint = r.fingerprint;
      if (r.choice) await this.store.putSetting('backend', r.choice);
      await dev.resume();
      this.running = true;
      this.settled = true;
    })();
    return this.started;
  }

  private useModel(m: ModelRecord, sameModelId: boolean): void {
    if (sameModelId && this.ranker) {
      this.ranker.setGlobal(m.params);
      this.scorer?.modelChanged();
      return;
    }
    this.ranker?.dispose();
    this.ranker = new Ranker(m.manifest.spec, m.params);
    this.scorer = new Scorer(m.manifest.spec, this.ranker);
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
      const model = this.device?.model;
      if (model) this.useModel(model, false);
      if (this.fingerprint) {
        const choice = { fingerprint: this.fingerprint, backend: now, reason: this.backendReason };
        await this.store.putSetting('backend', choice);
      }
      return true;
    } catch {
      return false;
    } finally {
      this.recovering = false;
    }
  }

  async rank(rawItems: RankItem[], rawQuery: string): Promise<number[] | null> {
    const dev = this.device;
    if (!dev || dev.optedOut || !this.running) return null;
    const items = sanitizeItems(rawItems);
    if (!items) {
      this.lastError = 'SDK_BAD_MESSAGE';
      return null;
    }
    const query = typeof rawQuery === 'string' ? rawQuery.slice(0, 256) : '';
    // No global model (the server refused this origin, is down, or has not answered yet): on-device alone.
    if (!this.scorer) return this.rankLocally(items);
    const weight = dev.globalWeight() ?? 1;
    try {
      return await this.scorer.rankAsync(items, query, dev.personal, weight);
    } catch (e) {
      this.lastError = 'SDK_BAD_MESSAGE';
      // One retry on the next backend down when the active one failed (e.g. a lost WebGPU device).
      if (!(await this.recover(e)) || !this.scorer) return null;
      try {
        return await this.scorer.rankAsync(items, query, dev.personal, weight);
      } catch {
        return null;
      }
    }
  }

  /** The on-device order (no tensors), or null to keep the shop's order while nothing is learned. */
  private rankLocally(items: RankItem[]): number[] | null {
    const dev = this.device!;
    const spec = dev.spec();
    return personalOrder(
      spec,
      items.map((it) => encodeItem(spec, it as ItemFeatures)),
      dev.personal,
    );
  }

  async track(raw: TrackEvent[]): Promise<void> {
    if (!this.device || this.device.optedOut || !Array.isArray(raw)) return;
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
    await this.device.track(evs);
  }

  async idle(): Promise<void> {
    const dev = this.device;
    if (!dev || dev.optedOut || !this.cfg?.server) return;
    await this.start();
    try {
      await dev.idle();
    } catch (e) {
      // The pass is tried again on the replacement backend.
      if (await this.recover(e)) setTimeout(() => void this.idle(), 0);
    }
  }

  async setOptOut(optedOut: boolean): Promise<void> {
    if (typeof optedOut !== 'boolean' || !this.device) return;
    await this.device.setOptOut(optedOut);
    if (!this.device.optedOut) await this.start();
  }

  async forget(): Promise<void> {
    this.lastError = null;
    await this.device?.forget();
  }

  async status(): Promise<WorkerStatus> {
    const d = this.device?.status();
    return {
      ready: !!d && !d.optedOut && this.settled,
      backend: this.backend,
      backendReason: this.backendReason,
      modelVersion: d?.modelVersion ?? null,
      modelId: d?.modelId ?? null,
      eventsStored: d?.eventsStored ?? 0,
      updatesSent: d?.updatesSent ?? 0,
      updatesPending: d?.updatesPending ?? 0,
      epsilonSpent: encodeEpsilon(d?.epsilonSpent ?? 0),
      epsilonBudget: d?.epsilonBudget ?? 0,
      privacyDelta: d?.privacyDelta ?? 0,
      budgetExhausted: d?.budgetExhausted ?? false,
      optedOut: d?.optedOut ?? false,
      storage: this.store.kind,
      dp: d?.dp ?? 'on',
      personalized: d?.personalized ?? false,
      globalWeight: d?.globalWeight ?? null,
      lastError: d?.lastError ?? this.lastError,
    };
  }

  async debug(): Promise<WorkerDebug> {
    return {
      tfBackend: currentBackend(),
      numTensors: numTensors(),
      trainMs: this.device?.trainMs ?? null,
      lastUploadBytes: this.device?.lastUploadBytes ?? null,
    };
  }
}

/**
 * The page side of the SDK: the public API. Every method is wrapped so that nothing throws into, rejects
 * in, or blocks the host page; the heavy work runs in the worker, and any failure degrades to the
 * original order and a status code.
 */
import type { Fedrank, FedrankOptions, FedrankStatus, RankItem, RankOptions, TrackEvent } from '../types.ts';
import { isPermutation, parseWorkerStatus, sanitizeEvent, sanitizeItems } from '../wire.ts';
import type { WorkerStatus } from '../wire.ts';
import { startWorker, within } from './engine-client.ts';
import type { WorkerHandle } from './engine-client.ts';
import { resolveOptions } from './options.ts';
import type { ResolvedOptions } from './options.ts';
import { attachDom } from './dom.ts';
import type { ErrorCode } from '../../shared/errors.ts';
import { DEVICE_DB_NAME } from '../../shared/routes.ts';

/** SDK build version. */
export const VERSION = '0.1.0';
const WORKER_START_TIMEOUT_MS = 60_000;
const STATUS_TIMEOUT_MS = 1000;
const STATUS_START_WAIT_MS = 15_000;
const READY_POLL_MS = 2000;

const TIMEOUT = Symbol('timeout');

/** Runs `cb` when the page is idle (requestIdleCallback, or a timer where it is missing). */
export function whenIdle(cb: () => void, timeout = 2000): void {
  const ric = (globalThis as { requestIdleCallback?: (f: () => void, o: { timeout: number }) => number })
    .requestIdleCallback;
  if (typeof ric === 'function') ric(cb, { timeout });
  else setTimeout(cb, 1);
}

export class Sdk {
  readonly opts: ResolvedOptions;
  private readonly gpc: boolean;
  private optedOut: boolean;
  private worker: WorkerHandle | null = null;
  /** Resolves to the worker API once init() answered, or null when there is no worker. */
  private engine: Promise<WorkerHandle['api'] | null> | null = null;
  private last: WorkerStatus | null = null;
  private lastError: ErrorCode | null = null;
  private readyWaiters: (() => void)[] = [];
  private idlePending = false;
  private pendingEvents: TrackEvent[] = [];

  constructor(options: ResolvedOptions) {
    this.opts = options;
    this.gpc = (navigator as { globalPrivacyControl?: boolean }).globalPrivacyControl === true;
    this.optedOut = this.gpcApplies();
    if (!this.optedOut) this.boot();
    if (options.auto) attachDom(this);
  }

  private gpcApplies(): boolean {
    return this.gpc && this.opts.gpc === 'respect';
  }

  private boot(): void {
    if (this.engine) return;
    this.engine = (async () => {
      let handle: WorkerHandle | null = null;
      try {
        handle = startWorker(this.opts.workerUrl);
      } catch {
        handle = null;
      }
      if (!handle) {
        this.lastError = 'SDK_WORKER_UNAVAILABLE';
        return null;
      }
      this.worker = handle;
      const init = handle.api.init({
        server: this.opts.server,
        backend: this.opts.backend,
        epsilonCap: this.opts.epsilonCap,
        evalReports: this.opts.evalReports,
        dpOff: this.opts.dpOff,
        gpcOptOut: this.gpcApplies(),
        tokens: this.opts.tokens,
      });
      const r = await Promise.race([
        within(init, WORKER_START_TIMEOUT_MS, TIMEOUT),
        handle.dead.then(() => TIMEOUT),
      ]);
      const st = r === TIMEOUT ? null : parseWorkerStatus(r);
      if (!st) {
        this.lastError = 'SDK_WORKER_UNAVAILABLE';
        handle.terminate();
        this.worker = null;
        return null;
      }
      void handle.dead.then(() => {
        this.lastError = 'SDK_WORKER_UNAVAILABLE';
        this.engine = Promise.resolve(null);
        this.last = null;
      });
      this.noteStatus(st);
      if (!st.ready) this.pollReady(handle.api);
      return handle.api;
    })().catch(() => {
      this.lastError = 'SDK_WORKER_UNAVAILABLE';
      return null;
    });
  }

  private noteStatus(st: WorkerStatus): void {
    this.last = st;
    this.optedOut = st.optedOut || this.gpcApplies();
    if (st.ready && !this.optedOut) {
      const w = this.readyWaiters;
      this.readyWaiters = [];
      for (const f of w) f();
    }
  }

  private pollReady(api: WorkerHandle['api'], tries = 150): void {
    if (tries <= 0) return;
    setTimeout(() => {
      if (this.last?.ready) return;
      whenIdle(() => {
        void within(
          api.idle().then(() => api.status()),
          30_000,
          null,
        ).then((s) => {
          const st = parseWorkerStatus(s);
          if (st) this.noteStatus(st);
          if (!st?.ready) this.pollReady(api, tries - 1);
        });
      });
    }, READY_POLL_MS);
  }

  /** Resolves when a model is loaded and the shopper has not opted out (used by the DOM integration). */
  whenReady(cb: () => void): void {
    if (this.last?.ready && !this.optedOut) cb();
    else this.readyWaiters.push(cb);
  }

  blocked(): boolean {
    return this.optedOut || this.gpcApplies();
  }

  async rank<T extends RankItem>(items: T[], options?: RankOptions): Promise<T[]> {
    const original: T[] = Array.isArray(items) ? items.slice() : [];
    try {
      if (this.blocked() || original.length < 2 || !this.engine) return original;
      const clean = sanitizeItems(original);
      if (!clean) {
        this.lastError = 'SDK_BAD_MESSAGE';
        return original;
      }
      const query = typeof options?.query === 'string' ? options.query : '';
      const t =
        typeof options?.timeoutMs === 'number' && options.timeoutMs > 0
          ? options.timeoutMs
          : this.opts.rankTimeout;
      const engine = this.engine;
      const perm = await within(
        engine.then((api) => (api ? api.rank(clean, query) : null)),
        t,
        TIMEOUT,
      );
      if (perm === TIMEOUT) {
        this.lastError = 'SDK_RANK_TIMEOUT';
        return original;
      }
      if (perm === null) return original;
      if (!isPermutation(perm, original.length)) {
        this.lastError = 'SDK_BAD_MESSAGE';
        return original;
      }
      return perm.map((i) => original[i]!);
    } catch {
      return original;
    }
  }

  async track(event: TrackEvent): Promise<void> {
    try {
      if (this.blocked() || !this.engine) return;
      const ev = sanitizeEvent(event);
      if (!ev) {
        this.lastError = 'SDK_BAD_MESSAGE';
        return;
      }
      this.pendingEvents.push(ev);
      // Events of one task go to the worker in one message, registered now so calls keep their order.
      if (this.pendingEvents.length > 1) return;
      await this.engine.then((api) => {
        const batch = this.pendingEvents;
        this.pendingEvents = [];
        return api ? within(api.track(batch), 5000, null) : null;
      });
      this.scheduleIdle();
    } catch {
      // never into the page
    }
  }

  private scheduleIdle(): void {
    if (this.idlePending) return;
    this.idlePending = true;
    whenIdle(() => {
      this.idlePending = false;
      void this.engine?.then((api) => api?.idle()).catch(() => undefined);
    });
  }

  async optOut(): Promise<void> {
    try {
      this.optedOut = true;
      const api = this.engine ? await within(this.engine, 5000, null) : null;
      if (api) await within(api.setOptOut(true), 5000, null);
      // A worker that was still starting reported its stored choice meanwhile: this one is newer.
      this.optedOut = true;
    } catch {
      // never into the page
    }
  }

  async optIn(): Promise<void> {
    try {
      this.optedOut = this.gpcApplies();
      if (this.optedOut) return;
      this.boot();
      const api = await within(this.engine!, WORKER_START_TIMEOUT_MS, null);
      if (api) {
        await within(api.setOptOut(false), WORKER_START_TIMEOUT_MS, null);
        const st = parseWorkerStatus(await within(api.status(), STATUS_TIMEOUT_MS, null));
        if (st) this.noteStatus(st);
      }
    } catch {
      // never into the page
    }
  }

  async status(): Promise<FedrankStatus> {
    try {
      // A worker still starting (backend warm-up) is worth waiting for; a hung one is not.
      const api = this.engine ? await within(this.engine, STATUS_START_WAIT_MS, null) : null;
      if (api) {
        const st = parseWorkerStatus(await within(api.status(), STATUS_TIMEOUT_MS, null));
        if (st) this.noteStatus(st);
        else this.lastError ??= 'SDK_RANK_TIMEOUT';
      }
    } catch {
      // fall through to what we know
    }
    const s = this.last;
    return {
      version: VERSION,
      ready: !!s?.ready && !this.blocked(),
      backend: s?.backend ?? null,
      backendReason:
        s?.backendReason ?? (this.gpcApplies() ? 'not started: Global Privacy Control' : 'not started'),
      modelVersion: s?.modelVersion ?? null,
      modelId: s?.modelId ?? null,
      eventsStored: s?.eventsStored ?? 0,
      updatesSent: s?.updatesSent ?? 0,
      updatesPending: s?.updatesPending ?? 0,
      epsilonSpent: s?.epsilonSpent ?? 0,
      epsilonAgainst: 'server',
      epsilonBudget: s?.epsilonBudget ?? this.opts.epsilonCap,
      privacyDelta: s?.privacyDelta ?? 1e-5,
      budgetExhausted: s?.budgetExhausted ?? false,
      dp: s?.dp ?? (this.opts.dpOff ? 'off' : 'on'),
      optedOut: this.blocked(),
      gpc: this.gpc,
      storage: s?.storage ?? 'none',
      personalized: !!s?.personalized && !this.blocked(),
      globalWeight: s?.globalWeight ?? null,
      // The worker's code says more (server, storage) than the page's own (timeouts), when it has one.
      lastError: s?.lastError ?? this.lastError ?? null,
    };
  }

  async forget(): Promise<void> {
    try {
      this.pendingEvents = [];
      const api = this.engine ? await within(this.engine, 5000, null) : null;
      if (api) {
        await within(api.forget(), 10_000, null);
        const st = parseWorkerStatus(await within(api.status(), STATUS_TIMEOUT_MS, null));
        if (st) this.noteStatus(st);
      } else if (typeof indexedDB !== 'undefined') {
        // No worker this visit, but an earlier one may have stored data.
        await new Promise<void>((r) => {
          const req = indexedDB.deleteDatabase(DEVICE_DB_NAME);
          req.onsuccess = req.onerror = req.onblocked = () => r();
        });
      }
      this.lastError = null;
    } catch {
      // never into the page
    }
  }

  /** The worker API for tests and benchmarks (null without a worker). */
  async debug(): Promise<unknown> {
    const api = this.engine ? await within(this.engine, STATUS_START_WAIT_MS, null) : null;
    return api ? within(api.debug(), STATUS_START_WAIT_MS, null) : null;
  }

  /** The public API object: bound methods, each already wrapped. */
  api(): Fedrank & { debug(): Promise<unknown> } {
    return {
      rank: (items, o) => this.rank(items, o),
      track: (e) => this.track(e),
      optOut: () => this.optOut(),
      optIn: () => this.optIn(),
      status: () => this.status(),
      forget: () => this.forget(),
      debug: () => this.debug(),
    };
  }
}

/** Creates the SDK from code (ES import); options as on the script tag. */
export function createFedrank(options: FedrankOptions = {}): Fedrank {
  try {
    return new Sdk(resolveOptions(options, location.href)).api();
  } catch {
    return inertApi();
  }
}

/** An API that does nothing and keeps the original order: what a page gets if the SDK itself failed. */
export function inertApi(): Fedrank {
  return {
    rank: async (items) => (Array.isArray(items) ? items.slice() : []),
    track: async () => undefined,
    optOut: async () => undefined,
    optIn: async () => undefined,
    forget: async () => undefined,
    status: async () => ({
      version: VERSION,
      ready: false,
      backend: null,
      backendReason: 'SDK failed to start',
      modelVersion: null,
      modelId: null,
      eventsStored: 0,
      updatesSent: 0,
      updatesPending: 0,
      epsilonSpent: 0,
      epsilonAgainst: 'server',
      epsilonBudget: 0,
      privacyDelta: 1e-5,
      budgetExhausted: false,
      dp: 'on',
      optedOut: true,
      gpc: false,
      storage: 'none',
      personalized: false,
      globalWeight: null,
      lastError: 'SDK_WORKER_UNAVAILABLE',
    }),
  };
}

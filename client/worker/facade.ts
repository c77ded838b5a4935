/**
 * What the page may reach through the worker's port: the WorkerApi methods and nothing else. Comlink
 * exposes an object's every property (get, set, call), so the engine itself is never exposed: this
 * frozen object of forwarding functions is.
 */
import type { WorkerApi } from '../wire.ts';

/** A frozen, prototype-less object whose only members forward to `api`'s WorkerApi methods. */
export function workerFacade(api: WorkerApi): WorkerApi {
  const f: WorkerApi = Object.assign(Object.create(null) as object, {
    init: (cfg: Parameters<WorkerApi['init']>[0]) => api.init(cfg),
    rank: (items: Parameters<WorkerApi['rank']>[0], query: string) => api.rank(items, query),
    track: (events: Parameters<WorkerApi['track']>[0]) => api.track(events),
    idle: () => api.idle(),
    setOptOut: (optedOut: boolean) => api.setOptOut(optedOut),
    forget: () => api.forget(),
    status: () => api.status(),
    debug: () => api.debug(),
  } satisfies WorkerApi);
  return Object.freeze(f);
}

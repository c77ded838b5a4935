/**
 * Starting the learning worker and talking to it: comlink proxy, a start deadline, and the worker's
 * failure modes (blocked script, no Worker, crash) turned into "no worker" instead of errors.
 */
import * as Comlink from 'comlink';
import workerUrl from '../worker/worker.ts?worker&url';
import type { WorkerApi } from '../wire.ts';

/** Resolves to `fallback` when `p` does not settle within `ms` (or rejects). */
export function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(fallback), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      () => (clearTimeout(t), resolve(fallback)),
    );
  });
}

/** A started worker. */
export interface WorkerHandle {
  api: Comlink.Remote<WorkerApi>;
  /** Resolves when the worker dies (load failure, crash). */
  dead: Promise<void>;
  terminate(): void;
}

/** Starts the worker; null when workers are unavailable. The SDK treats a later failure via `dead`. */
export function startWorker(url?: string | null): WorkerHandle | null {
  if (typeof Worker === 'undefined') return null;
  const src = new URL(url ?? workerUrl, import.meta.url);
  let w: Worker;
  if (src.origin !== location.origin) {
    // Workers must be same-origin: a tiny blob worker imports the SDK's worker from its CDN instead.
    const blob = new Blob([`import ${JSON.stringify(src.href)};`], { type: 'text/javascript' });
    w = new Worker(URL.createObjectURL(blob), { type: 'module', name: 'fedrank' });
  } else {
    w = new Worker(src.href, { type: 'module', name: 'fedrank' });
  }
  let onDead: () => void = () => {};
  const dead = new Promise<void>((r) => (onDead = r));
  w.addEventListener('error', (e) => {
    e.preventDefault();
    onDead();
  });
  w.addEventListener('messageerror', () => onDead());
  return {
    api: Comlink.wrap<WorkerApi>(w),
    dead,
    terminate: () => {
      w.terminate();
      onDead();
    },
  };
}

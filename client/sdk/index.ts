/**
 * The SDK module (dist/client/sdk.js). As an ES import it exports createFedrank(); loaded by the script-tag
 * loader it finds the loader's queue on window.fedrank, replays the queued calls in order, and puts the
 * real methods in place on the same object (so references the page already holds keep working).
 */
import { Sdk, createFedrank, inertApi } from './api.ts';
import { resolveOptions } from './options.ts';

export { createFedrank, VERSION } from './api.ts';
export type * from '../types.ts';

type Method = 'rank' | 'track' | 'optOut' | 'optIn' | 'status' | 'forget';
interface LoaderStub {
  __q: [Method, unknown[], (v: unknown) => void][] | null;
  __c?: Record<string, string>;
  __b?: string;
  [k: string]: unknown;
}

function adoptLoaderQueue(): void {
  const stub = (window as unknown as { fedrank?: LoaderStub }).fedrank;
  if (!stub || !Array.isArray(stub.__q)) return;
  let api: Record<string, unknown>;
  try {
    api = new Sdk(resolveOptions(stub.__c ?? {}, stub.__b ?? location.href)).api() as unknown as Record<
      string,
      unknown
    >;
  } catch {
    api = inertApi() as unknown as Record<string, unknown>;
  }
  const queued = stub.__q.splice(0);
  stub.__q = null;
  Object.assign(stub, api);
  for (const [m, args, resolve] of queued) {
    try {
      const f = api[m] as (...a: unknown[]) => Promise<unknown>;
      f(...args).then(resolve, () => resolve(undefined));
    } catch {
      resolve(undefined);
    }
  }
}

try {
  if (typeof window !== 'undefined') adoptLoaderQueue();
} catch {
  // never into the page
}
void createFedrank;

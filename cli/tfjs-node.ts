import { register } from 'node:module';

let registered = false;

/**
 * Lets plain Node load tfjs-core's ESM build: its files (and the deep import of register_all_gradients)
 * use extensionless relative specifiers that Node's resolver refuses. Idempotent; Vitest does not need it.
 */
export function registerTfjsResolveHook(): void {
  if (registered) return;
  register('./tfjs-resolve-hook.mjs', import.meta.url);
  registered = true;
}

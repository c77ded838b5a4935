/**
 * Picks the tfjs backend for offline evaluation in Node without native downloads. WASM (SIMD, XNNPACK) is
 * about 5x faster than the pure-JS CPU backend here for training steps and 25x for the full-ranking matrix
 * product (measured on this project's 2-core machine), so it is the default; CPU is the fallback.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/** A backend the evaluation can run on. */
export type EvalBackend = 'wasm' | 'cpu';

/** Activates `wanted` (falling back to CPU when WASM cannot start); returns the backend in use. */
export async function useBackend(wanted: EvalBackend = 'wasm'): Promise<EvalBackend> {
  if (tf.getBackend() === wanted) return wanted;
  if (wanted === 'wasm') {
    const req = createRequire(import.meta.url);
    const dist = path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    setWasmPaths(dist + path.sep);
    try {
      if (await tf.setBackend('wasm')) {
        await tf.ready();
        return 'wasm';
      }
    } catch {
      // fall through to CPU
    }
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return 'cpu';
}

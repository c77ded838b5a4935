/**
 * tfjs backend choice. Candidates in order WebGPU, WebGL, WASM, CPU; each available one runs a short
 * warm-up train+score step and the fastest is kept, because a software WebGPU adapter (SwiftShader,
 * isFallbackAdapter) can be far slower than WASM. The choice is cached with an environment fingerprint.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm/dist/base';
import './kernels.ts';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import { encodeItem } from '../../shared/model/features.ts';
import { Ranker } from '../../shared/model/ranker.ts';
import type { ModelSpec } from '../../shared/model/spec.ts';
import type { BackendName } from '../types.ts';
import { BACKENDS } from '../wire.ts';
import type { BackendChoice } from '../../shared/device/records.ts';

// The threaded WASM build hangs in a minified module worker; the SIMD build is fast enough.
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
// The threaded entry is required by setWasmPaths but never fetched with multithreading off.
setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmUrl,
  'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmSimdUrl,
});
// Let software WebGL (SwiftShader) compete: the warm-up measurement, not a blanket refusal, decides.
tf.env().set('SOFTWARE_WEBGL_ENABLED', true);
tf.enableProdMode();

interface GpuAdapterInfo {
  vendor?: string;
  architecture?: string;
  isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(): Promise<{ info?: GpuAdapterInfo } | null>;
}

/** What the environment offers, probed without initializing any tfjs backend. */
export interface Environment {
  webgpu: GpuAdapterInfo | null;
  webgl2: boolean;
  /** WebGL runs on a software rasterizer (SwiftShader, llvmpipe): compiling its shaders alone takes seconds. */
  softwareGl: boolean;
  fingerprint: string;
}

export async function probeEnvironment(): Promise<Environment> {
  let webgpu: GpuAdapterInfo | null = null;
  try {
    const gpu = (navigator as unknown as { gpu?: GpuLike }).gpu;
    const adapter = gpu ? await gpu.requestAdapter() : null;
    if (adapter) {
      const i = adapter.info ?? {};
      webgpu = {
        vendor: i.vendor ?? '',
        architecture: i.architecture ?? '',
        isFallbackAdapter: !!i.isFallbackAdapter,
      };
    }
  } catch {
    webgpu = null;
  }
  let webgl2 = false;
  let glRenderer = '';
  try {
    const gl = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(1, 1).getContext('webgl2') : null;
    if (gl) {
      webgl2 = true;
      const ext = gl.getExtension('WEBGL_debug_renderer_info');
      glRenderer = String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER) ?? '');
      gl.getExtension('WEBGL_lose_context')?.loseContext();
    }
  } catch {
    webgl2 = false;
  }
  const softwareGl = SOFTWARE_GL.test(glRenderer);
  const gpuPart = webgpu
    ? `${webgpu.vendor}/${webgpu.architecture}/${webgpu.isFallbackAdapter ? 'sw' : 'hw'}`
    : 'none';
  const fingerprint = [
    navigator.userAgent,
    navigator.hardwareConcurrency,
    gpuPart,
    glRenderer || webgl2,
    tf.version_core,
  ].join('|');
  return { webgpu, webgl2, softwareGl, fingerprint };
}

const SOFTWARE_GL = /swiftshader|llvmpipe|softpipe|software/i;

function candidates(env: Environment): BackendName[] {
  return BACKENDS.filter((b) =>
    b === 'webgpu' ? env.webgpu !== null : b === 'webgl' ? env.webgl2 && !env.softwareGl : true,
  );
}

async function activate(name: BackendName): Promise<boolean> {
  try {
    return (await tf.setBackend(name)) && tf.getBackend() === name;
  } catch {
    return false;
  }
}

/**
 * Milliseconds of one train+score step on the active backend (after one untimed compile step), with the
 * asynchronous read-backs the worker uses.
 */
async function warmupStep(spec: ModelSpec, params: Float32Array): Promise<number> {
  const ranker = new Ranker(spec, params);
  try {
    const items = Array.from({ length: 64 }, (_, i) =>
      encodeItem(spec, { id: `w${i}`, category: `c${i % 5}`, brand: `b${i % 7}`, price: 5 + i }),
    );
    const history = items.slice(0, 4);
    const batch = [0, 1, 2, 3].map((k) => ({
      context: { history: history.slice(0, k) },
      positive: items[10 + k]!,
      negatives: items.slice(20 + 8 * k, 28 + 8 * k),
    }));
    const step = async (): Promise<void> => {
      await ranker.trainAsync(batch, { learningRate: 0 });
      await ranker.scoreAsync({ history }, items);
    };
    await step();
    const t0 = performance.now();
    await step();
    return performance.now() - t0;
  } finally {
    ranker.dispose();
  }
}

/** The backend in use and why. */
export interface BackendResult {
  backend: BackendName;
  reason: string;
  /** A choice worth caching (measured), or null when it must not be reused. */
  choice: BackendChoice | null;
  /** The environment fingerprint the choice belongs to. */
  fingerprint: string;
}

/**
 * Activates a backend: the forced one if it works; else the cached choice for this fingerprint; else the
 * fastest measured candidate. CPU is the last resort and always works.
 */
export async function chooseBackend(
  spec: ModelSpec,
  params: Float32Array,
  forced: BackendName | null,
  cached: BackendChoice | undefined,
): Promise<BackendResult> {
  const env = await probeEnvironment();
  const gpuNote =
    (env.webgpu
      ? `webgpu adapter ${env.webgpu.vendor}/${env.webgpu.architecture}${env.webgpu.isFallbackAdapter ? ' (fallback adapter)' : ''}`
      : 'no webgpu adapter') +
    (env.softwareGl ? '; webgl not measured: software renderer' : env.webgl2 ? '' : '; no webgl2');
  if (forced) {
    if (await activate(forced))
      return {
        backend: forced,
        reason: `forced by option; ${gpuNote}`,
        choice: null,
        fingerprint: env.fingerprint,
      };
  }
  if (cached && cached.fingerprint === env.fingerprint && (await activate(cached.backend))) {
    return {
      backend: cached.backend,
      reason: `cached: ${cached.reason}`,
      choice: null,
      fingerprint: env.fingerprint,
    };
  }
  const timings: string[] = [];
  let best: { name: BackendName; ms: number } | null = null;
  for (const name of candidates(env)) {
    if (!(await activate(name))) {
      timings.push(`${name} failed to start`);
      continue;
    }
    try {
      const ms = await warmupStep(spec, params);
      timings.push(`${name} ${ms.toFixed(1)}ms`);
      if (!best || ms < best.ms) best = { name, ms };
    } catch {
      timings.push(`${name} failed warm-up`);
    }
  }
  const pick = best?.name ?? 'cpu';
  if (!(await activate(pick))) await activate('cpu');
  const backend = tf.getBackend() as BackendName;
  const reason = `${forced ? `forced ${forced} unavailable; ` : ''}measured ${timings.join(', ')}; fastest ${backend}; ${gpuNote}`;
  // Free the GPU losers' resources (GL contexts, GPU devices); WASM and CPU stay as runtime fallbacks.
  for (const name of candidates(env)) {
    if (name !== backend && (name === 'webgpu' || name === 'webgl')) {
      try {
        tf.removeBackend(name);
      } catch {
        // already gone
      }
    }
  }
  return {
    backend,
    reason,
    choice: { fingerprint: env.fingerprint, backend, reason },
    fingerprint: env.fingerprint,
  };
}

/**
 * After a backend failed at runtime (e.g. a lost WebGPU device): the next one down the list that starts
 * (WASM, then CPU). Returns the backend now active.
 */
export async function demoteBackend(failed: BackendName): Promise<BackendName> {
  const order: BackendName[] = failed === 'wasm' ? ['cpu'] : ['wasm', 'cpu'];
  for (const name of order) if (await activate(name)) return name;
  return tf.getBackend() as BackendName;
}

/** The backend tfjs reports right now. */
export function currentBackend(): string | null {
  try {
    return tf.getBackend() ?? null;
  } catch {
    return null;
  }
}

/** Live tensors (tests check they return to baseline). */
export function numTensors(): number {
  return tf.memory().numTensors;
}

/**
 * The four tfjs backends without their "register every kernel" side effect, plus only the kernels the
 * ranker uses (forward, gradients, SGD/Adam updates; found by profiling Ranker and trainLocal on every code
 * path, plus a few the engine and gradients use internally). This keeps the worker chunk near 200 KB gzip.
 * A kernel missing here fails the warm-up step of that backend, which then loses the backend choice.
 */
import { registerKernel } from '@tensorflow/tfjs-core';
import type { KernelConfig } from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu/dist/base';
import '@tensorflow/tfjs-backend-webgl/dist/base';
import '@tensorflow/tfjs-backend-webgpu/dist/base';
import '@tensorflow/tfjs-backend-wasm/dist/base';

const modules = import.meta.glob(
  '/node_modules/@tensorflow/tfjs-backend-{cpu,webgl,webgpu,wasm}/dist/kernels/{Add,AddN,BatchMatMul,Cast,Concat,Exp,ExpandDims,Fill,GatherV2,Identity,Log,Max,Maximum,Mean,Multiply,Neg,OnesLike,Pack,PadV2,RealDiv,Reshape,ScatterNd,Slice,Softmax,SplitV,Sqrt,Square,Sub,Sum,Tile,Transpose,UnsortedSegmentSum,ZerosLike}.js',
  { eager: true },
);

function isKernelConfig(x: unknown): x is KernelConfig {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as KernelConfig).kernelName === 'string' &&
    typeof (x as KernelConfig).backendName === 'string' &&
    typeof (x as KernelConfig).kernelFunc === 'function'
  );
}

let registered = 0;
for (const mod of Object.values(modules)) {
  for (const v of Object.values(mod as Record<string, unknown>)) {
    if (isKernelConfig(v)) {
      registerKernel(v);
      registered++;
    }
  }
}

/** Kernels registered across all backends (a build that found none is broken). */
export const KERNELS_REGISTERED = registered;

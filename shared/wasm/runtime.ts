/**
 * Compiling and instantiating fedrank's WebAssembly kernels (asm.ts) where the engine allows it. Each
 * kernel has a JavaScript twin that gives the same results; where WebAssembly is missing, lacks SIMD, or a
 * page's Content-Security-Policy forbids compiling it (no 'wasm-unsafe-eval'), `compileKernel` returns
 * null and callers run the twin.
 */

// The WebAssembly API as far as used here: shared/ compiles without DOM or Node types.
/** A WebAssembly.Memory. */
export interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Memory: new (d: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}

/** Bytes per WebAssembly page. */
export const PAGE = 65536;

/** A compiled kernel: instantiate it over a memory of its own. */
export interface Kernel {
  /** A fresh instance over a fresh memory of at least `bytes` bytes; its exports by name. */
  instantiate(bytes: number): { memory: WasmMemory; exports: Record<string, unknown> };
}

/** Compiles `bytes` once, or returns null where this engine cannot run it. */
export function compileKernel(bytes: Uint8Array): Kernel | null {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  let module: object;
  try {
    if (!wasm || !wasm.validate(bytes)) return null;
    module = new wasm.Module(bytes);
  } catch {
    // A CSP without 'wasm-unsafe-eval' throws at compile time.
    return null;
  }
  return {
    instantiate(size) {
      const memory = new wasm.Memory({ initial: Math.max(1, Math.ceil(size / PAGE)) });
      return { memory, exports: new wasm.Instance(module, { m: { mem: memory } }).exports };
    },
  };
}

/** Grows `memory` to at least `bytes` bytes (its old views detach: make views after this). */
export function ensureBytes(memory: WasmMemory, bytes: number): void {
  const need = Math.ceil(bytes / PAGE) - memory.buffer.byteLength / PAGE;
  if (need > 0) memory.grow(need);
}

/**
 * A lazily compiled kernel (null where it cannot run) and a small pool of its instances: a page runs one
 * client at a time, the simulated cohort many, and concurrent callers never share a memory.
 */
export class KernelPool<T> {
  private kernel: Kernel | null | undefined;
  private readonly idle: T[] = [];

  constructor(
    private readonly bytes: () => Uint8Array,
    private readonly make: (k: Kernel) => T,
    private readonly maxIdle = 4,
  ) {}

  /** An instance for the caller's sole use until `release`, or null where WebAssembly cannot serve. */
  acquire(): T | null {
    if (this.kernel === undefined) this.kernel = compileKernel(this.bytes());
    if (!this.kernel) return null;
    return this.idle.pop() ?? this.make(this.kernel);
  }

  /** Returns an instance for reuse (the caller has wiped what it must not keep). */
  release(x: T): void {
    if (this.idle.length < this.maxIdle) this.idle.push(x);
  }
}

/**
 * Z_{2^16} mask accumulation with WebAssembly SIMD (i16x8.add / i16x8.sub: eight 16-bit lanes per
 * instruction, wrapping mod 2^16 as the ring does). A client's masked input adds k + 1 keystreams of d
 * elements; the JS lane loop (lanes16.ts) took 8-13 ms of a round for them at the default model and k, this
 * 2-3 ms including the copy of each keystream into WebAssembly memory (and far less in a page's first
 * round, where the JS loop still runs unoptimized). Where WebAssembly SIMD cannot run `lanes16Simd`
 * returns null and callers keep the JS loop; integer adds are exact, so both give the same bytes.
 */
import { get, I32, i32c, memarg, op, set, simd, VOID, wasmModule, type WasmFunction } from '../wasm/asm.ts';
import { ensureBytes, type Kernel, KernelPool, type WasmMemory } from '../wasm/runtime.ts';

const V128_LOAD = simd(0x00);
const V128_STORE = simd(0x0b);
const I16X8_ADD = simd(142);
const I16X8_SUB = simd(145);

/** name(acc, m, bytes): acc = acc op m over `bytes` bytes (a multiple of 16), 16 bytes a step. */
function laneLoop(name: string, lanes: number[]): WasmFunction {
  const [acc, m, bytes, i] = [0, 1, 2, 3];
  return {
    name,
    params: [I32, I32, I32],
    results: [],
    locals: [I32],
    body: [
      ...[op.block, VOID, op.loop, VOID],
      ...[...get(i), ...get(bytes), op.i32GeU, op.brIf, 1],
      ...[...get(acc), ...get(i), op.i32Add], // the store's address
      ...[...get(acc), ...get(i), op.i32Add, ...V128_LOAD, ...memarg(4)],
      ...[...get(m), ...get(i), op.i32Add, ...V128_LOAD, ...memarg(4)],
      ...lanes,
      ...[...V128_STORE, ...memarg(4)],
      ...[...get(i), ...i32c(16), op.i32Add, ...set(i)],
      ...[op.br, 0, op.end, op.end],
    ],
  };
}

type LaneFn = (acc: number, m: number, bytes: number) => void;
interface Engine {
  memory: WasmMemory;
  add: LaneFn;
  sub: LaneFn;
}

const pool = new KernelPool<Engine>(
  () => wasmModule([laneLoop('add16', I16X8_ADD), laneLoop('sub16', I16X8_SUB)]),
  (k: Kernel) => {
    const { memory, exports } = k.instantiate(0);
    return { memory, add: exports.add16 as LaneFn, sub: exports.sub16 as LaneFn };
  },
);

/** An accumulator in WebAssembly memory for one vector of Z_{2^16}. */
export interface SimdLanes16 {
  /** Copies `v` in as the accumulator's value. */
  load(v: Uint16Array): void;
  /** acc += m (sign 1) or acc -= m (sign -1), mod 2^16. */
  apply(m: Uint16Array, sign: 1 | -1): void;
  /** Copies the accumulator out into `v`, zeroes the memory used and gives it back; call it once. */
  storeAndWipe(v: Uint16Array): void;
}

/**
 * An accumulator for `length` elements in a WebAssembly memory of its own until storeAndWipe (concurrent
 * callers, such as the simulated cohort's clients, never share one), or null where WebAssembly SIMD is
 * unavailable. Memories are reused across calls and grown on demand: 4 bytes per element.
 */
export function lanes16Simd(length: number): SimdLanes16 | null {
  if (length === 0) return null;
  const e = pool.acquire();
  if (!e) return null;
  const padded = Math.ceil((2 * length) / 16) * 16; // whole v128 steps; the tail lanes are never read
  ensureBytes(e.memory, 2 * padded);
  const acc = new Uint16Array(e.memory.buffer, 0, length);
  const scratch = new Uint16Array(e.memory.buffer, padded, length);
  let done = false;
  return {
    load: (v) => acc.set(v),
    apply(m, sign) {
      if (m.length !== length)
        throw new RangeError(`ring vectors differ in length: ${length} vs ${m.length}`);
      scratch.set(m);
      (sign === 1 ? e.add : e.sub)(0, padded, padded);
    },
    storeAndWipe(v) {
      if (done) return;
      done = true;
      v.set(acc);
      new Uint8Array(e.memory.buffer, 0, 2 * padded).fill(0);
      pool.release(e);
    },
  };
}

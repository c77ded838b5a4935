/**
 * A minimal WebAssembly binary writer for the few numeric kernels fedrank runs in WebAssembly (mask lanes,
 * the encoding's rotation and rounding): their bytes are assembled here at run time, so the repository
 * carries no toolchain and no opaque .wasm file, and every instruction is readable TypeScript. Only what
 * the kernels use: one imported memory, functions with exports, the core and SIMD opcodes listed below.
 */

/** Value types. */
export const I32 = 0x7f;
export const I64 = 0x7e;
export const F64 = 0x7c;
export const V128 = 0x7b;

/** Opcodes (WebAssembly core 2.0; `simd` ones take the 0xfd prefix and a LEB128 index). */
export const op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  return: 0x0f,
  drop: 0x1a,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Load: 0x28,
  i64Load: 0x29,
  f32Load: 0x2a,
  f64Load: 0x2b,
  i32Load8S: 0x2c,
  i32Store: 0x36,
  i32Store8: 0x3a,
  f64Store: 0x39,
  i32Const: 0x41,
  i64Const: 0x42,
  f64Const: 0x44,
  i32Eqz: 0x45,
  i32Eq: 0x46,
  i32Ne: 0x47,
  i32LtS: 0x48,
  i32LtU: 0x49,
  i32GtU: 0x4b,
  i32LeU: 0x4d,
  i32GeU: 0x4f,
  i64LtU: 0x54,
  i64GeU: 0x5a,
  f64Eq: 0x61,
  f64Ne: 0x62,
  f64Lt: 0x63,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32And: 0x71,
  i32Or: 0x72,
  i32Shl: 0x74,
  i32ShrU: 0x76,
  i64Add: 0x7c,
  i64Mul: 0x7e,
  i64RemU: 0x82,
  i64And: 0x83,
  i64ShrU: 0x88,
  f64Floor: 0x9c,
  f64Add: 0xa0,
  f64Sub: 0xa1,
  f64Mul: 0xa2,
  f64Div: 0xa3,
  i32WrapI64: 0xa7,
  i32TruncF64S: 0xaa,
  i64ExtendI32U: 0xad,
  f64ConvertI32S: 0xb7,
  f64ConvertI32U: 0xb8,
  f64PromoteF32: 0xbb,
} as const;

/** Empty block type (a block, loop or if that leaves nothing on the stack). */
export const VOID = 0x40;

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** Signed LEB128 of an integer (|n| < 2^53). */
export function sleb(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

/** i32.trunc_sat_f64_s: f64 to i32 without trapping (saturating). */
export const I32_TRUNC_SAT_F64_S = [0xfc, 0x02];

/** A SIMD instruction: 0xfd prefix and its LEB128 index. */
export const simd = (index: number): number[] => [0xfd, ...uleb(index)];

/** A memory access's immediate: log2 of the alignment, then the offset. */
export const memarg = (alignLog2: number, offset = 0): number[] => [alignLog2, ...uleb(offset)];

/** i32.const n. */
export const i32c = (n: number): number[] => [op.i32Const, ...sleb(n | 0)];
/** i64.const n. */
export const i64c = (n: number | bigint): number[] => [op.i64Const, ...sleb(n)];
/** f64.const x (little-endian IEEE 754 bytes). */
export function f64c(x: number): number[] {
  const b = new Uint8Array(new Float64Array([x]).buffer);
  return [op.f64Const, ...b];
}
/** local.get i. */
export const get = (i: number): number[] => [op.localGet, ...uleb(i)];
/** local.set i. */
export const set = (i: number): number[] => [op.localSet, ...uleb(i)];
/** local.tee i. */
export const tee = (i: number): number[] => [op.localTee, ...uleb(i)];

/**
 * Instructions as nested arrays, flattened once when the module is written: kernels compose their code
 * from small pieces, and copying every piece into its parent (spreads) cost 10-27 ms of a page's first
 * round before V8 had optimized anything; nesting costs nothing.
 */
export type Code = (number | Code)[];

const flat = (c: Code): number[] => c.flat(Infinity as 1) as number[];

/** One exported function: its signature, extra locals (by type) and body (without the final `end`). */
export interface WasmFunction {
  name: string;
  params: number[];
  results: number[];
  locals: Code;
  body: Code;
}

const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

/** Local declarations, runs of equal types merged. */
function localDecls(types: number[]): number[] {
  const runs: number[][] = [];
  for (const t of types) {
    const last = runs[runs.length - 1];
    if (last && last[1] === t) last[0]!++;
    else runs.push([1, t]);
  }
  return vec(runs.map(([count, t]) => [...uleb(count!), t!]));
}

/** A module that imports its memory as "m"."mem" (at least one page) and exports `funcs` by name. */
export function wasmModule(funcs: WasmFunction[]): Uint8Array {
  const types = funcs.map((f) => [0x60, ...vec(f.params.map((p) => [p])), ...vec(f.results.map((r) => [r]))]);
  const bodies = funcs.map((f) => {
    const code = [...localDecls(flat(f.locals)), ...flat(f.body), op.end];
    return [...uleb(code.length), ...code];
  });
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, vec(types)),
    ...section(2, vec([[...name('m'), ...name('mem'), 0x02, 0x00, 1]])), // memory, min 1 page, no max
    ...section(3, vec(funcs.map((_, i) => uleb(i)))),
    ...section(7, vec(funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]))),
    ...section(10, vec(bodies)),
  ]);
}

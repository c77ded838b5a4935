/**
 * The encoding's hot loops as one WebAssembly module (assembled by shared/wasm/asm.ts): the rotation's
 * gather and Walsh-Hadamard transform, the conditional randomized rounding, the discrete Gaussian table
 * draws, the rotation's Fisher-Yates shuffle and signs, and the update's squared norm. Each does, operation for operation, what its JavaScript
 * twin does (rotation.ts, encode.ts, discrete-gaussian.ts): the same IEEE-754 double adds and multiplies in
 * the same order, the same unsigned comparisons, the same words of the random stream in the same order, so
 * both give the same bits (kernels.test.ts, and the pinned hashes of masked-input.test.ts). Why: in a page
 * that joins one round, these loops ran mostly unoptimized (V8 compiles a loop only after it has run a
 * while), ~150 ms of CPU in a fresh process's first round; WebAssembly runs compiled from the first call.
 *
 * Calling convention: pointers and counts are byte addresses and element counts in the module's memory.
 * `round` and `noise` read random words from [wp, wend) and keep their progress in a state block at
 * address 0 (j: i32 at 0, wp: i32 at 4, sq: f64 at 8); they return 0 when fewer than 3 words are left
 * (the caller refills and calls again) and 1 when done.
 */
import {
  F64,
  f64c,
  get,
  I32,
  I32_TRUNC_SAT_F64_S,
  i32c,
  I64,
  i64c,
  memarg,
  op,
  set,
  simd,
  V128,
  VOID,
  wasmModule,
  type Code,
  type WasmFunction,
} from '../wasm/asm.ts';

const whileLoop = (cond: Code, body: Code): Code => [
  [op.block, VOID, op.loop, VOID],
  [cond, op.i32Eqz, op.brIf, 1],
  body,
  [op.br, 0, op.end, op.end],
];
const ifElse = (cond: Code, then: Code, otherwise: Code = []): Code => [
  cond,
  op.if,
  VOID,
  then,
  otherwise.length ? [op.else, otherwise] : [],
  op.end,
];
const ldI32 = (addr: Code, offset = 0): Code => [addr, op.i32Load, memarg(2, offset)];
const stI32 = (addr: Code, v: Code, offset = 0): Code => [addr, v, op.i32Store, memarg(2, offset)];
const ldF64 = (addr: Code, offset = 0): Code => [addr, op.f64Load, memarg(3, offset)];
const stF64 = (addr: Code, v: Code, offset = 0): Code => [addr, v, op.f64Store, memarg(3, offset)];
const addI = (a: Code, b: Code): Code => [a, b, op.i32Add];
const shl = (a: Code, k: number): Code => [a, i32c(k), op.i32Shl];
const inc = (local: number, by: number): Code => [get(local), i32c(by), op.i32Add, set(local)];
const u2f = (a: Code): Code => [a, op.f64ConvertI32U];

const V128_LOAD = simd(0x00);
const V128_STORE = simd(0x0b);
const F64X2_ADD = simd(240);
const F64X2_SUB = simd(241);

/**
 * gatherFwht(delta, perm, signs, off, n, s, z): z[j] = (signs[off + j] * s) * delta[perm[off + j]] for j < n
 * (delta float32, perm u32, signs i8), then the in-place unnormalized Walsh-Hadamard transform of z[0, n)
 * as rotation.ts's fwht: radix-4 passes, then one radix-2 pass when log2 n is odd.
 */
function gatherFwht(): WasmFunction {
  const [delta, perm, signs, off, n, s, z] = [0, 1, 2, 3, 4, 5, 6];
  const [i, p, end, hb, h2, h3, base, nb] = [7, 8, 9, 10, 11, 12, 13, 14];
  const [a, b, c, e, s0, d0, s1, d1] = [15, 16, 17, 18, 19, 20, 21, 22]; // f64
  const [va, vb, vc, ve, vs0, vd0, vs1, vd1] = [23, 24, 25, 26, 27, 28, 29, 30]; // v128
  const gather = [
    [get(off), set(i), get(z), set(p)],
    addI(get(z), shl(get(n), 3)),
    set(end),
    whileLoop(
      [get(p), get(end), op.i32LtU],
      [
        stF64(get(p), [
          [addI(get(signs), get(i)), op.i32Load8S, memarg(0), op.f64ConvertI32S],
          [get(s), op.f64Mul],
          [addI(get(delta), shl(ldI32(addI(get(perm), shl(get(i), 2))), 2)), op.f32Load, memarg(2)],
          [op.f64PromoteF32, op.f64Mul],
        ]),
        inc(i, 1),
        inc(p, 8),
      ],
    ),
  ];
  // One radix-4 butterfly at p (quarter hb bytes apart), scalar f64 or two lanes of f64x2.
  const butterfly = (vec: boolean): Code => {
    const [A, B, C, E, S0, D0, S1, D1] = vec
      ? [va, vb, vc, ve, vs0, vd0, vs1, vd1]
      : [a, b, c, e, s0, d0, s1, d1];
    const ld = (o: Code): Code => (vec ? [o, V128_LOAD, memarg(3)] : ldF64(o));
    const st = (o: Code, v: Code): Code => (vec ? [o, v, V128_STORE, memarg(3)] : stF64(o, v));
    const [add, sub] = vec ? [F64X2_ADD, F64X2_SUB] : [[op.f64Add], [op.f64Sub]];
    const bin = (x: number, y: number, f: Code): Code => [get(x), get(y), f];
    return [
      ld(get(p)),
      set(A),
      ld(addI(get(p), get(hb))),
      set(B),
      ld(addI(get(p), get(h2))),
      set(C),
      ld(addI(get(p), get(h3))),
      set(E),
      [bin(A, B, add), set(S0), bin(A, B, sub), set(D0)],
      [bin(C, E, add), set(S1), bin(C, E, sub), set(D1)],
      st(get(p), bin(S0, S1, add)),
      st(addI(get(p), get(hb)), bin(D0, D1, add)),
      st(addI(get(p), get(h2)), bin(S0, S1, sub)),
      st(addI(get(p), get(h3)), bin(D0, D1, sub)),
    ];
  };
  const stage4 = (vec: boolean): Code =>
    whileLoop(
      [get(base), get(end), op.i32LtU],
      [
        [get(base), set(p)],
        whileLoop([get(p), addI(get(base), get(hb)), op.i32LtU], [butterfly(vec), inc(p, vec ? 16 : 8)]),
        [get(base), shl(get(hb), 2), op.i32Add, set(base)],
      ],
    );
  // The last radix-2 pass: a = z[j], b = z[j + h]; z[j] = a + b, z[j + h] = a - b.
  const stage2 = (vec: boolean): Code => {
    const [A, B] = vec ? [va, vb] : [a, b];
    const ld = (o: Code): Code => (vec ? [o, V128_LOAD, memarg(3)] : ldF64(o));
    const st = (o: Code, v: Code): Code => (vec ? [o, v, V128_STORE, memarg(3)] : stF64(o, v));
    const [add, sub] = vec ? [F64X2_ADD, F64X2_SUB] : [[op.f64Add], [op.f64Sub]];
    return [
      [get(z), set(p)],
      whileLoop(
        [get(p), addI(get(z), get(hb)), op.i32LtU],
        [
          [ld(get(p)), set(A), ld(addI(get(p), get(hb))), set(B)],
          st(get(p), [get(A), get(B), add]),
          st(addI(get(p), get(hb)), [get(A), get(B), sub]),
          inc(p, vec ? 16 : 8),
        ],
      ),
    ];
  };
  const fwht = [
    [shl(get(n), 3), set(nb), i32c(8), set(hb)],
    whileLoop(
      [shl(get(hb), 2), get(nb), op.i32LeU],
      [
        [shl(get(hb), 1), set(h2), get(hb), get(h2), op.i32Add, set(h3)],
        [get(z), set(base)],
        // Quarters of one f64 (h = 1) are scalar; from h = 2 on, neighbouring j pair up in f64x2 lanes.
        ifElse([get(hb), i32c(8), op.i32Eq], stage4(false), stage4(true)),
        [shl(get(hb), 2), set(hb)],
      ],
    ),
    ifElse([get(hb), get(nb), op.i32LtU], ifElse([get(hb), i32c(8), op.i32Eq], stage2(false), stage2(true))),
  ];
  return {
    name: 'gatherFwht',
    params: [I32, I32, I32, I32, I32, F64, I32],
    results: [],
    locals: [Array(8).fill(I32), Array(8).fill(F64), Array(8).fill(V128)],
    body: [gather, fwht],
  };
}

const TWO_POW_32 = 2 ** 32;

/**
 * round(z, n, out, wend): encode.ts's conditional randomized rounding of z[j] for j from the state's j to n:
 * v = floor(x) + 1 with probability x - floor(x) (one word, two more when the word ties: roundUp), stored
 * in out[j] (i32), v^2 added to the state's sq.
 */
function round(): WasmFunction {
  const [z, n, out, wend] = [0, 1, 2, 3];
  const [j, wp, up, w] = [4, 5, 6, 7];
  const [sq, x, f, t, v] = [8, 9, 10, 11, 12]; // f64
  const saveState = [stI32(i32c(0), get(j)), stI32(i32c(0), get(wp), 4), stF64(i32c(0), get(sq), 8)];
  return {
    name: 'round',
    params: [I32, I32, I32, I32],
    results: [I32],
    locals: [I32, I32, I32, I32, F64, F64, F64, F64, F64],
    body: [
      [ldI32(i32c(0)), set(j), ldI32(i32c(0), 4), set(wp), ldF64(i32c(0), 8), set(sq)],
      whileLoop(
        [get(j), get(n), op.i32LtU],
        [
          ifElse([get(wp), i32c(12), op.i32Add, get(wend), op.i32GtU], [saveState, i32c(0), op.return]),
          [ldF64(addI(get(z), shl(get(j), 3))), set(x)],
          [get(x), op.f64Floor, set(f)],
          [get(x), get(f), op.f64Sub, f64c(TWO_POW_32), op.f64Mul, set(t)],
          [ldI32(get(wp)), set(w), inc(wp, 4)],
          ifElse(
            [u2f(get(w)), get(t), op.f64Floor, op.f64Ne],
            [u2f(get(w)), get(t), op.f64Lt, set(up)],
            [
              // The tie: a 53-bit uniform from the next two words, compared with t - w (RandomWords.uniform).
              u2f([ldI32(get(wp)), i32c(0x1fffff), op.i32And]),
              [f64c(TWO_POW_32), op.f64Mul, u2f(ldI32(get(wp), 4)), op.f64Add],
              [f64c(2 ** 53), op.f64Div],
              [get(t), u2f(get(w)), op.f64Sub, op.f64Lt, set(up)],
              inc(wp, 8),
            ],
          ),
          [get(f), f64c(1), op.f64Add, get(f), get(up), op.select, set(v)],
          stI32(addI(get(out), shl(get(j), 2)), [get(v), I32_TRUNC_SAT_F64_S]),
          [get(sq), get(v), get(v), op.f64Mul, op.f64Add, set(sq)],
          inc(j, 1),
        ],
      ),
      saveState,
      i32c(1),
    ],
  };
}

/**
 * noise(out, n, hi, mid, lo, guide, m, shift, tn, wend): out[j] += one draw of the discrete Gaussian table
 * (sampleFromTable: guide, binary search on the high words, the two further words on a tie), for j from
 * the state's j to n.
 */
function noise(): WasmFunction {
  const [out, n, hi, mid, lo, guide, m, shift, tn, wend] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [j, wp, w0, g, i, end, h, w1, w2] = [10, 11, 12, 13, 14, 15, 16, 17, 18];
  const saveState = [stI32(i32c(0), get(j)), stI32(i32c(0), get(wp), 4)];
  const at = (arr: number, idx: number): Code => ldI32(addI(get(arr), shl(get(idx), 2)));
  return {
    name: 'noise',
    params: Array(10).fill(I32),
    results: [I32],
    locals: Array(9).fill(I32),
    body: [
      [ldI32(i32c(0)), set(j), ldI32(i32c(0), 4), set(wp)],
      whileLoop(
        [get(j), get(n), op.i32LtU],
        [
          ifElse([get(wp), i32c(12), op.i32Add, get(wend), op.i32GtU], [saveState, i32c(0), op.return]),
          [ldI32(get(wp)), set(w0), inc(wp, 4)],
          [get(w0), get(shift), op.i32ShrU, set(g)],
          [at(guide, g), set(i), ldI32(addI(get(guide), shl(get(g), 2)), 4), set(end)],
          whileLoop(
            [get(i), get(end), op.i32LtU],
            [
              [get(i), get(end), op.i32Add, i32c(1), op.i32ShrU, set(h)],
              ifElse(
                [at(hi, h), get(w0), op.i32LtU],
                [get(h), i32c(1), op.i32Add, set(i)],
                [get(h), set(end)],
              ),
            ],
          ),
          // hi[m] is still inside the module's memory (the next table follows), so the conditions can be
          // evaluated together: i < m decides first whatever hi[m] holds.
          ifElse(
            [get(i), get(m), op.i32LtU, at(hi, i), get(w0), op.i32Eq, op.i32And],
            [
              [ldI32(get(wp)), set(w1), ldI32(get(wp), 4), set(w2), inc(wp, 8)],
              whileLoop(
                [
                  [get(i), get(m), op.i32LtU, at(hi, i), get(w0), op.i32Eq, op.i32And],
                  [at(mid, i), get(w1), op.i32LtU],
                  [at(mid, i), get(w1), op.i32Eq, at(lo, i), get(w2), op.i32LeU, op.i32And],
                  [op.i32Or, op.i32And],
                ],
                inc(i, 1),
              ),
            ],
          ),
          stI32(addI(get(out), shl(get(j), 2)), [at(out, j), get(i), get(tn), op.i32Sub, op.i32Add]),
          inc(j, 1),
        ],
      ),
      saveState,
      i32c(1),
    ],
  };
}

/**
 * shuffle(perm, d, words, nwords): perm = 0..d-1, then rotation.ts's Fisher-Yates from the end, each index
 * drawn by Lemire's multiply-and-shift with rejection (WordStream.below, d <= 2^21) from words[0, nwords).
 * Returns the words used, or -1 if they ran out.
 */
function shuffle(): WasmFunction {
  const [perm, d, words, nwords] = [0, 1, 2, 3];
  const [i, k, n, lo, j, tmp] = [4, 5, 6, 7, 8, 9];
  const mm = 10; // i64
  const permAt = (idx: number): Code => addI(get(perm), shl(get(idx), 2));
  return {
    name: 'shuffle',
    params: [I32, I32, I32, I32],
    results: [I32],
    locals: [I32, I32, I32, I32, I32, I32, I64],
    body: [
      whileLoop([get(i), get(d), op.i32LtU], [stI32(permAt(i), get(i)), inc(i, 1)]),
      [get(d), i32c(1), op.i32Sub, set(i)],
      whileLoop(
        [get(i), i32c(1), op.i32LtS, op.i32Eqz],
        [
          [get(i), i32c(1), op.i32Add, set(n)],
          [op.block, VOID, op.loop, VOID],
          ifElse([get(k), get(nwords), op.i32GeU], [i32c(-1), op.return]),
          [ldI32(addI(get(words), shl(get(k), 2))), op.i64ExtendI32U],
          [get(n), op.i64ExtendI32U, op.i64Mul, set(mm), inc(k, 1)],
          [get(mm), i64c(0xffffffff), op.i64And, op.i32WrapI64, set(lo)],
          [get(lo), get(n), op.i32GeU, op.brIf, 1],
          [get(lo), i64c(2 ** 32), get(n), op.i64ExtendI32U, op.i64RemU, op.i32WrapI64],
          [op.i32GeU, op.brIf, 1, op.br, 0, op.end, op.end],
          [get(mm), i64c(32), op.i64ShrU, op.i32WrapI64, set(j)],
          [ldI32(permAt(i)), set(tmp), stI32(permAt(i), ldI32(permAt(j))), stI32(permAt(j), get(tmp))],
          [get(i), i32c(1), op.i32Sub, set(i)],
        ],
      ),
      get(k),
    ],
  };
}

/**
 * signs(out, d, words, nwords): out[i] = +1 or -1 (i8) from bit i mod 32 of word floor(i / 32), low bit first
 * (makeRotation's sign loop). Returns the words used, or -1 if they ran out.
 */
function signs(): WasmFunction {
  const [out, d, words, nwords] = [0, 1, 2, 3];
  const [i, k, bits, left] = [4, 5, 6, 7];
  return {
    name: 'signs',
    params: [I32, I32, I32, I32],
    results: [I32],
    locals: [I32, I32, I32, I32],
    body: [
      whileLoop(
        [get(i), get(d), op.i32LtU],
        [
          ifElse(
            [get(left), op.i32Eqz],
            [
              ifElse([get(k), get(nwords), op.i32GeU], [i32c(-1), op.return]),
              [ldI32(addI(get(words), shl(get(k), 2))), set(bits), inc(k, 1), i32c(32), set(left)],
            ],
          ),
          // bits & 1 ? 1 : -1 is 2 (bits & 1) - 1.
          [addI(get(out), get(i)), get(bits), i32c(1), op.i32And, i32c(1), op.i32Shl, i32c(1), op.i32Sub],
          [op.i32Store8, memarg(0)],
          [get(bits), i32c(1), op.i32ShrU, set(bits), get(left), i32c(1), op.i32Sub, set(left), inc(i, 1)],
        ],
      ),
      get(k),
    ],
  };
}

/** sumSquares(v, n): the sum of v[i]^2 over float32 v[0, n), in doubles and in order (clip.ts's l2Norm, squared). */
function sumSquares(): WasmFunction {
  const [v, n] = [0, 1];
  const [i, s, x] = [2, 3, 4];
  return {
    name: 'sumSquares',
    params: [I32, I32],
    results: [F64],
    locals: [I32, F64, F64],
    body: [
      whileLoop(
        [get(i), get(n), op.i32LtU],
        [
          [addI(get(v), shl(get(i), 2)), op.f32Load, memarg(2), op.f64PromoteF32, set(x)],
          [get(s), get(x), get(x), op.f64Mul, op.f64Add, set(s), inc(i, 1)],
        ],
      ),
      get(s),
    ],
  };
}

/** The module's bytes: gatherFwht, round, noise, shuffle, signs, sumSquares. */
export function encoderModule(): Uint8Array {
  return wasmModule([gatherFwht(), round(), noise(), shuffle(), signs(), sumSquares()]);
}

/** The module's exports. */
export interface EncoderExports {
  gatherFwht(delta: number, perm: number, signs: number, off: number, n: number, s: number, z: number): void;
  round(z: number, n: number, out: number, wend: number): number;
  noise(
    out: number,
    n: number,
    hi: number,
    mid: number,
    lo: number,
    guide: number,
    m: number,
    shift: number,
    tn: number,
    wend: number,
  ): number;
  shuffle(perm: number, d: number, words: number, nwords: number): number;
  signs(out: number, d: number, words: number, nwords: number): number;
  sumSquares(v: number, n: number): number;
}

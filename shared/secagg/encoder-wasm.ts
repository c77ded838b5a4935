/**
 * Runs the encoding's hot loops in the WebAssembly kernels of kernels.ts: lays out the module's memory,
 * copies the update and the rotation in, feeds the kernels the random stream in bulk (and gives back what
 * they did not use, so the stream is left as the JavaScript twin leaves it), and wipes the update from the
 * module's memory when done. `WasmEncoder.get()` is null where WebAssembly SIMD cannot run; callers then
 * run the JavaScript twins (encode.ts, rotation.ts), which give the same bits.
 *
 * The calls are synchronous, so one instance serves a whole process: no two encodings interleave.
 */
import { ensureBytes, KernelPool, type WasmMemory } from '../wasm/runtime.ts';
import { type EncoderExports, encoderModule } from './kernels.ts';
import type { RandomWords } from './random.ts';

/** Words of random stream the kernels read ahead (refilled when fewer than 3 are left). */
const FEED_WORDS = 16384;
const WORDS = 64; // after the 16-byte state block, on its own cache line
const Z = WORDS + 4 * FEED_WORDS;
/** Largest Hadamard block the kernels handle (rotation.ts's MAX_BLOCK, in doubles). */
const Z_DOUBLES = 1 << 15;
const DELTA = Z + 8 * Z_DOUBLES;
/** Largest d the shuffle kernel takes (WordStream.below's multiply-and-shift range). */
const SHUFFLE_MAX = 2 ** 21;

/** What the kernels need of a discrete Gaussian table (discrete-gaussian.ts's, which imports this file). */
interface NoiseTable {
  n: number;
  hi: Uint32Array;
  mid: Uint32Array;
  lo: Uint32Array;
  guide: Uint32Array;
  guideBits: number;
}

/** What the kernels need of a rotation (rotation.ts's Rotation, which imports this file). */
interface RotationParts {
  perm: Uint32Array;
  signs: Int8Array;
}

const align16 = (n: number): number => Math.ceil(n / 16) * 16;

/** The byte offsets of one encoding of d parameters. */
function layout(d: number) {
  const perm = align16(DELTA + 4 * d);
  const signs = align16(perm + 4 * d);
  const out = align16(signs + d);
  return { perm, signs, out, table: align16(out + 4 * d) };
}

/** One encoding in progress: see encode.ts's encodeIntegers. */
export interface EncodingSession {
  /** The update's L2 norm (l2Norm). */
  norm(): number;
  /** rotateBlock then the rounding of block [off, off + b) at gather factor s; returns sq plus its squares. */
  rotateRound(off: number, b: number, s: number, sq: number): number;
  /** Adds one draw of table `t` to every coordinate. */
  addNoise(t: NoiseTable): void;
  /** The integers (a copy out of the module's memory). */
  result(): Int32Array;
  /** Gives back the unused random words and wipes the update and its integers; call it once, always. */
  end(): void;
}

const pool = new KernelPool<WasmEncoder>(encoderModule, (k) => {
  const { memory, exports } = k.instantiate(DELTA);
  return new WasmEncoder(memory, exports as unknown as EncoderExports);
});

/** The WebAssembly encoder of this process. */
export class WasmEncoder {
  private loaded: { rot: RotationParts; d: number } | null = null;
  private table: { t: NoiseTable; hi: number } | null = null;

  constructor(
    private readonly memory: WasmMemory,
    private readonly x: EncoderExports,
  ) {}

  /** The process's encoder, or null where WebAssembly SIMD cannot run. */
  static get(): WasmEncoder | null {
    const e = pool.acquire();
    // Synchronous use only: the one instance goes straight back for the next caller.
    if (e) pool.release(e);
    return e;
  }

  /**
   * makeRotation's permutation (Fisher-Yates from the end) and signs from the PRG `words`, or null for d
   * above 2^21 (the JavaScript twin's other branch). Throws if the words run out, as the twin.
   */
  rotationParts(words: Uint32Array, d: number): RotationParts | null {
    if (d > SHUFFLE_MAX) return null;
    const permAt = DELTA;
    const wordsAt = align16(permAt + 4 * d);
    const signsAt = align16(wordsAt + 4 * words.length);
    ensureBytes(this.memory, signsAt + d);
    // The rotation and noise table copied in for encoding are overwritten.
    this.loaded = null;
    this.table = null;
    new Uint32Array(this.memory.buffer, wordsAt, words.length).set(words);
    const used = this.x.shuffle(permAt, d, wordsAt, words.length);
    const signsUsed = used < 0 ? -1 : this.x.signs(signsAt, d, wordsAt + 4 * used, words.length - used);
    if (signsUsed < 0) throw new RangeError('PRG stream exhausted');
    return {
      perm: new Uint32Array(this.memory.buffer, permAt, d).slice(),
      signs: new Int8Array(this.memory.buffer, signsAt, d).slice(),
    };
  }

  /** Starts encoding `delta` under `rot`, reading randomness from `r`. */
  begin(delta: Float32Array, rot: RotationParts, r: RandomWords): EncodingSession {
    const d = delta.length;
    const at = layout(d);
    ensureBytes(this.memory, at.table);
    new Float32Array(this.memory.buffer, DELTA, d).set(delta);
    if (this.loaded?.rot !== rot || this.loaded.d !== d) {
      new Uint32Array(this.memory.buffer, at.perm, d).set(rot.perm);
      new Int8Array(this.memory.buffer, at.signs, d).set(rot.signs);
      this.loaded = { rot, d };
    }
    return this.open(d, r);
  }

  /** Adds one draw of `t` to every entry of `out` in place (addDiscreteGaussian), randomness from `r`. */
  addNoise(out: Int32Array, t: NoiseTable, r: RandomWords): void {
    const d = out.length;
    const at = layout(d);
    ensureBytes(this.memory, at.table);
    new Int32Array(this.memory.buffer, at.out, d).set(out);
    const s = this.open(d, r);
    try {
      s.addNoise(t);
      out.set(new Int32Array(this.memory.buffer, at.out, d));
    } finally {
      s.end();
    }
  }

  /** The random-word feed and the kernels' steps over an encoding of d values laid out already. */
  private open(d: number, r: RandomWords): EncodingSession {
    const at = layout(d);
    const mem = (): ArrayBuffer => this.memory.buffer; // a grow detaches the old buffer: views are made late
    const words = (): Uint32Array => new Uint32Array(mem(), WORDS, FEED_WORDS);
    const wend = WORDS + 4 * FEED_WORDS;
    const state = (): DataView => new DataView(mem(), 0, 16);
    r.fill(words());
    state().setInt32(4, WORDS, true);
    const refill = (): void => {
      const left = (wend - state().getInt32(4, true)) >> 2;
      const w = words();
      w.copyWithin(0, FEED_WORDS - left);
      r.fill(w.subarray(left));
      state().setInt32(4, WORDS, true);
    };
    const { x } = this;
    let ended = false;
    return {
      norm: () => Math.sqrt(x.sumSquares(DELTA, d)),
      rotateRound(off, b, s, sq) {
        if (b > Z_DOUBLES) throw new RangeError(`Hadamard block ${b} exceeds ${Z_DOUBLES}`);
        x.gatherFwht(DELTA, at.perm, at.signs, off, b, s, Z);
        state().setInt32(0, 0, true);
        state().setFloat64(8, sq, true);
        while (x.round(Z, b, at.out + 4 * off, wend) === 0) refill();
        return state().getFloat64(8, true);
      },
      addNoise: (t) => {
        const m = t.hi.length;
        const [hi, mid, lo, guide] = [0, 1, 2, 3].map((i) => at.table + 4 * m * i) as [
          number,
          number,
          number,
          number,
        ];
        if (this.table?.t !== t || this.table.hi !== hi) {
          ensureBytes(this.memory, guide + 4 * t.guide.length);
          new Uint32Array(mem(), hi, m).set(t.hi);
          new Uint32Array(mem(), mid, m).set(t.mid);
          new Uint32Array(mem(), lo, m).set(t.lo);
          new Uint32Array(mem(), guide, t.guide.length).set(t.guide);
          this.table = { t, hi };
        }
        state().setInt32(0, 0, true);
        while (x.noise(at.out, d, hi, mid, lo, guide, m, 32 - t.guideBits, t.n, wend) === 0) refill();
      },
      result: () => new Int32Array(mem(), at.out, d).slice(),
      end: () => {
        if (ended) return;
        ended = true;
        r.unread(words().slice((state().getInt32(4, true) - WORDS) >> 2));
        // The update, its rotation and its integers do not outlive the call (the tables and the public
        // rotation stay for the next encoding).
        new Uint8Array(mem(), 0, at.perm).fill(0);
        new Uint8Array(mem(), at.out, 4 * d).fill(0);
      },
    };
  }
}

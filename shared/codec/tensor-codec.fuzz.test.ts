/**
 * Fuzz test of the tensor decoder against an independent, deliberately plain reference decoder written
 * from the byte layout alone (DataView, one field at a time). The oracle, per case:
 * - decodeTensor either returns or throws a FedrankError with a CODEC_* code — never anything else;
 * - it accepts exactly when the reference accepts, and then header and values agree bit for bit
 *   (so a payload byte that still means a valid value decodes to exactly what the bytes say);
 * - cases whose mutation breaks the structure (magic, version, lengths, count, padding, truncation,
 *   extension, non-finite or negative scales, -128) must be rejected, whatever the reference says;
 * - random buffers must be rejected;
 * - decodeTensorView gives the same verdict (same error code) and, expanded, the same values;
 * - decodeTensorHeader only ever throws FedrankError, and agrees on the header of every accepted buffer.
 */
import { describe, expect, it } from 'vitest';
import { FedrankError } from '../errors.ts';
import { mulberry32 } from '../model/spec.ts';
import {
  decodeTensor,
  decodeTensorHeader,
  decodeTensorView,
  encodeTensor,
  type TensorHeader,
} from './tensor-codec.ts';

const CASES = 20_000;
const MAX_COUNT = 5000;

type RefResult = { ok: true; header: TensorHeader; values: Float32Array } | { ok: false };

/** The layout of tensor-codec.ts, decoded the slow and obvious way. */
function referenceDecode(buf: Uint8Array, maxCount: number): RefResult {
  const no = { ok: false } as const;
  if (buf.length < 28) return no;
  if (buf[0] !== 0x46 || buf[1] !== 0x52 || buf[2] !== 0x4e || buf[3] !== 0x4b || buf[4] !== 1) return no;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const kind = buf[5] === 1 ? 'weights' : buf[5] === 2 ? 'delta' : undefined;
  const encoding = buf[6] === 1 ? 'f32' : buf[6] === 2 ? 'i8' : undefined;
  const idLen = buf[7] ?? 0;
  const block = dv.getUint32(8, true);
  if (!kind || !encoding || idLen < 1 || idLen > 64) return no;
  const powers = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
  if (encoding === 'f32' ? block !== 0 : !powers.includes(block)) return no;
  let h = 28 + idLen;
  while (h % 4 !== 0) h++;
  if (buf.length < h) return no;
  let modelId = '';
  for (let i = 28; i < 28 + idLen; i++) {
    if (buf[i]! < 33 || buf[i]! > 126) return no;
    modelId += String.fromCharCode(buf[i]!);
  }
  for (let i = 28 + idLen; i < h; i++) if (buf[i] !== 0) return no;
  const count = dv.getUint32(20, true);
  const blocks = encoding === 'i8' ? Math.ceil(count / block) : 0;
  const payload = encoding === 'f32' ? 4 * count : 4 * blocks + count;
  if (count > maxCount || dv.getUint32(24, true) !== payload || buf.length !== h + payload) return no;
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    if (encoding === 'f32') {
      values[i] = dv.getFloat32(h + 4 * i, true);
      if (!Number.isFinite(values[i])) return no;
    } else {
      const s = dv.getFloat32(h + 4 * Math.floor(i / block), true);
      if (!Number.isFinite(s) || s < 0 || Object.is(s, -0)) return no;
      const q = dv.getInt8(h + 4 * blocks + i);
      if (q === -128) return no;
      values[i] = q * s;
    }
  }
  // Scales of blocks are checked even when they hold no value (count = 0 has no blocks, so nothing to do).
  for (let b = 0; b < blocks; b++) {
    const s = dv.getFloat32(h + 4 * b, true);
    if (!Number.isFinite(s) || s < 0 || Object.is(s, -0)) return no;
  }
  return {
    ok: true,
    header: {
      kind,
      modelId,
      baseVersion: dv.getUint32(12, true),
      round: dv.getUint32(16, true),
      count,
      encoding,
    },
    values,
  };
}

interface Base {
  buf: Uint8Array;
  h: number;
  encoding: 'f32' | 'i8';
  count: number;
  blocks: number;
}

function makeBases(rand: () => number): Base[] {
  const bases: Base[] = [];
  for (let k = 0; k < 60; k++) {
    const encoding = k % 2 === 0 ? 'f32' : 'i8';
    const count = k < 4 ? k : Math.floor(rand() ** 2 * 3000);
    const blockSize = 2 ** (4 + Math.floor(rand() * 9));
    const idLen = 1 + Math.floor(rand() * 64);
    let modelId = '';
    for (let i = 0; i < idLen; i++) modelId += String.fromCharCode(33 + Math.floor(rand() * 94));
    const values = new Float32Array(count);
    const mag = 10 ** (rand() * 8 - 6);
    for (let i = 0; i < count; i++) values[i] = rand() < 0.05 ? 0 : (rand() - 0.5) * mag;
    const header = {
      kind: rand() < 0.5 ? 'weights' : 'delta',
      modelId,
      baseVersion: Math.floor(rand() * 2 ** 32),
      round: Math.floor(rand() * 2 ** 32),
      encoding,
    } as const;
    const buf = encodeTensor(header, values, { blockSize });
    const h = (28 + idLen + 3) & ~3;
    bases.push({ buf, h, encoding, count, blocks: encoding === 'i8' ? Math.ceil(count / blockSize) : 0 });
  }
  return bases;
}

type Mutation = { buf: Uint8Array; mustReject: boolean; nonFinite?: boolean; name: string };

function mutate(base: Base, rand: () => number): Mutation {
  const int = (n: number) => Math.floor(rand() * n);
  const b = base.buf.slice();
  const dv = new DataView(b.buffer);
  const other = (v: number, bad: (x: number) => boolean) => {
    let x = int(256);
    while (x === v || !bad(x)) x = int(256);
    return x;
  };
  switch (int(17)) {
    case 0: {
      const flips = 1 + int(8);
      for (let i = 0; i < flips; i++) b[int(b.length)]! ^= 1 << int(8);
      return { buf: b, mustReject: false, name: 'bit flips' };
    }
    case 1:
      return { buf: base.buf.slice(0, int(base.buf.length)), mustReject: true, name: 'truncation' };
    case 2: {
      const ext = new Uint8Array(b.length + 1 + int(64));
      ext.set(b);
      for (let i = b.length; i < ext.length; i++) ext[i] = int(256);
      return { buf: ext, mustReject: true, name: 'extension' };
    }
    case 3: {
      const i = int(5); // magic or version byte
      b[i] = other(b[i]!, () => true);
      return { buf: b, mustReject: true, name: 'magic/version edit' };
    }
    case 4:
      b[5] = other(b[5]!, (x) => x !== 1 && x !== 2);
      return { buf: b, mustReject: true, name: 'unknown kind' };
    case 5:
      b[6] = other(b[6]!, () => true);
      return { buf: b, mustReject: true, name: 'encoding edit' };
    case 6:
      b[7] = other(b[7]!, () => true);
      return { buf: b, mustReject: true, name: 'model id length edit' };
    case 7: {
      const c = dv.getUint32(20, true);
      let n = c;
      while (n === c) n = rand() < 0.5 ? Math.max(0, c + int(9) - 4) : int(2 ** 32);
      dv.setUint32(20, n, true);
      return { buf: b, mustReject: true, name: 'count edit' };
    }
    case 8: {
      const p = dv.getUint32(24, true);
      dv.setUint32(24, p + 1 + int(p + 8), true);
      return { buf: b, mustReject: true, name: 'payload length edit' };
    }
    case 9: {
      const c = dv.getUint32(20, true) + 1 + int(10); // count and payload length moved together
      const block = dv.getUint32(8, true);
      dv.setUint32(20, c, true);
      dv.setUint32(24, base.encoding === 'f32' ? 4 * c : 4 * Math.ceil(c / block) + c, true);
      return { buf: b, mustReject: true, name: 'consistent count edit' };
    }
    case 10: {
      const id = b[7]!;
      if (28 + id === base.h) break; // no padding in this base: fall through to a model id edit below
      b[28 + id + int(base.h - 28 - id)] = 1 + int(255);
      return { buf: b, mustReject: true, name: 'padding edit' };
    }
    case 11: {
      b[28 + int(b[7]!)] = rand() < 0.5 ? int(33) : 127 + int(129);
      return { buf: b, mustReject: true, name: 'invisible model id byte' };
    }
    case 12: {
      const slots = base.encoding === 'f32' ? base.count : base.blocks;
      if (slots === 0) break;
      const bad = [NaN, Infinity, -Infinity, ...(base.encoding === 'i8' ? [-1e-3, -0, -1e30] : [])];
      dv.setFloat32(base.h + 4 * int(slots), bad[int(bad.length)]!, true);
      return { buf: b, mustReject: true, nonFinite: true, name: 'NaN/Inf/negative injection' };
    }
    case 13: {
      if (base.encoding !== 'i8' || base.count === 0) break;
      b[base.h + 4 * base.blocks + int(base.count)] = 0x80;
      return { buf: b, mustReject: true, name: 'int8 -128' };
    }
    case 14: {
      if (b.length === base.h) break;
      const n = 1 + int(4);
      for (let i = 0; i < n; i++) b[base.h + int(b.length - base.h)] = int(256);
      return { buf: b, mustReject: false, name: 'payload bytes' };
    }
    case 15:
      dv.setUint32(rand() < 0.5 ? 12 : 16, int(2 ** 32), true);
      return { buf: b, mustReject: false, name: 'round/baseVersion edit' };
    default:
      dv.setUint32(8, rand() < 0.5 ? 2 ** (4 + int(13)) : int(2 ** 32), true);
      return { buf: b, mustReject: false, name: 'block size edit' };
  }
  b[28] = 33 + int(94); // visible model id byte: a different but valid model id
  return { buf: b, mustReject: false, name: 'model id char edit' };
}

function randomBuffer(rand: () => number): Mutation {
  const len = Math.floor(rand() ** 3 * 4000);
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = Math.floor(rand() * 256);
  if (rand() < 0.5 && len >= 5) b.set([0x46, 0x52, 0x4e, 0x4b, 1]); // get past magic and version
  return { buf: b, mustReject: true, name: 'random buffer' };
}

/** decodeTensorView's verdict: its error code, or its values expanded to float32. */
function viewOutcome(buf: Uint8Array): string | Float32Array {
  try {
    const v = decodeTensorView(buf, { maxCount: MAX_COUNT });
    if ('values' in v) return v.values;
    return Float32Array.from(v.q, (q, i) => q * v.scales[Math.floor(i / v.blockSize)]!);
  } catch (e) {
    return e instanceof FedrankError ? e.code : String(e);
  }
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

describe('tensor codec fuzz', () => {
  it(`survives ${CASES} random and mutated buffers without a crash or a silent accept`, () => {
    const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
    const rand = mulberry32(seed); // seeded, so a failing run replays with FUZZ_SEED
    const bases = makeBases(rand);
    const failures: string[] = [];
    const stats = new Map<string, { n: number; accepted: number }>();
    const t0 = performance.now();
    for (const base of bases) {
      const ref = referenceDecode(base.buf, MAX_COUNT);
      const got = decodeTensor(base.buf, { maxCount: MAX_COUNT });
      if (!ref.ok || !sameBits(ref.values, got.values))
        failures.push('a valid base buffer disagrees with the reference');
    }
    for (let k = 0; k < CASES; k++) {
      const m = rand() < 0.15 ? randomBuffer(rand) : mutate(bases[Math.floor(rand() * bases.length)]!, rand);
      const st = stats.get(m.name) ?? { n: 0, accepted: 0 };
      stats.set(m.name, st);
      st.n++;
      const ref = referenceDecode(m.buf, MAX_COUNT);
      const viewVerdict = viewOutcome(m.buf);
      let headerOnly: TensorHeader | undefined;
      try {
        headerOnly = decodeTensorHeader(m.buf);
      } catch (e) {
        if (!(e instanceof FedrankError)) failures.push(`case ${k} (${m.name}): header threw ${String(e)}`);
      }
      let got: ReturnType<typeof decodeTensor> | undefined;
      try {
        got = decodeTensor(m.buf, { maxCount: MAX_COUNT });
      } catch (e) {
        if (!(e instanceof FedrankError) || !e.code.startsWith('CODEC_')) {
          failures.push(`case ${k} (${m.name}): threw ${String(e)}`);
        } else if (ref.ok) {
          failures.push(`case ${k} (${m.name}): rejected (${e.code}) a buffer the reference accepts`);
        } else if (viewVerdict !== e.code) {
          failures.push(`case ${k} (${m.name}): decodeTensor ${e.code} but decodeTensorView ${viewVerdict}`);
        } else if (m.nonFinite && e.code !== 'CODEC_NON_FINITE') {
          // A scale/value injection must be reported as such unless the structure check caught something first.
          failures.push(`case ${k} (${m.name}): ${e.code} instead of CODEC_NON_FINITE`);
        }
        continue;
      }
      st.accepted++;
      if (m.mustReject) failures.push(`case ${k} (${m.name}): accepted a structurally corrupted buffer`);
      else if (!ref.ok) failures.push(`case ${k} (${m.name}): accepted a buffer the reference rejects`);
      else if (
        JSON.stringify(ref.header) !== JSON.stringify(got.header) ||
        !sameBits(ref.values, got.values)
      ) {
        failures.push(`case ${k} (${m.name}): decoded something other than what the bytes say`);
      } else if (JSON.stringify(headerOnly) !== JSON.stringify(got.header)) {
        failures.push(`case ${k} (${m.name}): decodeTensorHeader disagrees with decodeTensor`);
      } else if (typeof viewVerdict === 'string' || !sameBits(viewVerdict, got.values)) {
        failures.push(`case ${k} (${m.name}): decodeTensorView disagrees with decodeTensor`);
      }
      if (failures.length > 20) break;
    }
    const ms = performance.now() - t0;
    const summary = [...stats].map(([name, s]) => `${name} ${s.accepted}/${s.n}`).join(', ');
    console.log(`fuzz seed ${seed}: ${CASES} cases in ${ms.toFixed(0)} ms; accepted/cases: ${summary}`);
    expect(failures, `FUZZ_SEED=${seed}`).toEqual([]);
    expect([...stats.values()].reduce((a, s) => a + s.n, 0)).toBe(CASES);
  });
});

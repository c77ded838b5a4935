/**
 * The one binary codec for model weights and updates (content type application/vnd.fedrank.tensor).
 *
 * Byte layout, format version 1, all integers little-endian:
 *
 *   offset  size  field
 *   0       4     magic "FRNK" (0x46 0x52 0x4E 0x4B)
 *   4       1     format version = 1
 *   5       1     kind: 1 = weights, 2 = delta
 *   6       1     encoding: 1 = f32, 2 = i8
 *   7       1     L = model id length in bytes, 1..64
 *   8       4     u32 block size: 0 for f32; for i8 a power of two in 16..65536 (default 256)
 *   12      4     u32 base version (weights: their version; delta: the version it was trained from)
 *   16      4     u32 round
 *   20      4     u32 count = number of parameters
 *   24      4     u32 payload byte length P (must equal the length implied by count, encoding, block size)
 *   28      L     model id, visible ASCII 0x21..0x7E
 *   28+L    0..3  zero padding, so the payload starts at a multiple of 4 (H = header length)
 *   H       P     payload:
 *                   f32: count x float32
 *                   i8:  ceil(count / block) x float32 scale (finite, >= 0, sign bit clear),
 *                        then count x int8 in -127..127; value = int8 * scale of its block
 *
 * The buffer is exactly H + P bytes. Decoding checks, in order: magic, version, fixed header, model id and
 * padding, count against the caller's limit, P against count, total length, then every value.
 */
import { FedrankError } from '../errors.ts';
import type { TensorEncoding } from '../protocol.ts';
import { isValidModelId, MODEL_ID_MAX_BYTES } from './model-id.ts';
import { cryptoFill, dequantizeInt8, quantizeInt8, type RandomFill } from './quantize.ts';

/** Header of a tensor payload as callers see it. */
export interface TensorHeader {
  kind: 'weights' | 'delta';
  modelId: string;
  baseVersion: number;
  round: number;
  count: number;
  encoding: TensorEncoding;
}

/** The four magic bytes "FRNK". */
export const TENSOR_MAGIC = Uint8Array.of(0x46, 0x52, 0x4e, 0x4b);
/** Format version written by this encoder; the only one the decoder accepts. */
export const TENSOR_FORMAT_VERSION = 1;
/** Default int8 block size (values sharing one scale). */
export const DEFAULT_BLOCK_SIZE = 256;
/** Smallest and largest int8 block size (powers of two only). */
export const MIN_BLOCK_SIZE = 16;
export const MAX_BLOCK_SIZE = 65536;
/** Length of the fixed part of the header, before the model id. */
export const FIXED_HEADER_BYTES = 28;

const UINT32_MAX = 0xffffffff;
const KIND_CODES = { weights: 1, delta: 2 } as const;
const ENCODING_CODES = { f32: 1, i8: 2 } as const;
const LITTLE_ENDIAN_HOST = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Header bytes for a model id of `idBytes` bytes (fixed part + id + padding to 4). */
function headerBytes(idBytes: number): number {
  return (FIXED_HEADER_BYTES + idBytes + 3) & ~3;
}

/** Payload bytes for `count` values in `encoding` (block size only matters for i8). */
function payloadBytes(count: number, encoding: TensorEncoding, blockSize: number): number {
  return encoding === 'f32' ? count * 4 : Math.ceil(count / blockSize) * 4 + count;
}

function isValidBlockSize(b: number): boolean {
  return Number.isInteger(b) && b >= MIN_BLOCK_SIZE && b <= MAX_BLOCK_SIZE && (b & (b - 1)) === 0;
}

function isUint32(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= UINT32_MAX;
}

/**
 * Total encoded length in bytes. Exact when `modelId` is given; otherwise the upper bound for the longest
 * allowed model id (useful as a request body limit).
 */
export function encodedByteLength(
  count: number,
  encoding: TensorEncoding,
  blockSize = DEFAULT_BLOCK_SIZE,
  modelId?: string,
): number {
  const id = modelId === undefined ? MODEL_ID_MAX_BYTES : modelId.length;
  return headerBytes(id) + payloadBytes(count, encoding, blockSize);
}

/**
 * Encodes `values` with `header`; throws FedrankError (CODEC_*) on an invalid header or a NaN/Infinity.
 * `blockSize` applies to i8 (default 256); `random` replaces the CSPRNG rounding source (reproducible tests).
 */
export function encodeTensor(
  header: Omit<TensorHeader, 'count'>,
  values: Float32Array,
  opts: { blockSize?: number; random?: RandomFill } = {},
): Uint8Array {
  if (!Object.hasOwn(KIND_CODES, header.kind)) throw new FedrankError('CODEC_BAD_HEADER', 'unknown kind');
  if (!Object.hasOwn(ENCODING_CODES, header.encoding)) {
    throw new FedrankError('CODEC_BAD_HEADER', 'unknown encoding');
  }
  const kind = KIND_CODES[header.kind];
  const encoding = ENCODING_CODES[header.encoding];
  if (!isValidModelId(header.modelId)) {
    throw new FedrankError('CODEC_BAD_HEADER', 'model id must be 1-64 visible ASCII characters');
  }
  if (!isUint32(header.baseVersion))
    throw new FedrankError('CODEC_BAD_HEADER', 'baseVersion must be a uint32');
  if (!isUint32(header.round)) throw new FedrankError('CODEC_BAD_HEADER', 'round must be a uint32');
  const count = values.length;
  if (count > UINT32_MAX) throw new FedrankError('CODEC_OVERSIZED', 'count exceeds uint32');
  const blockSize = header.encoding === 'i8' ? (opts.blockSize ?? DEFAULT_BLOCK_SIZE) : 0;
  if (header.encoding === 'i8' && !isValidBlockSize(blockSize)) {
    throw new FedrankError('CODEC_BAD_HEADER', `block size must be a power of two in 16..65536`);
  }
  const bad = firstNonFinite(values);
  if (bad >= 0) throw new FedrankError('CODEC_NON_FINITE', `value ${bad} is ${values[bad]}`);

  const h = headerBytes(header.modelId.length);
  const p = payloadBytes(count, header.encoding, blockSize);
  const out = new Uint8Array(h + p);
  const dv = new DataView(out.buffer);
  out.set(TENSOR_MAGIC, 0);
  out[4] = TENSOR_FORMAT_VERSION;
  out[5] = kind;
  out[6] = encoding;
  out[7] = header.modelId.length;
  dv.setUint32(8, blockSize, true);
  dv.setUint32(12, header.baseVersion, true);
  dv.setUint32(16, header.round, true);
  dv.setUint32(20, count, true);
  dv.setUint32(24, p, true);
  for (let i = 0; i < header.modelId.length; i++) out[FIXED_HEADER_BYTES + i] = header.modelId.charCodeAt(i);

  if (header.encoding === 'f32') {
    writeFloat32s(out, h, values);
  } else {
    const blocks = Math.ceil(count / blockSize);
    const scales = new Float32Array(blocks);
    quantizeInt8(
      values,
      blockSize,
      scales,
      new Int8Array(out.buffer, h + blocks * 4, count),
      opts.random ?? cryptoFill,
    );
    writeFloat32s(out, h, scales);
  }
  return out;
}

/** Parsed header plus the layout the payload checks need. */
interface Layout {
  header: TensorHeader;
  blockSize: number;
  headerBytes: number;
  payloadBytes: number;
}

function readLayout(buf: Uint8Array): Layout {
  if (!(buf instanceof Uint8Array)) throw new FedrankError('CODEC_BAD_MAGIC', 'payload is not bytes');
  for (let i = 0; i < TENSOR_MAGIC.length; i++) {
    if (i >= buf.length)
      throw new FedrankError('CODEC_TRUNCATED', `${buf.length} bytes, no room for the magic`);
    if (buf[i] !== TENSOR_MAGIC[i]) throw new FedrankError('CODEC_BAD_MAGIC');
  }
  if (buf.length < 5) throw new FedrankError('CODEC_TRUNCATED', 'no format version');
  if (buf[4] !== TENSOR_FORMAT_VERSION) {
    throw new FedrankError(
      'CODEC_UNSUPPORTED_VERSION',
      `version ${buf[4]}, expected ${TENSOR_FORMAT_VERSION}`,
    );
  }
  if (buf.length < FIXED_HEADER_BYTES) throw new FedrankError('CODEC_TRUNCATED', 'header cut short');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const kind = buf[5] === 1 ? 'weights' : buf[5] === 2 ? 'delta' : null;
  if (kind === null) throw new FedrankError('CODEC_BAD_HEADER', `unknown kind ${buf[5]}`);
  const encoding = buf[6] === 1 ? 'f32' : buf[6] === 2 ? 'i8' : null;
  if (encoding === null) throw new FedrankError('CODEC_BAD_HEADER', `unknown encoding ${buf[6]}`);
  const idBytes = buf[7]!;
  if (idBytes < 1 || idBytes > MODEL_ID_MAX_BYTES) {
    throw new FedrankError('CODEC_BAD_HEADER', `model id length ${idBytes} outside 1..${MODEL_ID_MAX_BYTES}`);
  }
  const blockSize = dv.getUint32(8, true);
  if (encoding === 'f32' ? blockSize !== 0 : !isValidBlockSize(blockSize)) {
    throw new FedrankError('CODEC_BAD_HEADER', `block size ${blockSize} invalid for ${encoding}`);
  }
  const h = headerBytes(idBytes);
  if (buf.length < h) throw new FedrankError('CODEC_TRUNCATED', 'model id cut short');
  let modelId = '';
  for (let i = 0; i < idBytes; i++) {
    const c = buf[FIXED_HEADER_BYTES + i]!;
    if (c < 0x21 || c > 0x7e) throw new FedrankError('CODEC_BAD_HEADER', 'model id is not visible ASCII');
    modelId += String.fromCharCode(c);
  }
  for (let i = FIXED_HEADER_BYTES + idBytes; i < h; i++) {
    if (buf[i] !== 0) throw new FedrankError('CODEC_BAD_HEADER', 'non-zero header padding');
  }
  const header: TensorHeader = {
    kind,
    modelId,
    baseVersion: dv.getUint32(12, true),
    round: dv.getUint32(16, true),
    count: dv.getUint32(20, true),
    encoding,
  };
  return { header, blockSize, headerBytes: h, payloadBytes: dv.getUint32(24, true) };
}

function checkPayloadBytes(l: Layout): void {
  const expected = payloadBytes(l.header.count, l.header.encoding, l.blockSize);
  if (l.payloadBytes !== expected) {
    throw new FedrankError(
      'CODEC_COUNT_MISMATCH',
      `payload length ${l.payloadBytes} but count ${l.header.count} needs ${expected}`,
    );
  }
}

/** Reads and validates the header only (no payload scan); throws FedrankError (CODEC_*). */
export function decodeTensorHeader(buf: Uint8Array): TensorHeader {
  const l = readLayout(buf);
  checkPayloadBytes(l);
  return l.header;
}

/**
 * A fully validated payload as raw views, for consumers that fold values straight into an accumulator
 * without materializing a Float32Array (the server's ingest hot path). Value i is `values[i]` (f32) or
 * `q[i] * scales[i / blockSize | 0]` (i8). `q` aliases `buf`; f32 values and i8 scales are copies (one bulk
 * copy, which also fixes alignment).
 */
export type TensorView =
  | { header: TensorHeader; blockSize: 0; values: Float32Array }
  | { header: TensorHeader; blockSize: number; scales: Float32Array; q: Int8Array };

/** Every check but the i8 -128 scan, which callers fold into their own pass over q. */
function decodeUnscanned(buf: Uint8Array, limits: { maxCount: number }): TensorView {
  if (!(limits.maxCount >= 0)) throw new TypeError('decodeTensor needs limits.maxCount >= 0');
  const l = readLayout(buf);
  const { header, blockSize } = l;
  if (header.count > limits.maxCount) {
    throw new FedrankError('CODEC_OVERSIZED', `count ${header.count} exceeds the limit ${limits.maxCount}`);
  }
  checkPayloadBytes(l);
  const end = l.headerBytes + l.payloadBytes;
  if (buf.length < end) throw new FedrankError('CODEC_TRUNCATED', `${buf.length} bytes, expected ${end}`);
  if (buf.length > end) throw new FedrankError('CODEC_OVERSIZED', `${buf.length - end} trailing bytes`);

  const n = header.count;
  if (header.encoding === 'f32') {
    const values = readFloat32s(buf, l.headerBytes, n);
    const bad = firstNonFinite(values);
    if (bad >= 0) throw new FedrankError('CODEC_NON_FINITE', `value ${bad} is ${values[bad]}`);
    return { header, blockSize: 0, values };
  }
  const blocks = Math.ceil(n / blockSize);
  const scales = readFloat32s(buf, l.headerBytes, blocks);
  for (let b = 0; b < blocks; b++) {
    const s = scales[b]!;
    // s - s is NaN for NaN and +-Infinity; 1/s < 0 catches -0 (an encoder writes +0 for an all-zero block).
    if (s - s !== 0 || s < 0 || 1 / s < 0) {
      throw new FedrankError(
        'CODEC_NON_FINITE',
        `block ${b} scale ${Object.is(s, -0) ? '-0' : s} is invalid`,
      );
    }
  }
  const q = new Int8Array(buf.buffer, buf.byteOffset + l.headerBytes + blocks * 4, n);
  return { header, blockSize, scales, q };
}

function badInt8(i: number): FedrankError {
  return new FedrankError('CODEC_BAD_VALUE', `int8 value ${i} is -128, outside -127..127`);
}

/**
 * decodeTensorView without its i8 -128 scan, for a caller that folds the scan into its own pass over `q`
 * (the server's norm, server/ingest.ts) and then calls `rejectInt8Min(q)` when that pass saw a -128. Every
 * other check and error is decodeTensorView's.
 */
export function decodeTensorViewScanDeferred(buf: Uint8Array, limits: { maxCount: number }): TensorView {
  return decodeUnscanned(buf, limits);
}

/** Throws decodeTensorView's CODEC_BAD_VALUE for the first -128 in `q`; returns when there is none. */
export function rejectInt8Min(q: Int8Array): void {
  const bad = firstInt8Min(q);
  if (bad >= 0) throw badInt8(bad);
}

/** Same checks and CODEC_* errors as decodeTensor, but returns raw views instead of decoded values. */
export function decodeTensorView(buf: Uint8Array, limits: { maxCount: number }): TensorView {
  const v = decodeUnscanned(buf, limits);
  if ('q' in v) rejectInt8Min(v.q);
  return v;
}

/**
 * Index of the first -128 in `q`, or -1. When the view is 4-aligned it tests four bytes per step (a byte is
 * 0x80 iff it is zero after XOR 0x80: the exact has-zero-byte test (w - 0x01010101) & ~w & 0x80808080), then
 * finds the exact index bytewise; the server's ingest hot path runs this on every upload.
 */
function firstInt8Min(q: Int8Array): number {
  let start = 0;
  if (q.byteOffset % 4 === 0) {
    const words = new Int32Array(q.buffer, q.byteOffset, q.length >> 2);
    start = words.length * 4;
    for (let j = 0; j < words.length; j++) {
      const w = words[j]! ^ 0x80808080;
      if (((w - 0x01010101) & ~w & 0x80808080) !== 0) {
        start = j * 4;
        break;
      }
    }
  }
  for (let i = start; i < q.length; i++) if (q[i] === -128) return i;
  return -1;
}

/** Decodes and fully validates a payload; throws FedrankError (CODEC_*) on anything malformed. */
export function decodeTensor(
  buf: Uint8Array,
  limits: { maxCount: number },
): { header: TensorHeader; values: Float32Array } {
  const v = decodeUnscanned(buf, limits);
  if ('values' in v) return { header: v.header, values: v.values };
  const values = new Float32Array(v.q.length);
  const bad = dequantizeInt8(v.q, v.scales, v.blockSize, values);
  if (bad >= 0) throw badInt8(bad);
  return { header: v.header, values };
}

/** Index of the first NaN or +-Infinity, or -1. */
function firstNonFinite(v: Float32Array): number {
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (x - x !== 0) return i;
  }
  return -1;
}

/** `n` little-endian float32 at `off` as a fresh array: one bulk copy (which also fixes alignment). */
function readFloat32s(buf: Uint8Array, off: number, n: number): Float32Array {
  // Uint8Array's slice copies; a Node Buffer's own slice() would return a view of its (pooled) memory.
  if (LITTLE_ENDIAN_HOST)
    return new Float32Array(Uint8Array.prototype.slice.call(buf, off, off + n * 4).buffer);
  const dv = new DataView(buf.buffer, buf.byteOffset + off, n * 4);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}

/** Writes `v` as little-endian float32 at the 4-aligned offset `off` of the fresh buffer `out`. */
function writeFloat32s(out: Uint8Array, off: number, v: Float32Array): void {
  if (LITTLE_ENDIAN_HOST) {
    new Float32Array(out.buffer, out.byteOffset + off, v.length).set(v);
    return;
  }
  const dv = new DataView(out.buffer, out.byteOffset + off, v.length * 4);
  for (let i = 0; i < v.length; i++) dv.setFloat32(i * 4, v[i]!, true);
}

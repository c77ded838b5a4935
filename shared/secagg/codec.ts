/**
 * The one binary codec and validator of every secure-aggregation message (content type
 * application/vnd.fedrank.secagg), used by the client and the server. Layout, little-endian:
 *
 *   0  4  magic "FRSA"       4  1  version = 1      5  1  type (1..7, below)     6  2  zero
 *   8  4  u32 round          12 4  u32 slot (1..65536)
 *   16 .. body by type:
 *   1 advertise-keys   cPk[32] sPk[32]
 *   2 roster           u32 n, u32 k, u32 t, u32 minSurvivors, seed[32], u8 bits, u32 d, f64 scale,
 *                      f64 clipNorm, u32 noiseVariance, f64 normBoundSq, u32 count, count x (u32 slot, cPk[32], sPk[32])
 *   3 share-keys       u32 count, count x (u32 to, sealed[SEALED_SHARE_BYTES])
 *   4 shares-in        u32 count, count x (u32 from, sealed[SEALED_SHARE_BYTES])
 *   5 masked-input     u8 bits, u32 d, ceil(d * bits / 8) bytes (padding bits zero)
 *   6 unmask-request   u32 s, s x u32 survivor, u32 r, r x u32 dropped
 *   7 unmask           u32 count, count x (u32 of, u8 kind (1 self-seed, 2 mask-key), share[SHARE_BYTES])
 *
 * Decoding checks every field and the exact total length, and throws FedrankError SECAGG_BAD_MESSAGE.
 * Slot lists are strictly increasing (no duplicates, one byte string per message), slots are 1..n, a
 * client never appears in its own lists, and an unmask names each peer at most once, so one message can
 * never reveal both kinds of shares of one peer.
 */
import { FedrankError } from '../errors.ts';
import { ShortInput, Reader, Writer } from './bytes-io.ts';
import { isValidDegree } from './graph.ts';
import { GCM_NONCE_BYTES, GCM_TAG_BYTES, KEY_BYTES } from './keys.ts';
import type { SecAggMessage, SecAggRoundParams, ShareKind } from './messages.ts';
import { isRingBits, packedBytes, packedPaddingIsZero } from './ring.ts';
import { decodeShareY, encodeShareY, MAX_SHARE_X, SHARE_BYTES } from './shamir.ts';

/** HTTP content type of secure-aggregation messages. */
export const SECAGG_CONTENT_TYPE = 'application/vnd.fedrank.secagg';
/** Plaintext of a sealed share pair: u32 from, u32 to, mask-key share, self-seed share. */
export const SHARE_PLAINTEXT_BYTES = 8 + 2 * SHARE_BYTES;
/** A sealed share pair: nonce, ciphertext, tag. */
export const SEALED_SHARE_BYTES = GCM_NONCE_BYTES + SHARE_PLAINTEXT_BYTES + GCM_TAG_BYTES;
/** Largest cohort (slots are Shamir x-coordinates). */
export const MAX_COHORT = MAX_SHARE_X;
/** Largest model dimension a masked input may declare. */
export const MAX_SECAGG_D = 1 << 26;
const MAGIC = [0x46, 0x52, 0x53, 0x41];
const VERSION = 1;
const HEADER_BYTES = 16;
const TYPES = [
  'advertise-keys',
  'roster',
  'share-keys',
  'shares-in',
  'masked-input',
  'unmask-request',
  'unmask',
] as const;
const KINDS: readonly ShareKind[] = ['self-seed', 'mask-key'];

function bad(detail: string): never {
  throw new FedrankError('SECAGG_BAD_MESSAGE', detail);
}

function isSlot(x: number, n = MAX_COHORT): boolean {
  return x >= 1 && x <= n;
}

/** Encodes a message (the encoder trusts its caller's types, not its values: decode what you encode in tests). */
export function encodeMessage(m: SecAggMessage): Uint8Array {
  const w = new Writer()
    .bytes(Uint8Array.from(MAGIC))
    .u8(VERSION)
    .u8(TYPES.indexOf(m.type) + 1)
    .u16(0);
  w.u32(m.round).u32(m.slot);
  switch (m.type) {
    case 'advertise-keys':
      return w.bytes(m.cPk).bytes(m.sPk).done();
    case 'roster': {
      const p = m.params;
      const e = p.encoding;
      w.u32(p.n).u32(p.k).u32(p.t).u32(p.minSurvivors).bytes(p.seed);
      w.u8(e.bits).u32(e.d).f64(e.scale).f64(e.clipNorm).u32(e.noiseVariance).f64(e.normBoundSq);
      w.u32(m.peers.length);
      for (const q of m.peers) w.u32(q.slot).bytes(q.cPk).bytes(q.sPk);
      return w.done();
    }
    case 'share-keys':
    case 'shares-in':
      w.u32(m.shares.length);
      for (const s of m.shares) w.u32(s.peer).bytes(s.sealed);
      return w.done();
    case 'masked-input':
      return w.u8(m.bits).u32(m.d).bytes(m.data).done();
    case 'unmask-request':
      w.u32(m.survivors.length);
      for (const s of m.survivors) w.u32(s);
      w.u32(m.dropped.length);
      for (const s of m.dropped) w.u32(s);
      return w.done();
    case 'unmask':
      w.u32(m.shares.length);
      for (const s of m.shares)
        w.u32(s.of)
          .u8(KINDS.indexOf(s.kind) + 1)
          .bytes(encodeShareY(s.y));
      return w.done();
  }
}

/** Reads a strictly increasing list of `count` slots in 1..n, none equal to `self`. */
function slotList(r: Reader, count: number, n: number, self: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = r.u32();
    if (!isSlot(s, n) || s === self) bad(`slot ${s} is not a peer`);
    if (i > 0 && s <= out[i - 1]!) bad('slot lists must be strictly increasing');
    out.push(s);
  }
  return out;
}

function count(r: Reader, each: number): number {
  const c = r.u32();
  if (c > MAX_COHORT || c * each > r.remaining) bad(`entry count ${c} exceeds the message`);
  return c;
}

function finite(x: number, what: string, min = 0): number {
  if (!(Number.isFinite(x) && x > min)) bad(`${what} must be a finite number > ${min}`);
  return x;
}

function roster(r: Reader): {
  params: SecAggRoundParams;
  peers: { slot: number; cPk: Uint8Array; sPk: Uint8Array }[];
} {
  const n = r.u32();
  const k = r.u32();
  const t = r.u32();
  const minSurvivors = r.u32();
  if (!(n >= 2 && n <= MAX_COHORT) || !isValidDegree(n, k)) bad(`invalid cohort ${n} / degree ${k}`);
  if (!(t >= 1 && t <= Math.min(k, n - 1))) bad(`threshold ${t} not in 1..${k}`);
  if (!(minSurvivors >= 1 && minSurvivors <= n)) bad(`minSurvivors ${minSurvivors} not in 1..${n}`);
  const seed = r.bytes(32);
  const bits = r.u8();
  const d = r.u32();
  if (!isRingBits(bits) || !(d >= 1 && d <= MAX_SECAGG_D)) bad('invalid encoding bits or dimension');
  const scale = finite(r.f64(), 'scale');
  const clipNorm = finite(r.f64(), 'clipNorm');
  const noiseVariance = r.u32();
  const normBoundSq = finite(r.f64(), 'normBoundSq');
  const c = count(r, 4 + 2 * KEY_BYTES);
  const peers = [];
  let prev = 0;
  for (let i = 0; i < c; i++) {
    const slot = r.u32();
    if (!isSlot(slot, n) || slot <= prev) bad('roster slots must be strictly increasing and in 1..n');
    prev = slot;
    peers.push({ slot, cPk: r.bytes(KEY_BYTES), sPk: r.bytes(KEY_BYTES) });
  }
  const encoding = { d, bits, scale, clipNorm, noiseVariance, normBoundSq };
  return { params: { n, k, t, minSurvivors, seed, encoding }, peers };
}

/** Decodes and validates one message; throws FedrankError('SECAGG_BAD_MESSAGE') on anything malformed. */
export function decodeMessage(bytes: Uint8Array): SecAggMessage {
  try {
    return decodeUnchecked(bytes);
  } catch (e) {
    if (e instanceof ShortInput) bad('truncated message');
    throw e;
  }
}

function decodeUnchecked(bytes: Uint8Array): SecAggMessage {
  if (!(bytes instanceof Uint8Array)) bad('not bytes');
  const r = new Reader(bytes);
  for (const b of MAGIC) if (r.u8() !== b) bad('bad magic');
  if (r.u8() !== VERSION) bad('unsupported version');
  const type = TYPES[r.u8() - 1];
  if (!type) bad('unknown message type');
  if (r.u16() !== 0) bad('reserved bytes must be zero');
  const round = r.u32();
  const slot = r.u32();
  if (!isSlot(slot)) bad(`slot ${slot} out of range`);
  const base = { round, slot };
  let m: SecAggMessage;
  switch (type) {
    case 'advertise-keys':
      m = { type, ...base, cPk: r.bytes(KEY_BYTES), sPk: r.bytes(KEY_BYTES) };
      break;
    case 'roster': {
      const { params, peers } = roster(r);
      if (slot > params.n || peers.some((p) => p.slot === slot)) bad('roster lists its own recipient');
      m = { type, ...base, params, peers };
      break;
    }
    case 'share-keys':
    case 'shares-in': {
      const c = count(r, 4 + SEALED_SHARE_BYTES);
      const shares = [];
      let prev = 0;
      for (let i = 0; i < c; i++) {
        const peer = r.u32();
        if (!isSlot(peer) || peer === slot || peer <= prev) bad('share peers must be strictly increasing');
        prev = peer;
        shares.push({ peer, sealed: r.bytes(SEALED_SHARE_BYTES) });
      }
      m = { type, ...base, shares };
      break;
    }
    case 'masked-input': {
      const bits = r.u8();
      const d = r.u32();
      if (!isRingBits(bits) || !(d >= 1 && d <= MAX_SECAGG_D)) bad('invalid ring width or dimension');
      const len = packedBytes(d, bits);
      if (r.remaining !== len) bad(`masked input must be ${len} bytes`);
      const data = r.bytes(len);
      if (!packedPaddingIsZero(data, d, bits)) bad('nonzero padding bits');
      m = { type, ...base, bits, d, data };
      break;
    }
    case 'unmask-request': {
      const survivors = slotList(r, count(r, 4), MAX_COHORT, slot);
      const dropped = slotList(r, count(r, 4), MAX_COHORT, slot);
      const s = new Set(survivors);
      if (dropped.some((x) => s.has(x))) bad('a peer cannot both survive and drop');
      m = { type, ...base, survivors, dropped };
      break;
    }
    case 'unmask': {
      const c = count(r, 5 + SHARE_BYTES);
      const shares = [];
      let prev = 0;
      for (let i = 0; i < c; i++) {
        const of = r.u32();
        if (!isSlot(of) || of === slot || of <= prev)
          bad('unmask peers must be strictly increasing (one share per peer)');
        prev = of;
        const kind = KINDS[r.u8() - 1];
        if (!kind) bad('unknown share kind');
        const y = decodeShareY(r.bytes(SHARE_BYTES));
        if (!y) bad('share value outside the field');
        shares.push({ of, kind, y });
      }
      m = { type, ...base, shares };
      break;
    }
  }
  if (r.remaining !== 0) bad('trailing bytes');
  return m;
}

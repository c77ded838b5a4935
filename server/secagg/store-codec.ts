/**
 * How the SQL SecAggStores (SQLite, PostgreSQL) write a round record (JSON, the seed in base64) and a
 * client's revealed shares (packed: u32 of, u8 kind, the share's y), so both stores read the same bytes.
 */
import type { RevealedShare } from '../../shared/secagg/messages.ts';
import { decodeShareY, encodeShareY, SHARE_BYTES } from '../../shared/secagg/shamir.ts';
import type { SecAggRoundRecord } from './store.ts';

const KIND_CODE = { 'self-seed': 1, 'mask-key': 2 } as const;
const SHARE_ENTRY = 5 + SHARE_BYTES;

/** A round record as JSON text. */
export function toJson(r: SecAggRoundRecord): string {
  return JSON.stringify({
    ...r,
    params: { ...r.params, seed: Buffer.from(r.params.seed).toString('base64') },
  });
}

/** The record toJson wrote. */
export function fromJson(s: string): SecAggRoundRecord {
  const r = JSON.parse(s) as SecAggRoundRecord & { params: { seed: string } };
  return { ...r, params: { ...r.params, seed: new Uint8Array(Buffer.from(r.params.seed, 'base64')) } };
}

/** Revealed shares packed for a BLOB / BYTEA column. */
export function packShares(shares: RevealedShare[]): Buffer {
  const b = Buffer.alloc(shares.length * SHARE_ENTRY);
  shares.forEach((s, i) => {
    b.writeUInt32LE(s.of, i * SHARE_ENTRY);
    b.writeUInt8(KIND_CODE[s.kind], i * SHARE_ENTRY + 4);
    b.set(encodeShareY(s.y), i * SHARE_ENTRY + 5);
  });
  return b;
}

/** The shares packShares wrote; throws on a corrupt entry. */
export function unpackShares(b: Uint8Array): RevealedShare[] {
  const out: RevealedShare[] = [];
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let o = 0; o < b.length; o += SHARE_ENTRY) {
    const y = decodeShareY(b.subarray(o + 5, o + SHARE_ENTRY));
    if (!y) throw new Error('stored share is corrupt');
    out.push({ of: v.getUint32(o, true), kind: v.getUint8(o + 4) === 1 ? 'self-seed' : 'mask-key', y });
  }
  return out;
}

/** A driver's Buffer as a plain view of the same bytes. */
export const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/**
 * The row shapes both stores read back (SQLite and PostgreSQL share column names) and their mappers to the
 * records of types.ts, plus the byte views of the float columns. One copy, so the two stores cannot drift.
 */
import { FedrankError } from '../../shared/errors.ts';
import type { RoundAccumulator, RoundRecord, UpdateRecord } from './types.ts';

/** A row of `rounds`. */
export interface RoundRow {
  id: number;
  base_version: number;
  opened_at: string;
  closed_at: string | null;
  state: 'open' | 'closed';
  /** PostgreSQL only: the open round's accepted count over all processes. */
  accepted?: number;
  participants: number;
  weight_sum: number;
  noise_std: number | null;
  sigma: number | null;
  q: number | null;
  epsilon_after: number | null;
  result_version: number | null;
}

/** A row of `updates`. */
export interface UpdateRow {
  idem_key: string;
  client_id: string;
  round_id: number;
  payload_hash: string;
  base_version: number;
  weight: number;
  model_version: number;
  received_at: string;
}

/** A persisted running sum (SQLite `round_sum`, PostgreSQL `round_partials`). */
export interface SumRow {
  sum: Buffer;
  weight: number;
  count: number;
  sq_weight_sum: number;
  max_weight: number;
}

/** Bytes of a typed array as a Buffer view (no copy). */
export function bytes(a: Float32Array | Float64Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** A copy of a float64 column as an aligned array, checked against the expected length. */
export function f64(b: Buffer, n: number): Float64Array {
  if (b.byteLength !== n * 8) throw new FedrankError('STORE_CORRUPT', `sum has ${b.byteLength} bytes`);
  return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** A copy of a float32 column as an aligned array, checked against `n` values when given. */
export function f32(b: Buffer, n?: number): Float32Array {
  if (n === undefined ? b.byteLength % 4 !== 0 : b.byteLength !== n * 4)
    throw new FedrankError('STORE_CORRUPT', `float32 column has ${b.byteLength} bytes`);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export function toRound(r: RoundRow): RoundRecord {
  return {
    id: r.id,
    baseVersion: r.base_version,
    openedAt: r.opened_at,
    closedAt: r.closed_at,
    state: r.state,
    participants: r.state === 'open' && r.accepted !== undefined ? r.accepted : r.participants,
    weightSum: r.weight_sum,
    noiseStd: r.noise_std,
    sigma: r.sigma,
    q: r.q,
    epsilonAfter: r.epsilon_after,
    resultVersion: r.result_version,
  };
}

export function toUpdate(r: UpdateRow): UpdateRecord {
  return {
    idempotencyKey: r.idem_key,
    clientId: r.client_id,
    roundId: r.round_id,
    payloadHash: r.payload_hash,
    baseVersion: r.base_version,
    weight: r.weight,
    modelVersion: r.model_version,
    receivedAt: r.received_at,
  };
}

/** The row of an update record (the inverse of toUpdate). */
export function updateRow(u: UpdateRecord): UpdateRow {
  return {
    idem_key: u.idempotencyKey,
    client_id: u.clientId,
    round_id: u.roundId,
    payload_hash: u.payloadHash,
    base_version: u.baseVersion,
    weight: u.weight,
    model_version: u.modelVersion,
    received_at: u.receivedAt,
  };
}

/**
 * The persisted form of a running sum: float32, half the bytes of the float64 sum that every batch's commit
 * rewrites. The in-memory sum stays float64; the stored copy is rounded once per commit (2^-24 relative of
 * each sum, far below the released float32 model's own rounding), and only a restart or a multi-process
 * merge reads it back.
 */
export function sumBytes(sum: Float64Array): Buffer {
  // The constructor converts natively; Float32Array.from goes through the iterator (about twice as slow).
  return bytes(new Float32Array(sum));
}

/** A persisted running sum: float32 (sumBytes), or float64 as written before float32 sums. */
export function toAcc(p: SumRow, n: number): RoundAccumulator {
  const sum = p.sum.byteLength === n * 4 ? new Float64Array(f32(p.sum, n)) : f64(p.sum, n);
  return {
    sum,
    weight: p.weight,
    count: p.count,
    sqWeightSum: p.sq_weight_sum,
    maxWeight: p.max_weight,
  };
}

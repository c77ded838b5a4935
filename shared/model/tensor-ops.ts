/**
 * The ranker's parameter-touching tensor ops, each with an optional gradient capture. Normally an op is the
 * plain tfjs op (with a scatter gradient for table gathers). With a GradCapture, the op's backward pass
 * records the gradient flowing into it per example row, so one batched backward pass over many clients
 * yields every client's own gradient (see client-gradients.ts); the parameters themselves then get zeros.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ParamBlock } from './spec.ts';

/**
 * A recorded pooling of embedding-table rows: host indices and weights, and dL/d(pooled row); slot s of
 * row r then has gradient w[r, s] * dy[r].
 */
export interface CapturedGather {
  /** Table row per slot, rows x slots row-major. */
  idx: Int32Array;
  /** Pooling weight per slot (0 marks padding). */
  w: Float32Array;
  /** Group (client) of each pooled row. */
  group: Int32Array;
  slots: number;
  /** Gradient w.r.t. the pooled rows, [rows, D] (kept; the reader disposes it). */
  dy: tf.Tensor;
}

/** A recorded use of a dense parameter block by a batch of per-example rows. */
export interface CapturedDense {
  block: Exclude<ParamBlock['name'], 'emb'>;
  /** Group (client) of each row. */
  group: Int32Array;
  /** The row inputs multiplied by the block (matrix blocks only), [B, D] (kept). */
  x: tf.Tensor | null;
  /** Gradient w.r.t. the op's output, [B, width] (kept). */
  dy: tf.Tensor;
}

/**
 * Recorded scores of every example against negatives all clients share: the negatives' table slots, and
 * per example its user vector and dL/d(score); client c's gradient of negative s is sum over its examples
 * of dy[b, s] * u[b], spread over the negative's table rows by their pooling weights.
 */
export interface CapturedScores {
  /** Table row per slot of each shared negative, items x slots row-major. */
  idx: Int32Array;
  w: Float32Array;
  slots: number;
  /** Group (client) of each example. */
  group: Int32Array;
  /** User vectors [B, D] (kept). */
  u: tf.Tensor;
  /** Gradient w.r.t. the scores [B, items] (kept). */
  dy: tf.Tensor;
}

/** Everything one captured backward pass recorded. */
export interface GradCapture {
  gathers: CapturedGather[];
  dense: CapturedDense[];
  scores: CapturedScores[];
}

/** A fresh, empty capture. */
export function newCapture(): GradCapture {
  return { gathers: [], dense: [], scores: [] };
}

/** Frees the tensors a capture holds. */
export function disposeCapture(cap: GradCapture): void {
  for (const g of cap.gathers) g.dy.dispose();
  for (const d of cap.dense) {
    d.x?.dispose();
    d.dy.dispose();
  }
  for (const s of cap.scores) {
    s.u.dispose();
    s.dy.dispose();
  }
  cap.gathers.length = 0;
  cap.dense.length = 0;
  cap.scores.length = 0;
}

/** How a pooling is recorded under capture. */
export interface PoolRecord {
  cap: GradCapture;
  group: Int32Array;
}

/** Keeps a tensor alive past the enclosing tidy (a clone, so the engine may free the original). */
function kept(t: tf.Tensor): tf.Tensor {
  return tf.keep(t.clone());
}

/** Weighted sums of table rows, in JS over the host copy of the table. */
function poolHost(
  table: tf.Tensor,
  idx: Int32Array,
  w: Float32Array,
  rows: number,
  slots: number,
): tf.Tensor2D {
  const src = hostValues(table);
  const n = table.shape[0]!;
  const D = table.shape[1]!;
  const out = new Float32Array(rows * D);
  for (let i = 0; i < idx.length; i++) {
    const wt = w[i]!;
    if (wt === 0) continue; // padding
    const row = idx[i]!;
    if (!(row >= 0 && row < n)) throw new RangeError(`table row ${row} outside [0, ${n})`);
    const from = row * D;
    const at = Math.floor(i / slots) * D;
    for (let d = 0; d < D; d++) out[at + d]! += wt * src[from + d]!;
  }
  return tf.tensor2d(out, [rows, D]);
}

/** The pooling's gradient w.r.t. the table: each slot's weight times its row's dy, added onto its table row. */
function scatterPooledHost(
  shape: number[],
  idx: Int32Array,
  w: Float32Array,
  slots: number,
  dy: tf.Tensor,
): tf.Tensor {
  const D = shape[1]!;
  const g = new Float32Array(shape[0]! * D);
  const dv = dy.dataSync() as Float32Array;
  for (let i = 0; i < idx.length; i++) {
    const wt = w[i]!;
    if (wt === 0) continue;
    const at = idx[i]! * D;
    const from = Math.floor(i / slots) * D;
    for (let d = 0; d < D; d++) g[at + d]! += wt * dv[from + d]!;
  }
  return tf.tensor(g, shape);
}

/**
 * Weighted sums of embedding-table rows: out[r] = sum over s of w[r, s] * table[idx[r, s]], [rows, D].
 * `grad` selects a gradient w.r.t. the table (one scatter); with a record, dL/d(out) is recorded per row
 * instead and the table gets zeros. On host backends the pooling and its scatter are JS loops over the
 * table: no [rows, slots, D] intermediate, whose gather, product and sum gradient cost several times the
 * loops. GPU backends build it from gather, mul and sum.
 */
export function pooledRows(
  table: tf.Tensor,
  idx: Int32Array,
  w: Float32Array,
  rows: number,
  slots: number,
  grad: boolean,
  record: PoolRecord | null,
): tf.Tensor2D {
  const host = onHost(table);
  const shape = table.shape;
  const w3 = (): tf.Tensor => tf.tensor3d(w, [rows, slots, 1]);
  if (!record && !(host && grad)) {
    if (host) return poolHost(table, idx, w, rows, slots);
    const ix = tf.tensor2d(idx, [rows, slots], 'int32');
    return tf.sum(tf.mul(gatherRows(table, ix, grad), w3()), 1);
  }
  const f = tf.customGrad(((t: tf.Tensor, i: tf.Tensor) => ({
    value: host ? poolHost(t, idx, w, rows, slots) : tf.sum(tf.mul(tf.gather(t, i), w3()), 1),
    gradFunc: (dy: tf.Tensor) => {
      if (!record) return [scatterPooledHost(shape, idx, w, slots, dy), tf.zeros(i.shape, 'int32')];
      record.cap.gathers.push({ idx, w, group: record.group, slots, dy: kept(dy) });
      return [tf.zeros(shape), tf.zeros(i.shape, 'int32')];
    },
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(table, tf.tensor2d(idx, [rows, slots], 'int32')) as tf.Tensor2D;
}

/** What sharedScores records under capture (everything but the tensors). */
export type ScoresRecord = Omit<CapturedScores, 'u' | 'dy'> & { cap: GradCapture };

/**
 * a x b (b transposed when `transposeB`) whose backward pass hands (a, dL/d(ab)) to `record` and sends no
 * gradient into b: under capture, b's per-client gradient is rebuilt from what was recorded.
 */
function recordedMatMul(
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  transposeB: boolean,
  record: (a: tf.Tensor, dy: tf.Tensor) => void,
): tf.Tensor2D {
  const shape = b.shape;
  const f = tf.customGrad(((ai: tf.Tensor2D, bi: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([ai, bi]);
    return {
      value: tf.matMul(ai, bi, false, transposeB),
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [as, bs] = saved as [tf.Tensor2D, tf.Tensor2D];
        record(kept(as), kept(dy));
        return [tf.matMul(dy, bs, false, !transposeB), tf.zeros(shape)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(a, b) as tf.Tensor2D;
}

/**
 * Scores [B, S] of every example's user vector u [B, D] against shared item vectors v [S, D]. Under
 * capture, records u and dL/d(scores) so the items' gradient is split by client later (the gradient
 * flowing back into v is then zero, so the items' own table gather must not be recorded).
 */
export function sharedScores(u: tf.Tensor2D, v: tf.Tensor2D, record: ScoresRecord | null): tf.Tensor2D {
  if (!record) return tf.matMul(u, v, false, true);
  const { cap, ...rest } = record;
  return recordedMatMul(u, v, true, (us, dy) => cap.scores.push({ ...rest, u: us, dy }));
}

/** x [B, D] times the parameter matrix W [D, D]; under capture, records x and dL/d(xW) per row. */
export function mulParam(
  x: tf.Tensor2D,
  W: tf.Variable,
  block: 'wLast' | 'wHist',
  cap: GradCapture | null,
  group: Int32Array,
): tf.Tensor2D {
  if (!cap) return tf.matMul(x, W as tf.Tensor2D);
  return recordedMatMul(x, W as tf.Tensor2D, false, (xs, dy) => cap.dense.push({ block, group, x: xs, dy }));
}

/** x [B, K] plus the parameter vector p [K] (broadcast); under capture, records dL/d(x+p) per row. */
export function addParam(
  x: tf.Tensor2D,
  p: tf.Variable,
  block: 'posLogits' | 'userBias',
  cap: GradCapture | null,
  group: Int32Array,
): tf.Tensor2D {
  if (!cap) return tf.add(x, p);
  const shape = p.shape;
  const f = tf.customGrad(((xi: tf.Tensor2D, pi: tf.Tensor) => ({
    value: tf.add(xi, pi),
    gradFunc: (dy: tf.Tensor2D) => {
      cap.dense.push({ block, group, x: null, dy: kept(dy) });
      return [dy, tf.zeros(shape)];
    },
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x, p) as tf.Tensor2D;
}

/** Backends whose tensors live in host memory, where reading a table costs a copy, not a device sync. */
const HOST_BACKENDS = new Set(['wasm', 'cpu']);

/** Whether `t` is a float tensor on a host-memory backend. */
function onHost(t: tf.Tensor): boolean {
  return t.dtype === 'float32' && HOST_BACKENDS.has(tf.getBackend());
}

/** Host copies of tensor data, by data id: tfjs never writes into a tensor's data (assign swaps the id). */
const hostCopies = new WeakMap<object, Float32Array>();

/** A tensor's values on a host backend, read once per data (one table serves several gathers a step). */
function hostValues(t: tf.Tensor): Float32Array {
  const known = hostCopies.get(t.dataId);
  if (known) return known;
  const v = t.dataSync() as Float32Array;
  hostCopies.set(t.dataId, v);
  return v;
}

/**
 * tf.gather(table, indices) along axis 0, without gradient. On host-memory backends the rows are copied
 * in JS: tfjs-wasm's gather kernel computes every value's source index (~38 ns a value on this project's
 * machine), 4x slower than copying rows and uploading them. GPU backends keep the kernel (no read-back).
 */
export function gatherValue(table: tf.Tensor, indices: tf.Tensor): tf.Tensor {
  if (!onHost(table)) return tf.gather(table, indices);
  const idx = indices.dataSync() as Int32Array;
  const src = hostValues(table);
  const rows = table.shape[0]!;
  const width = rows > 0 ? table.size / rows : 0;
  const out = new Float32Array(idx.length * width);
  for (let i = 0; i < idx.length; i++) {
    const r = idx[i]!;
    if (!(r >= 0 && r < rows)) throw new RangeError(`gather index ${r} outside [0, ${rows})`);
    out.set(src.subarray(r * width, (r + 1) * width), i * width);
  }
  return tf.tensor(out, [...indices.shape, ...table.shape.slice(1)], 'float32');
}

/**
 * tf.gather whose gradient is one scatterND (duplicates summed) instead of tfjs's unsortedSegmentSum,
 * which the CPU backend runs as one masked pass per table row: thousands of times slower for our tables.
 */
export function gatherRows<R extends tf.Rank>(
  table: tf.Tensor,
  indices: tf.Tensor,
  grad: boolean,
): tf.Tensor<R> {
  if (!grad) return gatherValue(table, indices) as tf.Tensor<R>;
  const rows = table.shape[0]!;
  const rest = table.shape.slice(1);
  const width = rest.reduce((a, b) => a * b, 1);
  // The indices go in as an input and are saved: customGrad disposes closure tensors before backprop.
  const f = tf.customGrad(((t: tf.Tensor, idx: tf.Tensor, save: tf.GradSaveFunc) => {
    save([idx]);
    return {
      value: gatherValue(t, idx),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const ix = saved[0]!;
        const g = tf.scatterND(tf.reshape(ix, [-1, 1]), tf.reshape(dy, [-1, width]), [rows, width]);
        return [tf.reshape(g, table.shape), tf.zerosLike(ix)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(table, indices) as tf.Tensor<R>;
}

/**
 * Reads a tensor into a fresh Float32Array and disposes it. Never return a typed array from tf.tidy: tidy
 * walks its result with for...in looking for tensors, one step per element (seconds for a large array).
 */
export function readAndDispose(t: tf.Tensor): Float32Array {
  try {
    return Float32Array.from(t.dataSync());
  } finally {
    t.dispose();
  }
}

/** readAndDispose() without blocking: `await data()` instead of dataSync(). */
export async function readAndDisposeAsync(t: tf.Tensor): Promise<Float32Array> {
  try {
    return Float32Array.from(await t.data());
  } finally {
    t.dispose();
  }
}

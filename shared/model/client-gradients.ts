/**
 * Turns one captured backward pass over many clients (tensor-ops.ts) into each client's own gradient:
 * embedding-table rows summed per (client, row), dense blocks summed per client. Exact: the batched loss
 * is the sum of the clients' own mean losses, and no parameter is shared between two clients' terms except
 * through the recorded ops, whose per-row gradients are split by client here.
 */
import type { GradCapture } from './tensor-ops.ts';
import { paramLayout } from './spec.ts';
import type { ModelSpec } from './spec.ts';

/** One client's gradient of its own mean loss, sparse in the embedding table. */
export interface ClientGradient {
  /** Embedding-table rows the client's loss touches (each once, in no particular order). */
  rows: Int32Array;
  /** Their gradients, rows.length x (dim + 1) row-major. */
  rowGrads: Float32Array;
  /** Gradient of the blocks after the table (posLogits, wLast, wHist, userBias), in layout order. */
  dense: Float32Array;
  /** The client's mean training loss. */
  loss: number;
}

/** Offset of each dense block inside ClientGradient.dense, and the dense length. */
export function denseLayout(spec: ModelSpec): { offsets: Record<string, number>; size: number } {
  const offsets: Record<string, number> = {};
  let size = 0;
  for (const b of paramLayout(spec)) {
    if (b.name === 'emb') continue;
    offsets[b.name] = size;
    size += b.size;
  }
  return { offsets, size };
}

/**
 * Splits a capture into `groups` client gradients (reads the captured tensors synchronously; the caller
 * disposes the capture). `losses` are the clients' mean losses.
 */
export function assembleClientGradients(
  spec: ModelSpec,
  cap: GradCapture,
  groups: number,
  losses: Float64Array,
): ClientGradient[] {
  const D = spec.dim + 1;
  // Pass 1: the distinct table rows of every client.
  const slotOf: Map<number, number>[] = Array.from({ length: groups }, () => new Map());
  const reads = cap.gathers.map((g) => g.dy.dataSync() as Float32Array);
  for (const g of cap.gathers) {
    for (let i = 0; i < g.idx.length; i++) {
      if (g.w[i] === 0) continue; // padding slot: zero gradient
      const m = slotOf[g.group[Math.floor(i / g.slots)]!]!;
      const row = g.idx[i]!;
      if (!m.has(row)) m.set(row, m.size);
    }
  }
  // Shared negatives: every client scored them, so each client touches all of their rows.
  const uniq = cap.scores.map(uniqueRows);
  cap.scores.forEach((sc, k) => {
    for (const c of new Set(sc.group)) {
      const m = slotOf[c]!;
      for (const row of uniq[k]!.rows) if (!m.has(row)) m.set(row, m.size);
    }
  });
  const { offsets, size } = denseLayout(spec);
  const out: ClientGradient[] = slotOf.map((m, c) => ({
    rows: Int32Array.from(m.keys()),
    rowGrads: new Float32Array(m.size * D),
    dense: new Float32Array(size),
    loss: losses[c]!,
  }));
  // Pass 2: sum the slot gradients into their client's rows.
  cap.gathers.forEach((g, k) => {
    const dy = reads[k]!;
    for (let i = 0; i < g.idx.length; i++) {
      if (g.w[i] === 0) continue;
      const c = g.group[Math.floor(i / g.slots)]!;
      const to = out[c]!.rowGrads;
      const at = slotOf[c]!.get(g.idx[i]!)! * D;
      const from = i * D;
      for (let d = 0; d < D; d++) to[at + d]! += dy[from + d]!;
    }
  });
  cap.scores.forEach((sc, k) => addSharedScores(sc, uniq[k]!, slotOf, out, D));
  for (const u of cap.dense) {
    const dy = u.dy.dataSync() as Float32Array;
    const width = u.dy.shape[1]!;
    const off = offsets[u.block]!;
    const x = u.x ? (u.x.dataSync() as Float32Array) : null;
    for (let b = 0; b < u.group.length; b++) {
      const to = out[u.group[b]!]!.dense;
      if (x) {
        // d(xW)/dW for one row: the outer product x_b^T dy_b.
        for (let i = 0; i < D; i++) {
          const xi = x[b * D + i]!;
          if (xi === 0) continue;
          const base = off + i * width;
          for (let j = 0; j < width; j++) to[base + j]! += xi * dy[b * width + j]!;
        }
      } else {
        for (let j = 0; j < width; j++) to[off + j]! += dy[b * width + j]!;
      }
    }
  }
  return out;
}

/** The distinct table rows of a shared-negative list, and each slot's index among them (-1: padding). */
interface UniqueRows {
  rows: number[];
  slotRow: Int32Array;
}

function uniqueRows(sc: GradCapture['scores'][number]): UniqueRows {
  const at = new Map<number, number>();
  const slotRow = new Int32Array(sc.idx.length).fill(-1);
  for (let i = 0; i < sc.idx.length; i++) {
    if (sc.w[i] === 0) continue;
    const row = sc.idx[i]!;
    slotRow[i] = at.get(row) ?? at.set(row, at.size).get(row)!;
  }
  return { rows: [...at.keys()], slotRow };
}

/** Adds each client's gradient of the shared negatives' table rows (see CapturedScores). */
function addSharedScores(
  sc: GradCapture['scores'][number],
  uniq: UniqueRows,
  slotOf: Map<number, number>[],
  out: ClientGradient[],
  D: number,
): void {
  const u = sc.u.dataSync() as Float32Array;
  const dy = sc.dy.dataSync() as Float32Array;
  const S = sc.dy.shape[1]!;
  const dv = new Float64Array(S * D);
  const byRow = new Float64Array(uniq.rows.length * D);
  // Examples of one client are contiguous: accumulate its dV per negative, fold it onto the distinct
  // rows, then add those into the client's rows.
  for (let b0 = 0; b0 < sc.group.length;) {
    const c = sc.group[b0]!;
    let b1 = b0;
    while (b1 < sc.group.length && sc.group[b1] === c) b1++;
    dv.fill(0);
    for (let b = b0; b < b1; b++) {
      for (let s = 0; s < S; s++) {
        const g = dy[b * S + s]!;
        if (g === 0) continue;
        for (let d = 0; d < D; d++) dv[s * D + d]! += g * u[b * D + d]!;
      }
    }
    byRow.fill(0);
    for (let i = 0; i < sc.idx.length; i++) {
      const r = uniq.slotRow[i]!;
      if (r < 0) continue;
      const wt = sc.w[i]!;
      const from = Math.floor(i / sc.slots) * D;
      for (let d = 0; d < D; d++) byRow[r * D + d]! += wt * dv[from + d]!;
    }
    const m = slotOf[c]!;
    const to = out[c]!.rowGrads;
    uniq.rows.forEach((row, r) => {
      const at = m.get(row)! * D;
      for (let d = 0; d < D; d++) to[at + d]! += byRow[r * D + d]!;
    });
    b0 = b1;
  }
}

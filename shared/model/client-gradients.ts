/**
 * Turns one captured backward pass over many clients (tensor-ops.ts) into each client's own gradient:
 * embedding-table rows summed per (client, row), dense blocks summed per client. Exact: the batched loss
 * is the sum of the clients' own mean losses, and no parameter is shared between two clients' terms except
 * through the recorded ops, whose per-row gradients are split by client here.
 */
import type { CapturedScores, GradCapture } from './tensor-ops.ts';
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
  // Pass 1: the distinct table rows of every client. Shared negatives come first: every client scored
  // them, so each client touches all of their rows, and they sit at the same slots in every client.
  const slotOf: Map<number, number>[] = Array.from({ length: groups }, () => new Map());
  const shared = cap.scores.length > 0 ? foldPlan(cap.scores[0]!) : null;
  if (cap.scores.length > 1) throw new RangeError('one list of shared negatives per capture');
  if (shared) {
    for (const c of new Set(cap.scores[0]!.group)) {
      const m = slotOf[c]!;
      for (const row of shared.rows) m.set(row, m.size);
    }
  }
  const reads = cap.gathers.map((g) => g.dy.dataSync() as Float32Array);
  for (const g of cap.gathers) {
    for (let i = 0; i < g.idx.length; i++) {
      if (g.w[i] === 0) continue; // padding slot: zero gradient
      const m = slotOf[g.group[Math.floor(i / g.slots)]!]!;
      const row = g.idx[i]!;
      if (!m.has(row)) m.set(row, m.size);
    }
  }
  const { offsets, size } = denseLayout(spec);
  const out: ClientGradient[] = slotOf.map((m, c) => ({
    rows: Int32Array.from(m.keys()),
    rowGrads: new Float32Array(m.size * D),
    dense: new Float32Array(size),
    loss: losses[c]!,
  }));
  // Pass 2: add each slot's gradient (its weight times its pooled row's) into its client's row.
  cap.gathers.forEach((g, k) => {
    const dy = reads[k]!;
    for (let i = 0; i < g.idx.length; i++) {
      if (g.w[i] === 0) continue;
      const c = g.group[Math.floor(i / g.slots)]!;
      const to = out[c]!.rowGrads;
      const at = slotOf[c]!.get(g.idx[i]!)! * D;
      const from = Math.floor(i / g.slots) * D;
      const wt = g.w[i]!;
      for (let d = 0; d < D; d++) to[at + d]! += wt * dy[from + d]!;
    }
  });
  if (shared) addSharedScores(cap.scores[0]!, shared, out, D);
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

/**
 * How the shared negatives' scores fold onto table rows: the distinct rows, and per row (CSR) the
 * negatives using it with their pooling weights.
 */
interface FoldPlan {
  rows: number[];
  start: Int32Array;
  item: Int32Array;
  weight: Float32Array;
}

function foldPlan(sc: CapturedScores): FoldPlan {
  const at = new Map<number, number>();
  const slotRow = new Int32Array(sc.idx.length).fill(-1);
  for (let i = 0; i < sc.idx.length; i++) {
    if (sc.w[i] === 0) continue; // padding slot
    const row = sc.idx[i]!;
    slotRow[i] = at.get(row) ?? at.set(row, at.size).get(row)!;
  }
  const start = new Int32Array(at.size + 1);
  for (const r of slotRow) if (r >= 0) start[r + 1]!++;
  for (let r = 0; r < at.size; r++) start[r + 1]! += start[r]!;
  const fill = start.slice(0, at.size);
  const item = new Int32Array(start[at.size]!);
  const weight = new Float32Array(item.length);
  slotRow.forEach((r, i) => {
    if (r < 0) return;
    const k = fill[r]!++;
    item[k] = Math.floor(i / sc.slots);
    weight[k] = sc.w[i]!;
  });
  return { rows: [...at.keys()], start, item, weight };
}

/**
 * Adds each client's gradient of the shared negatives' table rows, which lead every client's row list:
 * dV_c = dy_c^T u_c over the client's contiguous examples, folded onto the rows by their pooling weights.
 * Plain loops: per-client tfjs products measured slower here (op overhead and read-backs per client).
 */
function addSharedScores(sc: CapturedScores, plan: FoldPlan, out: ClientGradient[], D: number): void {
  const S = sc.dy.shape[1]!;
  const spans: [number, number, number][] = []; // client, first example, count
  for (let b0 = 0; b0 < sc.group.length;) {
    let b1 = b0;
    while (b1 < sc.group.length && sc.group[b1] === sc.group[b0]) b1++;
    spans.push([sc.group[b0]!, b0, b1 - b0]);
    b0 = b1;
  }
  const u = sc.u.dataSync() as Float32Array;
  const dy = sc.dy.dataSync() as Float32Array;
  const dv = new Float32Array(S * D);
  const { start, item, weight } = plan;
  const R = plan.rows.length;
  for (const [c, b0, n] of spans) {
    dv.fill(0);
    for (let b = b0; b < b0 + n; b++) {
      const ub = b * D;
      const gb = b * S;
      for (let s = 0; s < S; s++) {
        const g = dy[gb + s]!;
        if (g === 0) continue; // a masked negative
        const o = s * D;
        for (let d = 0; d < D; d++) dv[o + d]! += g * u[ub + d]!;
      }
    }
    const to = out[c]!.rowGrads;
    for (let r = 0; r < R; r++) {
      const at = r * D;
      for (let e = start[r]!; e < start[r + 1]!; e++) {
        const wt = weight[e]!;
        const from = item[e]! * D;
        for (let d = 0; d < D; d++) to[at + d]! += wt * dv[from + d]!;
      }
    }
  }
}

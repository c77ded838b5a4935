/**
 * The model's two towers as a tfjs graph (see spec.ts for the architecture): item vectors from pooled
 * table rows, user vectors from the recent history. Shared by scoring, training and per-client gradients;
 * `training` and `capture` select how the parameter ops differentiate (tensor-ops.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { EncodedItem } from './features.ts';
import type { UserContext } from './examples.ts';
import type { ModelSpec, ParamBlock } from './spec.ts';
import { addParam, gatherRows, mulParam, pooledRows } from './tensor-ops.ts';
import type { GradCapture } from './tensor-ops.ts';

/** The model's parameters as tfjs variables, by block. */
export type Vars = Record<ParamBlock['name'], tf.Variable>;

/** A padded logit: softmax weight exactly 0. */
export const NEG_INF = -1e9;

/** Builds tower graphs over the model variables. Every method must be called inside tf.tidy. */
export class Towers {
  /** True while a training graph is built: embedding gathers then use the scatter gradient. */
  training = false;
  /** Set while a per-client gradient graph is built: parameter ops record per-client gradients. */
  capture: GradCapture | null = null;

  constructor(
    readonly spec: ModelSpec,
    private readonly vars: Vars,
  ) {}

  /** Fills the table rows and weights of one item into slot arrays (ids weigh 1, attributes 1/sqrt(n)). */
  private fillItem(it: EncodedItem, idx: Int32Array, w: Float32Array, at: number, A: number): void {
    const H = this.spec.itemHashes;
    for (let h = 0; h < H; h++) {
      idx[at + h] = it.ids[h] ?? 0;
      w[at + h] = 1;
    }
    const na = Math.min(it.attrs.length, A);
    for (let a = 0; a < na; a++) {
      idx[at + H + a] = this.spec.itemBuckets + it.attrs[a]!;
      w[at + H + a] = 1 / Math.sqrt(na);
    }
  }

  /**
   * Weighted sum of gathered table rows: idx/w are [rows, S]; returns [rows, D]. `group` names each row's
   * client for gradient capture. Call inside tf.tidy.
   */
  pooled(idx: Int32Array, w: Float32Array, rows: number, S: number, group?: Int32Array): tf.Tensor2D {
    const cap = this.capture;
    return pooledRows(this.vars.emb, idx, w, rows, S, this.training, cap && group ? { cap, group } : null);
  }

  /** Attribute slots needed for these items. */
  private attrSlots(items: EncodedItem[]): number {
    let A = 0;
    for (const it of items) A = Math.max(A, Math.min(it.attrs.length, this.spec.maxAttrs));
    return A;
  }

  /** Item vectors [N, D] (last column = bias); `group` per item for gradient capture. Call inside tf.tidy. */
  itemRep(items: EncodedItem[], group?: Int32Array): tf.Tensor2D {
    const { idx, w, slots } = this.itemSlots(items);
    return this.pooled(idx, w, items.length, slots, group);
  }

  /** Table rows and pooling weights of items, items.length x slots row-major. */
  itemSlots(items: EncodedItem[]): { idx: Int32Array; w: Float32Array; slots: number } {
    const N = items.length;
    const A = this.attrSlots(items);
    const slots = this.spec.itemHashes + A;
    const idx = new Int32Array(N * slots);
    const w = new Float32Array(N * slots);
    for (let n = 0; n < N; n++) this.fillItem(items[n]!, idx, w, n * slots, A);
    return { idx, w, slots };
  }

  /** User vectors [B, D]; `group` per context for gradient capture. Call inside tf.tidy. */
  userRep(ctxs: UserContext[], group: Int32Array = new Int32Array(ctxs.length)): tf.Tensor2D {
    const B = ctxs.length;
    const L = this.spec.maxHistory;
    const D = this.spec.dim + 1;
    const recent = ctxs.map((c) => c.history.slice(-L).reverse()); // position 0 = most recent
    const flat = recent.flat();
    const R = flat.length;
    const A = this.attrSlots(flat);
    const S = this.spec.itemHashes + A;
    // Pool only the real history items, then lay them out [B, L] by row index; missing positions point at
    // an extra zero row and get a -inf position logit.
    const idx = new Int32Array(R * S);
    const w = new Float32Array(R * S);
    const at = new Int32Array(B * L).fill(R);
    const mask = new Float32Array(B * L).fill(NEG_INF);
    const rowGroup = new Int32Array(R);
    let r = 0;
    for (let b = 0; b < B; b++) {
      const h = recent[b]!;
      for (let p = 0; p < h.length; p++, r++) {
        rowGroup[r] = group[b]!;
        this.fillItem(h[p]!, idx, w, r * S, A);
        at[b * L + p] = r;
        mask[b * L + p] = 0;
      }
    }
    // No history at all: skip the empty pooling (a zero-row gather traps in the WASM backend).
    const rows =
      R > 0 ? tf.concat([this.pooled(idx, w, R, S, rowGroup), tf.zeros([1, D])], 0) : tf.zeros([1, D]);
    const hv = tf.reshape(gatherRows(rows, tf.tensor1d(at, 'int32'), this.training), [B, L, D]);
    const cap = this.capture;
    const pw = tf.softmax(addParam(tf.tensor2d(mask, [B, L]), this.vars.posLogits, 'posLogits', cap, group));
    const hist = tf.sum(tf.mul(hv, tf.expandDims(pw, 2)), 1) as tf.Tensor2D;
    const last = tf.reshape(tf.slice(hv, [0, 0, 0], [B, 1, D]), [B, D]) as tf.Tensor2D;
    let u: tf.Tensor2D = addParam(
      tf.add(
        mulParam(last, this.vars.wLast, 'wLast', cap, group),
        mulParam(hist, this.vars.wHist, 'wHist', cap, group),
      ),
      this.vars.userBias,
      'userBias',
      cap,
      group,
    );
    const Q = Math.min(this.spec.maxQueryTokens, Math.max(0, ...ctxs.map((c) => c.query?.length ?? 0)));
    if (Q > 0) {
      const qi = new Int32Array(B * Q);
      const qw = new Float32Array(B * Q);
      const base = this.spec.itemBuckets + this.spec.attrBuckets;
      for (let b = 0; b < B; b++) {
        const q = (ctxs[b]!.query ?? []).slice(0, Q);
        for (let j = 0; j < q.length; j++) {
          qi[b * Q + j] = base + q[j]!;
          qw[b * Q + j] = 1 / q.length;
        }
      }
      u = tf.add(u, this.pooled(qi, qw, B, Q, group));
    }
    return u;
  }
}

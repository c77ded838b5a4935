/**
 * The ranking model on tfjs-core (any backend; the caller picks it). Two towers and one dot product, so a
 * full ranking is one matrix product: see spec.ts for the architecture. Every op runs inside tf.tidy and
 * the variables are disposed explicitly, so tensor counts return to baseline.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { FedrankError } from '../errors.ts';
import type { EncodedItem } from './features.ts';
import { affinityScore, affinityTotal } from './personal.ts';
import type { PersonalState } from './personal.ts';
import { paramCount, paramLayout } from './spec.ts';
import type { ModelSpec, ParamBlock } from './spec.ts';

/** What the model knows about the shopper when ranking. */
export interface UserContext {
  /** Positive interactions, oldest first (only the last spec.maxHistory are used). */
  history: EncodedItem[];
  /** Hashed query tokens when searching. */
  query?: number[];
  /** On-device personal state: adds the affinity bonus to scores. */
  personal?: PersonalState;
}

/** One training example: the context, the item the shopper chose, and items they did not. */
export interface TrainingExample {
  context: UserContext;
  positive: EncodedItem;
  negatives: EncodedItem[];
}

/** Options of one training step. */
export interface TrainOptions {
  learningRate: number;
  /** 'sgd' (default; what federated clients use) or 'adam' (centralized training). */
  optimizer?: 'sgd' | 'adam';
  /** Negatives shared by every example of the batch (scored by one matrix product; cheap). */
  sharedNegatives?: EncodedItem[];
  /** Also use the other examples' positives as negatives (in-batch softmax). */
  inBatchNegatives?: boolean;
}

type Vars = Record<ParamBlock['name'], tf.Variable>;

const NEG_INF = -1e9;

/** The ranking model: global parameters as tfjs variables plus scoring and training. */
export class Ranker {
  readonly spec: ModelSpec;
  /** Width of userVectors()/itemVectors() rows: spec.dim plus one column carrying the item bias. */
  readonly vectorDim: number;
  private readonly layout: ParamBlock[];
  private readonly vars: Vars;
  private adam: tf.Optimizer | null = null;
  private adamRate = 0;
  private disposed = false;

  constructor(spec: ModelSpec, global: Float32Array) {
    this.spec = spec;
    this.vectorDim = spec.dim + 1;
    this.layout = paramLayout(spec);
    checkLength(spec, global);
    const vars: Partial<Vars> = {};
    for (const b of this.layout) {
      vars[b.name] = tf.tidy(() =>
        tf.variable(tf.tensor(global.slice(b.offset, b.offset + b.size), b.shape, 'float32'), true),
      );
    }
    this.vars = vars as Vars;
  }

  /** Replaces the global parameters (e.g. a new model version). */
  setGlobal(p: Float32Array): void {
    checkLength(this.spec, p);
    for (const b of this.layout) {
      tf.tidy(() => this.vars[b.name].assign(tf.tensor(p.subarray(b.offset, b.offset + b.size), b.shape)));
    }
  }

  /** The global parameters flattened in layout order (a copy). */
  getGlobal(): Float32Array {
    const out = new Float32Array(paramCount(this.spec));
    for (const b of this.layout) out.set(this.vars[b.name].dataSync() as Float32Array, b.offset);
    return out;
  }

  /** User vectors, B x vectorDim row-major (last column is 1, pairing with the item bias). */
  userVectors(ctxs: UserContext[]): Float32Array {
    return tf.tidy(() => {
      const u = this.userRep(ctxs);
      return tf.concat([u, tf.ones([ctxs.length, 1])], 1).dataSync() as Float32Array;
    });
  }

  /** Item vectors, N x vectorDim row-major (last column is the item bias). */
  itemVectors(items: EncodedItem[]): Float32Array {
    return tf.tidy(() => {
      const { vec, bias } = this.itemRep(items);
      return tf.concat([vec, tf.reshape(bias, [-1, 1])], 1).dataSync() as Float32Array;
    });
  }

  /** Scores of the candidates for this shopper (higher ranks first), including the personal bonus. */
  score(ctx: UserContext, candidates: EncodedItem[]): Float32Array {
    if (candidates.length === 0) return new Float32Array(0);
    const s = tf.tidy(() => {
      const u = this.userRep([ctx]);
      const { vec, bias } = this.itemRep(candidates);
      return tf.add(tf.reshape(tf.matMul(vec, u, false, true), [-1]), bias).dataSync() as Float32Array;
    });
    const out = Float32Array.from(s);
    const p = ctx.personal;
    if (p && this.spec.personalWeight > 0) {
      const total = affinityTotal(p);
      for (let i = 0; i < candidates.length; i++) {
        out[i]! += this.spec.personalWeight * affinityScore(p, candidates[i]!, total);
      }
    }
    return out;
  }

  /**
   * One gradient step of sampled-softmax cross-entropy (positive vs. the example's negatives, plus shared
   * and in-batch negatives when asked). Returns the mean loss before the step.
   */
  train(batch: TrainingExample[], opts: TrainOptions): number {
    if (batch.length === 0) return 0;
    const B = batch.length;
    const K = Math.max(0, ...batch.map((e) => e.negatives.length));
    const shared = opts.sharedNegatives ?? [];
    // Constant logit offsets: personal bonus, and -inf for padded per-example negatives.
    const own = new Float32Array(B * (1 + K));
    const sharedOff = new Float32Array(B * shared.length);
    const inBatch = opts.inBatchNegatives === true && B > 1;
    const inBatchOff = new Float32Array(inBatch ? B * B : 0);
    const pw = this.spec.personalWeight;
    for (let b = 0; b < B; b++) {
      const ex = batch[b]!;
      const p = ex.context.personal;
      const total = p && pw > 0 ? affinityTotal(p) : 0;
      const bonus = (it: EncodedItem): number => (p && total > 0 ? pw * affinityScore(p, it, total) : 0);
      for (let k = 0; k <= K; k++) {
        const item = k === 0 ? ex.positive : ex.negatives[k - 1];
        own[b * (1 + K) + k] = item === undefined ? NEG_INF : bonus(item);
      }
      if (total > 0) {
        for (let s = 0; s < shared.length; s++) sharedOff[b * shared.length + s] = bonus(shared[s]!);
      }
      // Row b's positive is column b of the in-batch block: masked so an example is not its own negative.
      for (let j = 0; inBatch && j < B; j++)
        inBatchOff[b * B + j] = j === b ? NEG_INF : bonus(batch[j]!.positive);
    }
    const f = (): tf.Scalar => {
      const u = this.userRep(batch.map((e) => e.context)); // [B, d]
      const flat: EncodedItem[] = [];
      for (const ex of batch) {
        flat.push(ex.positive);
        for (let k = 0; k < K; k++) flat.push(ex.negatives[k] ?? ex.positive);
      }
      const { vec, bias } = this.itemRep(flat);
      const v3 = tf.reshape(vec, [B, 1 + K, this.spec.dim]);
      let logits: tf.Tensor = tf.add(
        tf.add(tf.sum(tf.mul(tf.expandDims(u, 1), v3), 2), tf.reshape(bias, [B, 1 + K])),
        tf.tensor2d(own, [B, 1 + K]),
      );
      if (shared.length > 0) {
        const sr = this.itemRep(shared);
        const sl = tf.add(
          tf.add(tf.matMul(u, sr.vec, false, true), sr.bias),
          tf.tensor2d(sharedOff, [B, shared.length]),
        );
        logits = tf.concat([logits, sl], 1);
      }
      if (inBatch) {
        const pos = tf.reshape(tf.slice(v3, [0, 0, 0], [B, 1, this.spec.dim]), [B, this.spec.dim]);
        const posBias = tf.reshape(tf.slice(tf.reshape(bias, [B, 1 + K]), [0, 0], [B, 1]), [B]);
        const ib = tf.add(tf.matMul(u, pos, false, true), posBias);
        logits = tf.concat([logits, tf.add(ib, tf.tensor2d(inBatchOff, [B, B]))], 1);
      }
      const logp = tf.logSoftmax(logits);
      return tf.neg(tf.mean(tf.slice(logp, [0, 0], [B, 1]))) as tf.Scalar;
    };
    return tf.tidy(() => {
      const varList = Object.values(this.vars);
      const { value, grads } = tf.variableGrads(f, varList);
      if (opts.optimizer === 'adam') {
        if (!this.adam || this.adamRate !== opts.learningRate) {
          this.adam?.dispose();
          this.adam = tf.train.adam(opts.learningRate);
          this.adamRate = opts.learningRate;
        }
        this.adam.applyGradients(grads);
      } else {
        for (const v of varList) {
          const g = grads[v.name];
          if (g) v.assign(tf.sub(v, tf.mul(g, opts.learningRate)));
        }
      }
      return value.dataSync()[0]!;
    });
  }

  /** Frees the variables (and optimizer state); the ranker is unusable afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.adam?.dispose();
    this.adam = null;
    for (const v of Object.values(this.vars)) v.dispose();
  }

  /** Item vectors [N, d] and biases [N]; call inside tf.tidy. */
  private itemRep(items: EncodedItem[]): { vec: tf.Tensor2D; bias: tf.Tensor1D } {
    const N = items.length;
    const H = this.spec.itemHashes;
    const ids = new Int32Array(N * H);
    let A = 0;
    for (const it of items) A = Math.max(A, Math.min(it.attrs.length, this.spec.maxAttrs));
    const attrIdx = new Int32Array(N * Math.max(A, 1));
    const attrW = new Float32Array(N * Math.max(A, 1));
    for (let n = 0; n < N; n++) {
      const it = items[n]!;
      for (let h = 0; h < H; h++) ids[n * H + h] = it.ids[h] ?? 0;
      const na = Math.min(it.attrs.length, this.spec.maxAttrs);
      for (let a = 0; a < na; a++) {
        attrIdx[n * A + a] = it.attrs[a]!;
        attrW[n * A + a] = 1 / Math.sqrt(na);
      }
    }
    const idT = tf.tensor2d(ids, [N, H], 'int32');
    let vec: tf.Tensor2D = tf.sum(gatherRows(this.vars.itemEmb, idT), 1);
    const bias: tf.Tensor1D = tf.sum(gatherRows(this.vars.itemBias, idT), 1);
    if (A > 0) {
      const at = gatherRows(this.vars.attrEmb, tf.tensor2d(attrIdx, [N, A], 'int32')); // [N, A, d]
      vec = tf.add(vec, tf.sum(tf.mul(at, tf.tensor3d(attrW, [N, A, 1])), 1));
    }
    return { vec, bias };
  }

  /** User vectors [B, d]; call inside tf.tidy. */
  private userRep(ctxs: UserContext[]): tf.Tensor2D {
    const B = ctxs.length;
    const L = this.spec.maxHistory;
    const d = this.spec.dim;
    const flat: EncodedItem[] = [];
    const mask = new Float32Array(B * L);
    const has = new Float32Array(B);
    const pad: EncodedItem = { ids: new Array<number>(this.spec.itemHashes).fill(0), attrs: [] };
    for (let b = 0; b < B; b++) {
      const h = ctxs[b]!.history;
      has[b] = h.length > 0 ? 1 : 0;
      // Position 0 is the most recent item.
      for (let p = 0; p < L; p++) {
        const it = h[h.length - 1 - p];
        flat.push(it ?? pad);
        mask[b * L + p] = it ? 0 : NEG_INF;
      }
    }
    const hv = tf.reshape(this.itemRep(flat).vec, [B, L, d]);
    const w = tf.mul(
      tf.softmax(tf.add(tf.reshape(this.vars.posLogits, [1, L]), tf.tensor2d(mask, [B, L]))),
      tf.tensor2d(has, [B, 1]),
    );
    const hist = tf.sum(tf.mul(hv, tf.expandDims(w, 2)), 1) as tf.Tensor2D;
    const last = tf.mul(tf.reshape(tf.slice(hv, [0, 0, 0], [B, 1, d]), [B, d]), tf.tensor2d(has, [B, 1]));
    let u: tf.Tensor2D = tf.add(
      tf.add(
        tf.matMul(last, this.vars.wLast as tf.Tensor2D),
        tf.matMul(hist, this.vars.wHist as tf.Tensor2D),
      ),
      this.vars.userBias,
    );
    const Q = Math.min(this.spec.maxQueryTokens, Math.max(0, ...ctxs.map((c) => c.query?.length ?? 0)));
    if (Q > 0) {
      const qi = new Int32Array(B * Q);
      const qw = new Float32Array(B * Q);
      for (let b = 0; b < B; b++) {
        const q = (ctxs[b]!.query ?? []).slice(0, Q);
        for (let j = 0; j < q.length; j++) {
          qi[b * Q + j] = q[j]!;
          qw[b * Q + j] = 1 / q.length;
        }
      }
      const qe = gatherRows(this.vars.queryEmb, tf.tensor2d(qi, [B, Q], 'int32'));
      u = tf.add(u, tf.sum(tf.mul(qe, tf.tensor3d(qw, [B, Q, 1])), 1));
    }
    return u;
  }
}

/**
 * tf.gather whose gradient is one scatterND (duplicates summed) instead of tfjs's unsortedSegmentSum,
 * which the CPU backend runs as one masked pass per table row: thousands of times slower for our tables.
 */
function gatherRows<R extends tf.Rank>(table: tf.Tensor, indices: tf.Tensor): tf.Tensor<R> {
  const rows = table.shape[0]!;
  const rest = table.shape.slice(1);
  const width = rest.reduce((a, b) => a * b, 1);
  // The indices go in as an input and are saved: customGrad disposes closure tensors before backprop.
  const f = tf.customGrad(((t: tf.Tensor, idx: tf.Tensor, save: tf.GradSaveFunc) => {
    save([idx]);
    return {
      value: tf.gather(t, idx),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const ix = saved[0]!;
        const g = tf.scatterND(tf.reshape(ix, [-1, 1]), tf.reshape(dy, [-1, width]), [rows, width]);
        return [tf.reshape(g, table.shape), tf.zerosLike(ix)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(table, indices) as tf.Tensor<R>;
}

function checkLength(spec: ModelSpec, p: Float32Array): void {
  const n = paramCount(spec);
  if (p.length !== n) {
    throw new FedrankError('CODEC_COUNT_MISMATCH', `expected ${n} parameters, got ${p.length}`);
  }
}

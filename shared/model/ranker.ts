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
  /** Width of userVectors()/itemVectors() rows: spec.dim plus the bias coordinate (see spec.ts). */
  readonly vectorDim: number;
  private readonly layout: ParamBlock[];
  private readonly vars: Vars;
  private adam: tf.Optimizer | null = null;
  private adamRate = 0;
  private disposed = false;
  /** True while train() builds its graph: embedding gathers then use the scatter gradient. */
  private training = false;

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

  /** getGlobal() with an asynchronous read-back (no blocking GPU read on WebGPU/WebGL). */
  async getGlobalAsync(): Promise<Float32Array> {
    const out = new Float32Array(paramCount(this.spec));
    for (const b of this.layout) out.set((await this.vars[b.name].data()) as Float32Array, b.offset);
    return out;
  }

  /**
   * User vectors, B x vectorDim row-major. dot(user, item) is score() without the personal bonus, so a
   * full ranking is one matrix product.
   */
  userVectors(ctxs: UserContext[]): Float32Array {
    if (ctxs.length === 0) return new Float32Array(0);
    return readAndDispose(tf.tidy(() => this.userRep(ctxs)));
  }

  /** userVectors() with an asynchronous read-back. */
  async userVectorsAsync(ctxs: UserContext[]): Promise<Float32Array> {
    if (ctxs.length === 0) return new Float32Array(0);
    return readAndDisposeAsync(tf.tidy(() => this.userRep(ctxs)));
  }

  /** itemVectors() with an asynchronous read-back. */
  async itemVectorsAsync(items: EncodedItem[]): Promise<Float32Array> {
    if (items.length === 0) return new Float32Array(0);
    return readAndDisposeAsync(tf.tidy(() => this.itemRep(items)));
  }

  /** Item vectors, N x vectorDim row-major (last column is the item bias). */
  itemVectors(items: EncodedItem[]): Float32Array {
    if (items.length === 0) return new Float32Array(0);
    return readAndDispose(tf.tidy(() => this.itemRep(items)));
  }

  /** Scores of the candidates for this shopper (higher ranks first), including the personal bonus. */
  score(ctx: UserContext, candidates: EncodedItem[]): Float32Array {
    if (candidates.length === 0) return new Float32Array(0);
    return this.addPersonal(ctx, candidates, readAndDispose(this.scoreTensor(ctx, candidates)));
  }

  /** score() with an asynchronous read-back. */
  async scoreAsync(ctx: UserContext, candidates: EncodedItem[]): Promise<Float32Array> {
    if (candidates.length === 0) return new Float32Array(0);
    return this.addPersonal(ctx, candidates, await readAndDisposeAsync(this.scoreTensor(ctx, candidates)));
  }

  /** Model scores [N] of the candidates (the caller reads and disposes). */
  private scoreTensor(ctx: UserContext, candidates: EncodedItem[]): tf.Tensor {
    return tf.tidy(() => {
      const u = this.userRep([ctx]);
      return tf.reshape(tf.matMul(this.itemRep(candidates), u, false, true), [-1]);
    });
  }

  /** Adds the on-device personal bonus to model scores, in place. */
  private addPersonal(ctx: UserContext, candidates: EncodedItem[], out: Float32Array): Float32Array {
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
    const loss = this.trainStep(batch, opts);
    try {
      return loss.dataSync()[0]!;
    } finally {
      loss.dispose();
    }
  }

  /** train() with an asynchronous read-back of the loss (the step itself is the same). */
  async trainAsync(batch: TrainingExample[], opts: TrainOptions): Promise<number> {
    if (batch.length === 0) return 0;
    const loss = this.trainStep(batch, opts);
    try {
      return (await loss.data())[0]!;
    } finally {
      loss.dispose();
    }
  }

  /** One step; returns the loss before the step as a scalar tensor the caller disposes. */
  private trainStep(batch: TrainingExample[], opts: TrainOptions): tf.Scalar {
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
      const D = this.vectorDim;
      const u = this.userRep(batch.map((e) => e.context)); // [B, D]
      const flat: EncodedItem[] = [];
      for (const ex of batch) {
        flat.push(ex.positive);
        for (let k = 0; k < K; k++) flat.push(ex.negatives[k] ?? ex.positive);
      }
      const v3 = tf.reshape(this.itemRep(flat), [B, 1 + K, D]);
      let logits: tf.Tensor = tf.add(
        tf.sum(tf.mul(tf.expandDims(u, 1), v3), 2),
        tf.tensor2d(own, [B, 1 + K]),
      );
      if (shared.length > 0) {
        const sl = tf.matMul(u, this.itemRep(shared), false, true);
        logits = tf.concat([logits, tf.add(sl, tf.tensor2d(sharedOff, [B, shared.length]))], 1);
      }
      if (inBatch) {
        const pos = tf.reshape(tf.slice(v3, [0, 0, 0], [B, 1, D]), [B, D]);
        const ib = tf.matMul(u, pos, false, true);
        logits = tf.concat([logits, tf.add(ib, tf.tensor2d(inBatchOff, [B, B]))], 1);
      }
      const logp = tf.logSoftmax(logits);
      return tf.neg(tf.mean(tf.slice(logp, [0, 0], [B, 1]))) as tf.Scalar;
    };
    return tf.tidy(() => {
      const varList = Object.values(this.vars);
      this.training = true;
      let result: { value: tf.Scalar; grads: tf.NamedTensorMap };
      try {
        result = tf.variableGrads(f, varList);
      } finally {
        this.training = false;
      }
      const { value, grads } = result;
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
      return value;
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

  /** Weighted sum of gathered table rows: idx/w are [rows, S]; returns [rows, D]. Call inside tf.tidy. */
  private pooled(idx: Int32Array, w: Float32Array, rows: number, S: number): tf.Tensor2D {
    const g = gatherRows(this.vars.emb, tf.tensor2d(idx, [rows, S], 'int32'), this.training); // [rows, S, D]
    return tf.sum(tf.mul(g, tf.tensor3d(w, [rows, S, 1])), 1);
  }

  /** Attribute slots needed for these items. */
  private attrSlots(items: EncodedItem[]): number {
    let A = 0;
    for (const it of items) A = Math.max(A, Math.min(it.attrs.length, this.spec.maxAttrs));
    return A;
  }

  /** Item vectors [N, D] (last column = bias); call inside tf.tidy. */
  private itemRep(items: EncodedItem[]): tf.Tensor2D {
    const N = items.length;
    const A = this.attrSlots(items);
    const S = this.spec.itemHashes + A;
    const idx = new Int32Array(N * S);
    const w = new Float32Array(N * S);
    for (let n = 0; n < N; n++) this.fillItem(items[n]!, idx, w, n * S, A);
    return this.pooled(idx, w, N, S);
  }

  /** User vectors [B, D]; call inside tf.tidy. */
  private userRep(ctxs: UserContext[]): tf.Tensor2D {
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
    let r = 0;
    for (let b = 0; b < B; b++) {
      const h = recent[b]!;
      for (let p = 0; p < h.length; p++, r++) {
        this.fillItem(h[p]!, idx, w, r * S, A);
        at[b * L + p] = r;
        mask[b * L + p] = 0;
      }
    }
    // No history at all: skip the empty pooling (a zero-row gather traps in the WASM backend).
    const rows = R > 0 ? tf.concat([this.pooled(idx, w, R, S), tf.zeros([1, D])], 0) : tf.zeros([1, D]);
    const hv = tf.reshape(gatherRows(rows, tf.tensor1d(at, 'int32'), this.training), [B, L, D]);
    const pw = tf.softmax(tf.add(tf.reshape(this.vars.posLogits, [1, L]), tf.tensor2d(mask, [B, L])));
    const hist = tf.sum(tf.mul(hv, tf.expandDims(pw, 2)), 1) as tf.Tensor2D;
    const last = tf.reshape(tf.slice(hv, [0, 0, 0], [B, 1, D]), [B, D]);
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
      const base = this.spec.itemBuckets + this.spec.attrBuckets;
      for (let b = 0; b < B; b++) {
        const q = (ctxs[b]!.query ?? []).slice(0, Q);
        for (let j = 0; j < q.length; j++) {
          qi[b * Q + j] = base + q[j]!;
          qw[b * Q + j] = 1 / q.length;
        }
      }
      u = tf.add(u, this.pooled(qi, qw, B, Q));
    }
    return u;
  }
}

/**
 * tf.gather whose gradient is one scatterND (duplicates summed) instead of tfjs's unsortedSegmentSum,
 * which the CPU backend runs as one masked pass per table row: thousands of times slower for our tables.
 */
function gatherRows<R extends tf.Rank>(table: tf.Tensor, indices: tf.Tensor, grad: boolean): tf.Tensor<R> {
  if (!grad) return tf.gather(table, indices) as tf.Tensor<R>;
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

/**
 * Reads a tensor into a fresh Float32Array and disposes it. Never return a typed array from tf.tidy: tidy
 * walks its result with for...in looking for tensors, one step per element (seconds for a large array).
 */
function readAndDispose(t: tf.Tensor): Float32Array {
  try {
    return Float32Array.from(t.dataSync());
  } finally {
    t.dispose();
  }
}

/** readAndDispose() without blocking: `await data()` instead of dataSync(). */
async function readAndDisposeAsync(t: tf.Tensor): Promise<Float32Array> {
  try {
    return Float32Array.from(await t.data());
  } finally {
    t.dispose();
  }
}

function checkLength(spec: ModelSpec, p: Float32Array): void {
  const n = paramCount(spec);
  if (p.length !== n) {
    throw new FedrankError('CODEC_COUNT_MISMATCH', `expected ${n} parameters, got ${p.length}`);
  }
}

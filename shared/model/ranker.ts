/**
 * The ranking model on tfjs-core (any backend; the caller picks it). Two towers and one dot product, so a
 * full ranking is one matrix product: see spec.ts for the architecture. Every op runs inside tf.tidy and
 * the variables are disposed explicitly, so tensor counts return to baseline.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { FedrankError } from '../errors.ts';
import type { EncodedItem } from './features.ts';
import { assembleClientGradients } from './client-gradients.ts';
import type { ClientGradient } from './client-gradients.ts';
import { affinityScore, affinityTotal } from './personal.ts';
import { paramCount, paramLayout } from './spec.ts';
import type { ModelSpec, ParamBlock } from './spec.ts';
import { lossGraph } from './loss.ts';
import { disposeCapture, newCapture, readAndDispose, readAndDisposeAsync } from './tensor-ops.ts';
import { Towers } from './towers.ts';
import type { Vars } from './towers.ts';

import type { ExampleGroup, TrainingExample, TrainOptions, UserContext } from './examples.ts';
export type { ExampleGroup, TrainingExample, TrainOptions, UserContext };

/** The ranking model: global parameters as tfjs variables plus scoring and training. */
export class Ranker {
  readonly spec: ModelSpec;
  /** Width of userVectors()/itemVectors() rows: spec.dim plus the bias coordinate (see spec.ts). */
  readonly vectorDim: number;
  private readonly layout: ParamBlock[];
  private readonly vars: Vars;
  private adam: tf.Optimizer | null = null;
  private disposed = false;
  private readonly towers: Towers;

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
    this.towers = new Towers(spec, this.vars);
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
    return readAndDispose(tf.tidy(() => this.towers.userRep(ctxs)));
  }

  /** userVectors() with an asynchronous read-back. */
  async userVectorsAsync(ctxs: UserContext[]): Promise<Float32Array> {
    if (ctxs.length === 0) return new Float32Array(0);
    return readAndDisposeAsync(tf.tidy(() => this.towers.userRep(ctxs)));
  }

  /** itemVectors() with an asynchronous read-back. */
  async itemVectorsAsync(items: EncodedItem[]): Promise<Float32Array> {
    if (items.length === 0) return new Float32Array(0);
    return readAndDisposeAsync(tf.tidy(() => this.towers.itemRep(items)));
  }

  /** Item vectors, N x vectorDim row-major (last column is the item bias). */
  itemVectors(items: EncodedItem[]): Float32Array {
    if (items.length === 0) return new Float32Array(0);
    return readAndDispose(tf.tidy(() => this.towers.itemRep(items)));
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
      const u = this.towers.userRep([ctx]);
      return tf.reshape(tf.matMul(this.towers.itemRep(candidates), u, false, true), [-1]);
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

  /**
   * Every client's gradient of its own mean loss, from ONE batched backward pass over all groups (each
   * group is one client's examples with its shared negatives). No parameter changes. This is exactly what
   * `groups.length` separate single-group train() calls would differentiate, at a fraction of the cost:
   * the seam that lets the offline simulation batch clients whose local training is one SGD step.
   */
  clientGradients(groups: ExampleGroup[]): ClientGradient[] {
    if (groups.some((g) => g.examples.length === 0)) {
      throw new RangeError('every group needs at least one example');
    }
    if (groups.length === 0) return [];
    const cap = newCapture();
    let perExample: Float32Array;
    try {
      const varList = Object.values(this.vars);
      this.towers.capture = cap;
      this.towers.training = true;
      try {
        perExample = readAndDispose(
          tf.tidy(() => {
            let kept: tf.Tensor | null = null;
            const { grads } = tf.variableGrads(() => {
              const { loss, perExample: pe } = lossGraph(this.towers, groups, false);
              kept = tf.keep(pe);
              return loss;
            }, varList);
            for (const g of Object.values(grads)) g.dispose();
            return kept!;
          }),
        );
      } finally {
        this.towers.capture = null;
        this.towers.training = false;
      }
      const losses = new Float64Array(groups.length);
      let b = 0;
      groups.forEach((g, c) => {
        for (let i = 0; i < g.examples.length; i++) losses[c]! += perExample[b++]!;
        losses[c]! /= g.examples.length;
      });
      return assembleClientGradients(this.spec, cap, groups.length, losses);
    } finally {
      disposeCapture(cap);
    }
  }

  /** One step; returns the loss before the step as a scalar tensor the caller disposes. */
  private trainStep(batch: TrainingExample[], opts: TrainOptions): tf.Scalar {
    const group: ExampleGroup = {
      examples: batch,
      sharedNegatives: opts.sharedNegatives ?? [],
      reduction: opts.lossReduction ?? 'mean',
    };
    const inBatch = opts.inBatchNegatives === true && batch.length > 1;
    return tf.tidy(() => {
      const varList = Object.values(this.vars);
      this.towers.training = true;
      let result: { value: tf.Scalar; grads: tf.NamedTensorMap };
      try {
        result = tf.variableGrads(() => lossGraph(this.towers, [group], inBatch).loss, varList);
      } finally {
        this.towers.training = false;
      }
      const { value, grads } = result;
      if (opts.optimizer === 'adam') {
        this.adam ??= tf.train.adam(opts.learningRate);
        // A new rate (a schedule) keeps the moments; tfjs reads the protected field at every step.
        (this.adam as unknown as { learningRate: number }).learningRate = opts.learningRate;
        this.adam.applyGradients(grads);
      } else {
        for (const v of varList) {
          const g = grads[v.name];
          if (g) v.assign(tf.sub(v, tf.mul(g, opts.learningRate)));
        }
      }
      // The reported loss is the batch mean whatever the reduction, so figures stay comparable.
      return group.reduction === 'sum' ? tf.div(value, batch.length) : value;
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
}

function checkLength(spec: ModelSpec, p: Float32Array): void {
  const n = paramCount(spec);
  if (p.length !== n) {
    throw new FedrankError('CODEC_COUNT_MISMATCH', `expected ${n} parameters, got ${p.length}`);
  }
}

/**
 * One round's secure aggregation in the simulation, with the product's encoding (shared/secagg/encode.ts):
 * clip, randomized Hadamard rotation, scale, conditional randomized rounding, the client's discrete
 * Gaussian share, reduction into the 2^b ring, ring sum, and the server's decode.
 *
 * Two paths:
 * - 'client' (exact): every client runs encodeUpdate, the device's code, with its own DDG share; the ring
 *   sum is decoded with decodeSum. Costs d discrete Gaussian draws per client: for small runs and tests.
 * - 'aggregate' (fast): clients are clipped exactly, one by one; the sum of the clipped deltas is rotated
 *   and scaled once, rounded once, and carries ONE discrete Gaussian of the clients' summed variance
 *   (n * s2, drawn in parts of at most MAX_DG_VARIANCE), then goes through the same ring and decode.
 *   Approximations, both documented in eval/README.md: (1) n rounding errors (each of variance f(1-f) <=
 *   1/4 per coordinate) become one, so the decoded sum lacks at most (n-1)/4 of variance in integer units
 *   against n * s2 of noise (s2 ~ 10^3 at the product's settings: < 0.03%); (2) a sum of discrete Gaussians
 *   is drawn as a discrete Gaussian (KLS 2021 bound the distance by tau, ~1e-10 at these scales); the norm
 *   check of conditional rounding, which rejects a draw with probability <= beta, is per client and absent.
 */
import { clipL2 } from '../shared/dp/clip.ts';
import { accumulate, newAccumulator, type Accumulator } from '../shared/fl/aggregate.ts';
import type { EncodingParams } from '../shared/secagg/calibration.ts';
import { addDiscreteGaussian, MAX_DG_VARIANCE } from '../shared/secagg/discrete-gaussian.ts';
import { decodeSum, encodeUpdate } from '../shared/secagg/encode.ts';
import { RandomWords } from '../shared/secagg/random.ts';
import { ringAddInto, toRing } from '../shared/secagg/ring.ts';
import { rotate, type Rotation } from '../shared/secagg/rotation.ts';

/** Where the discrete Gaussian noise is drawn (see the file comment). */
export type SecureNoisePath = 'client' | 'aggregate';

/** The running sum of one secure round. */
export class SecureSum {
  /** Aggregate path: the exact sum of the clipped deltas (also what SparseUploader adds into). */
  readonly acc: Accumulator;
  private readonly ring: Uint32Array | null;

  constructor(
    readonly plan: EncodingParams,
    readonly rotation: Rotation,
    readonly path: SecureNoisePath,
    private readonly random: RandomWords = new RandomWords(),
  ) {
    this.acc = newAccumulator(plan.d);
    this.ring = path === 'client' ? new Uint32Array(plan.d) : null;
  }

  /** Clients in the sum. */
  get count(): number {
    return this.acc.count;
  }

  /** Adds one client's (unclipped) delta; returns its pre-clip L2 norm. */
  addDense(delta: Float32Array): number {
    if (this.ring) {
      let sq = 0;
      for (let i = 0; i < delta.length; i++) sq += delta[i]! * delta[i]!;
      ringAddInto(this.ring, encodeUpdate(delta, this.plan, this.rotation, this.random), this.plan.bits);
      this.acc.count++;
      return Math.sqrt(sq);
    }
    const c = clipL2(delta, this.plan.clipNorm);
    accumulate(this.acc, c.clipped);
    return c.norm;
  }

  /** The server's decoded sum of the clipped, noised updates (model units). */
  decoded(): Float64Array {
    const p = this.plan;
    if (this.ring) return decodeSum(this.ring, p, this.rotation);
    const z = rotate(this.rotation, this.acc.sum);
    const ints = new Int32Array(p.d);
    for (let i = 0; i < p.d; i++) {
      const x = z[i]! * p.scale;
      const f = Math.floor(x);
      ints[i] = this.random.uniform() < x - f ? f + 1 : f;
    }
    // The clients' shares summed: n * s2 in total, in parts the exact sampler supports.
    let rest = this.acc.count * p.noiseVariance;
    const parts = Math.ceil(rest / MAX_DG_VARIANCE);
    for (let k = parts; k > 0; k--) {
      const v = Math.ceil(rest / k);
      addDiscreteGaussian(ints, v, this.random);
      rest -= v;
    }
    return decodeSum(toRing(ints, p.bits), p, this.rotation);
  }
}

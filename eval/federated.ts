/**
 * Federated simulation: every shopper is one client. Each round samples clients by Poisson sampling at
 * rate q; each sampled client trains the product's learner (trainLocal) from the global model on its own
 * examples; its delta is privatized and quantized with the product's code; the server side is
 * shared/fl/aggregate.ts (accumulate, meanDelta, applyServerStep).
 *
 * Clients whose local training is one SGD step over all their examples (localEpochs 1, examples <=
 * batchSize: most shoppers) are trained `clientBatch` at a time by trainLocalBatched, the product's
 * batched form of trainLocal (one backward pass yields every client's own delta); their sparse deltas go
 * through SparseUploader (product clipping and quantizer over the span the delta touches). The other
 * clients run trainLocal itself. clientBatch 0 runs trainLocal for everyone (slow; the unit test compares
 * the two).
 * The clients of one batched pass share one draw of shared negatives (common random numbers, see
 * trainLocalBatched): each client's update keeps its distribution, at the cost of one draw per batch.
 *
 * Noisy runs take honest participation (sampling 'honest', arrivals.ts) and the product's secure
 * aggregation (secure-sum.ts: the DDG encoding, its 'client' and 'aggregate' paths) and round close
 * (server-close.ts: fixed denominator, server-side clip, optimizer, robust step). The Gaussian paths below
 * serve runs without noise (sigma 0), where they are exact; noise with Poisson sampling is refused.
 *
 * Two noise paths, both through product code:
 * - 'client' (exact): each client runs makeUpdatePayload (privatizeDelta: clip + its own Gaussian share,
 *   then encodeTensor), the server decodes with decodeTensor and accumulates. One Gaussian draw per
 *   parameter per client.
 * - 'aggregate' (fast, the default): each client clips (clipL2) and its clipped delta goes through the
 *   codec (encodeTensor/decodeTensor); the round then adds ONE Gaussian vector of std
 *   noiseStdPerClient(t) * sqrt(clients) to the sum. In distributed mode the clients' independent shares
 *   N(0, (sigma*C)^2/m) sum to exactly that Gaussian, so the aggregate has the same distribution, except
 *   that the product quantizes after adding the noise: int8 stochastic rounding adds per coordinate a
 *   variance of at most (scale/2)^2, with scale about 4*sigma*C/sqrt(m)/127 -- under 0.03% of the noise
 *   variance. The exact path stays available to check it (the unit test runs both).
 */
import { decodeTensor, encodeTensor } from '../shared/codec/tensor-codec.ts';
import { clipL2 } from '../shared/dp/clip.ts';
import { gaussianNoise, noiseStdPerClient } from '../shared/dp/noise.ts';
import {
  accumulate,
  applyServerStep,
  meanDelta,
  newAccumulator,
  newAdamState,
} from '../shared/fl/aggregate.ts';
import type { ServerOptimizer } from '../shared/fl/aggregate.ts';
import {
  isSingleStep,
  makeUpdatePayload,
  sparseToDense,
  trainLocal,
  trainLocalBatched,
} from '../shared/fl/local-update.ts';
import type { SparseDelta } from '../shared/fl/local-update.ts';
import { ledgerEntry } from '../shared/device/contribute.ts';
import type { LedgerRecord } from '../shared/device/records.ts';
import { canContribute } from '../shared/device/rules.ts';
import type { DeviceFloors } from '../shared/device/rules.ts';
import { Ranker } from '../shared/model/ranker.ts';
import { roundRotation } from '../shared/secagg/derive.ts';
import type { AdamState } from '../shared/fl/aggregate.ts';
import { admit, Arrivals } from './arrivals.ts';
import { encodingFor } from './private-accounting.ts';
import { SecureSum } from './secure-sum.ts';
import { closeSecureRound, simulatedServer } from './server-close.ts';
import type { TrainingExample } from '../shared/model/ranker.ts';
import { denseLayout } from '../shared/model/client-gradients.ts';
import { initGlobalParams, modelIdOf, mulberry32, paramCount } from '../shared/model/spec.ts';
import type { ModelManifest, ParticipationPolicy, TrainingConfig } from '../shared/protocol.ts';
import { roundSampler, type Sampling } from './sampler.ts';
import { SparseUploader } from './sparse-upload.ts';
import { userExamples } from './workbench.ts';
import type { Workbench } from './workbench.ts';

/** Settings of a federated simulation. */
export interface FederatedOptions {
  rounds: number;
  /** Expected clients per round M; the sampling rate is q = M / N. */
  clientsPerRound: number;
  /** Client training configuration exactly as a server manifest would dictate it. */
  training: TrainingConfig;
  server: ServerOptimizer;
  /** Where the Gaussian noise is drawn (see the file comment). */
  noisePath: 'client' | 'aggregate';
  /** How each round's shoppers are drawn (default 'poisson'). */
  sampling?: Sampling;
  /** Negatives sampled from the catalog per local example. */
  negatives: number;
  /** Single-step clients trained per batched pass (0: every client runs trainLocal on its own). */
  clientBatch: number;
  seed: number;
  /**
   * Each simulated device's epsilon cap, kept by its own ledger through the device core's canContribute
   * (default Infinity: no device cap, the accounting is the server's over the sampled rounds).
   */
  deviceEpsilonCap?: number;
  /** delta of the device ledgers (default 1e-5). */
  delta?: number;
  /** The participation caps the round manifests carry, enforced by each simulated device (default: none). */
  participation?: ParticipationPolicy;
  /**
   * Honest participation: each shopper online in a round with probability visitRate; a round releases only
   * with at least `survivors` inputs (the secure-aggregation threshold t the noise is calibrated over;
   * default expectedClientsPerRound).
   */
  honest?: { visitRate: number; survivors?: number };
}

/** The eval simulates the mechanism it is given: no device floor refuses its noise settings. */
const NO_FLOORS: DeviceFloors = { minNoiseMultiplier: 0, maxDelta: 1, minSecAggThreshold: 0 };

/** What one round did. */
export interface RoundStats {
  round: number;
  clients: number;
  /** Mean pre-clip L2 norm of the clients' deltas. */
  meanNorm: number;
  /** Fraction of clients whose delta was clipped. */
  clippedFraction: number;
  /** Mean local training loss. */
  loss: number;
  /** Std of the Gaussian noise in the round's sum. */
  sumNoiseStd: number;
  /** Sampled (or online) clients whose device refused to contribute (caps or budget). */
  refused: number;
  /** Honest runs: the round had fewer than t inputs, so it released nothing (the model is unchanged). */
  failed?: boolean;
  /** Honest runs: the most contributions any one device has made so far. */
  maxContributions?: number;
  /** Honest runs: the devices the server admitted to this round (ascending). */
  admitted?: number[];
}

/**
 * Runs the simulation; `onClient` is called after every client (progress), `onRound` after every round
 * with the ranker holding the new global model (e.g. to evaluate). Returns the final global parameters.
 */
export async function runFederated(
  wb: Workbench,
  opts: FederatedOptions,
  onRound: (stats: RoundStats, ranker: Ranker) => void = () => {},
  onClient: (round: number, done: number, total: number) => void = () => {},
): Promise<Float32Array> {
  const spec = wb.spec;
  const n = paramCount(spec);
  const N = wb.train.length;
  const t = opts.training;
  const honest = opts.sampling === 'honest';
  if (!honest && t.noiseMultiplier > 0) {
    throw new RangeError(
      `${opts.sampling ?? 'poisson'} sampling with noise is not what ships (nothing samples devices): use honest participation`,
    );
  }
  const random = mulberry32(opts.seed);
  const global = initGlobalParams(spec, opts.seed);
  let adam: AdamState | undefined = opts.server.kind === 'fedadam' ? newAdamState(n) : undefined;
  const modelId = modelIdOf(spec);
  const ranker = new Ranker(spec, global);
  const width = spec.dim + 1;
  // Secure rounds sum exact clipped values (the ring encoding replaces the update codec).
  const uploader = new SparseUploader(
    n,
    width,
    n - denseLayout(spec).size,
    honest ? 'f32' : t.updateEncoding,
  );
  // Each client draws its shared negatives from the whole catalog.
  const negatives = { pool: wb.encoded, random };
  const draw = roundSampler(N, opts.clientsPerRound, opts.sampling ?? 'poisson', random);
  // Every simulated shopper keeps a device ledger; the device core decides whether it contributes.
  const ledgers: LedgerRecord[][] = Array.from({ length: N }, () => []);
  const cap = opts.deviceEpsilonCap ?? Number.POSITIVE_INFINITY;
  const delta = opts.delta ?? 1e-5;
  const clientNoiseStd = noiseStdPerClient(t);
  const arrivals = honest ? new Arrivals(N, opts.honest?.visitRate ?? 1, opts.seed) : null;
  const survivors = opts.honest?.survivors ?? Math.min(t.expectedClientsPerRound, N);
  const secure = honest
    ? {
        encoding: encodingFor(
          {
            d: n,
            clip: t.clipNorm,
            cohort: t.expectedClientsPerRound,
            survivors,
            maxContributions: 1,
            minSeparation: 1,
            delta,
          },
          t.noiseMultiplier,
        ),
        server: simulatedServer(t, opts.server, survivors),
        // The rotation seed is public in the product (from the round's seed): here, from the run's seed.
        seed: Uint8Array.from({ length: 32 }, () => Math.floor(random() * 256)),
      }
    : null;
  let maxContributions = 0;
  let steps = 0;
  try {
    for (let round = 1; round <= opts.rounds; round++) {
      const manifest = roundManifest(wb, t, modelId, round, {
        cap,
        delta,
        participation: opts.participation,
        minClients: survivors,
      });
      const allows = (u: number): boolean =>
        canContribute({
          manifest,
          ledger: ledgers[u]!,
          outbox: [],
          cap,
          floors: NO_FLOORS,
          dpOff: t.noiseMultiplier === 0,
          storage: 'indexeddb',
          optedOut: false,
          hasServer: true,
        }).ok;
      let selected: number[];
      let refused: number;
      if (arrivals) {
        ({ admitted: selected, refused } = admit(arrivals.next(), allows, t.expectedClientsPerRound));
      } else {
        const sampled = draw();
        selected = sampled.filter(allows);
        refused = sampled.length - selected.length;
      }
      const rotation = secure ? await roundRotation(secure.seed, round, n) : null;
      const sum = secure && rotation ? new SecureSum(secure.encoding, rotation, opts.noisePath) : null;
      const acc = sum ? sum.acc : newAccumulator(n);
      let normSum = 0;
      let clipped = 0;
      let lossSum = 0;
      const header = { modelId, baseVersion: round - 1, round };
      const addDense = (delta: Float32Array): number => {
        if (sum) return sum.addDense(delta);
        let values: Float32Array;
        let norm: number;
        if (opts.noisePath === 'client') {
          const up = makeUpdatePayload(delta, t, header);
          norm = up.preClipNorm;
          values = decodeTensor(up.body, { maxCount: n }).values;
        } else {
          const c = clipL2(delta, t.clipNorm);
          norm = c.norm;
          const body = encodeTensor({ kind: 'delta', ...header, encoding: t.updateEncoding }, c.clipped);
          values = decodeTensor(body, { maxCount: n }).values;
        }
        accumulate(acc, values);
        return norm;
      };
      const add = (d: SparseDelta): number =>
        opts.noisePath === 'client' ? addDense(sparseToDense(d, n, width)) : uploader.add(acc, d, t.clipNorm);
      const count = (u: number, norm: number, loss: number): void => {
        const at = { key: `u${u}r${round}`, round, modelId, modelVersion: round - 1, time: round, delta };
        ledgers[u]!.push(ledgerEntry(t, at, clientNoiseStd, norm, secure ? survivors : undefined));
        maxContributions = Math.max(maxContributions, ledgers[u]!.length);
        normSum += norm;
        if (norm > t.clipNorm) clipped++;
        lossSum += loss;
      };
      let batch: TrainingExample[][] = [];
      let batchUsers: number[] = [];
      const flush = (): void => {
        if (batch.length === 0) return;
        const deltas = trainLocalBatched(ranker, global, batch, t, negatives, true);
        deltas.forEach((d, k) => count(batchUsers[k]!, add(d), d.loss));
        batch = [];
        batchUsers = [];
      };
      for (let i = 0; i < selected.length; i++) {
        const u = selected[i]!;
        const examples = userExamples(wb, u, random, opts.negatives);
        onClient(round, i + 1, selected.length);
        // A device with nothing to learn from sends nothing.
        if (examples.length === 0) continue;
        if (opts.clientBatch > 0 && isSingleStep(examples.length, t)) {
          batch.push(examples);
          batchUsers.push(u);
          if (batch.length >= opts.clientBatch) flush();
          continue;
        }
        const { delta, loss } = trainLocal(ranker, global, examples, t, negatives);
        count(u, addDense(delta), loss);
      }
      flush();
      if (secure && sum) {
        const failed = sum.count < survivors;
        if (!failed) {
          const plan = closeSecureRound({
            config: secure.server,
            spec,
            modelId,
            version: steps++,
            params: global,
            adam: adam ?? null,
            encoding: secure.encoding,
            survivors,
            sum: sum.decoded(),
            count: sum.count,
          });
          global.set(plan.model.params);
          adam = plan.model.adam ?? undefined;
        }
        // Also after a failed round: trainLocal leaves the last client's local model in the ranker.
        ranker.setGlobal(global);
        const c = Math.max(1, sum.count);
        onRound(
          {
            round,
            clients: sum.count,
            meanNorm: normSum / c,
            clippedFraction: clipped / c,
            loss: lossSum / c,
            sumNoiseStd: Math.sqrt(sum.count * secure.encoding.noiseVariance) / secure.encoding.scale,
            refused,
            failed,
            maxContributions,
            admitted: selected,
          },
          ranker,
        );
        continue;
      }
      let sumNoiseStd = noiseStdPerClient(t) * Math.sqrt(acc.count);
      if (opts.noisePath === 'aggregate' && sumNoiseStd > 0 && acc.count > 0) {
        const noise = gaussianNoise(n, sumNoiseStd);
        for (let i = 0; i < n; i++) acc.sum[i]! += noise[i]!;
      }
      if (acc.count === 0) sumNoiseStd = 0;
      if (acc.count > 0) applyServerStep(global, meanDelta(acc), opts.server, adam, ++steps);
      ranker.setGlobal(global);
      const c = Math.max(1, acc.count);
      onRound(
        {
          round,
          clients: acc.count,
          meanNorm: normSum / c,
          clippedFraction: clipped / c,
          loss: lossSum / c,
          sumNoiseStd,
          refused,
        },
        ranker,
      );
    }
    return global;
  } finally {
    ranker.dispose();
  }
}

/** The manifest a device would see in `round`: what canContribute decides on. */
function roundManifest(
  wb: Workbench,
  t: TrainingConfig,
  modelId: string,
  round: number,
  privacy: { cap: number; delta: number; participation: ParticipationPolicy | undefined; minClients: number },
): ModelManifest {
  const { cap, delta, participation, minClients } = privacy;
  return {
    protocol: 1,
    modelId,
    version: round - 1,
    paramCount: paramCount(wb.spec),
    weightsEncoding: 'f32',
    spec: wb.spec,
    training: t,
    round: {
      id: round,
      state: 'open',
      accepted: 0,
      // The round's noise is sized for its survivor threshold: the device ledger accounts it at that.
      minClients,
      maxClients: wb.train.length,
      deadline: null,
    },
    privacy: {
      delta,
      epsilonSpent: 0,
      epsilonBudget: null,
      deviceEpsilonBudget: cap,
      ...(participation ? { participation } : {}),
    },
    maxStaleness: 0,
  };
}

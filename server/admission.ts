/**
 * Whether an uploaded update is accepted, and with which rejection code if not. The checks that need no
 * state (codec header, model, shape, norm bound) run in the request handler; the ones that depend on the
 * open round (replay, round capacity, base version, staleness, one update per client) run in the writer
 * loop. Kept apart from the Aggregator's queueing and commits so the rules read as one ordered list.
 */
import { decodeTensorViewScanDeferred, type TensorView } from '../shared/codec/tensor-codec.ts';
import { FedrankError } from '../shared/errors.ts';
import { stalenessWeight } from '../shared/fl/aggregate.ts';
import type { UpdateAck } from '../shared/protocol.ts';
import type { ServerConfig } from './config.ts';
import { addView, checkedViewNorm } from './ingest.ts';
import type { ModelSource } from './model-source.ts';
import type { RoundAccumulator, RoundRecord, UpdateRecord } from './store/types.ts';
import { checkCodec, checkShape, type UploadBounds } from './upload-shape.ts';

/** A validated upload waiting for the writer, with the callbacks that settle its request. */
export interface Submission {
  clientId: string;
  key: string;
  hash: string;
  view: TensorView;
  resolve(ack: UpdateAck): void;
  reject(err: unknown): void;
}

/**
 * Decodes an upload and applies the checks that do not depend on the round; throws FedrankError with the
 * rejection code. `bounds` are the configuration's: codec parameters, norm, and shape (upload-shape.ts).
 */
export function checkUpload(
  model: ModelSource,
  body: Uint8Array,
  bounds: UploadBounds,
): { view: TensorView; norm: number } {
  const n = model.paramCount;
  const view = decodeTensorViewScanDeferred(body, { maxCount: n });
  // The -128 scan of decodeTensorView, folded into the norm's pass: same error, same precedence.
  const norm = checkedViewNorm(view);
  const h = view.header;
  if (h.kind !== 'delta')
    throw new FedrankError('CODEC_BAD_HEADER', 'an update must be a delta, not weights');
  if (h.modelId !== model.modelId)
    throw new FedrankError('UPDATE_WRONG_MODEL', `got ${h.modelId}, serving ${model.modelId}`);
  if (h.count !== n)
    throw new FedrankError('UPDATE_WRONG_SHAPE', `got ${h.count} parameters, model has ${n}`);
  checkCodec(view, bounds);
  const bound = view.blockSize > 0 ? bounds.normI8 : bounds.normF32;
  if (!(norm <= bound))
    throw new FedrankError(
      'UPDATE_NORM_TOO_LARGE',
      `norm ${norm.toPrecision(6)} exceeds ${bound.toPrecision(6)}`,
    );
  checkShape(view, bounds);
  return { view, norm };
}

/** The state a batch is admitted against, read once by the writer before the loop. */
export interface AdmissionState {
  open: { round: RoundRecord; acc: RoundAccumulator } | null;
  /** Why no round is open (budget), or null. */
  refusal: string | null;
  /** Current model version. */
  version: number;
  /** Updates already accepted into the open round before this batch (over all processes). */
  accepted: number;
  rounds: ServerConfig['rounds'];
  nowIso: string;
}

/** How a batch was sorted; everything not listed here has already been settled. */
export interface Admission {
  /** New updates, already added to the open round's sum; acknowledged once committed. */
  accepted: { sub: Submission; rec: UpdateRecord }[];
  /** Replays of an update accepted earlier in this batch; acknowledged with it. */
  waitForBatch: { sub: Submission; rec: UpdateRecord }[];
  /** Arrived while the round was full; they go to the next round after the close. */
  deferred: Submission[];
}

/**
 * Applies the round-dependent rules to a batch in order: rejects and replays are settled here, accepted
 * updates are added to `state.open.acc` and their clients to `seen`. `existing` holds the stored updates
 * under the batch's keys, `seen` the batch's clients that already contributed to the open round.
 */
export function admitBatch(
  batch: Submission[],
  existing: Map<string, UpdateRecord>,
  seen: Set<string>,
  state: AdmissionState,
): Admission {
  const accepted: { sub: Submission; rec: UpdateRecord }[] = [];
  const waitForBatch: { sub: Submission; rec: UpdateRecord }[] = [];
  const inBatch = new Map<string, UpdateRecord>();
  const deferred: Submission[] = [];
  const { open, version, rounds } = state;
  const acc = open?.acc;
  for (const sub of batch) {
    const prior = existing.get(sub.key) ?? inBatch.get(sub.key);
    if (prior) {
      if (prior.payloadHash !== sub.hash) {
        sub.reject(new FedrankError('UPDATE_IDEMPOTENCY_CONFLICT'));
      } else if (inBatch.has(sub.key)) waitForBatch.push({ sub, rec: prior });
      else sub.resolve(ackOf(prior, true));
      continue;
    }
    if (!open || !acc) {
      sub.reject(
        state.refusal
          ? new FedrankError('BUDGET_EXHAUSTED', state.refusal)
          : new FedrankError('ROUND_NOT_OPEN'),
      );
      continue;
    }
    if (state.accepted + accepted.length >= rounds.maxClients) {
      deferred.push(sub); // the round is full: this one goes to the next round after the close
      continue;
    }
    const h = sub.view.header;
    const round = open.round;
    if (h.baseVersion > version) {
      sub.reject(new FedrankError('UPDATE_FUTURE_VERSION', `base ${h.baseVersion}, current ${version}`));
      continue;
    }
    const staleness = version - h.baseVersion;
    if (staleness > rounds.maxStaleness) {
      sub.reject(
        new FedrankError(
          'UPDATE_STALE',
          `base ${h.baseVersion}, current ${version}, max staleness ${rounds.maxStaleness}`,
        ),
      );
      continue;
    }
    if (h.round > round.id) {
      sub.reject(new FedrankError('UPDATE_WRONG_ROUND', `round ${h.round}, open round ${round.id}`));
      continue;
    }
    if (seen.has(sub.clientId)) {
      sub.reject(new FedrankError('UPDATE_ALREADY_CONTRIBUTED', `round ${round.id}`));
      continue;
    }
    const weight = stalenessWeight(staleness, rounds.stalenessAlpha);
    addView(acc, sub.view, weight);
    seen.add(sub.clientId);
    const rec: UpdateRecord = {
      idempotencyKey: sub.key,
      clientId: sub.clientId,
      roundId: round.id,
      payloadHash: sub.hash,
      baseVersion: h.baseVersion,
      weight,
      modelVersion: version,
      receivedAt: state.nowIso,
    };
    inBatch.set(sub.key, rec);
    accepted.push({ sub, rec });
  }
  return { accepted, waitForBatch, deferred };
}

/** The ack for a recorded update; a replay gets the original round and model version again. */
export function ackOf(r: UpdateRecord, duplicate: boolean): UpdateAck {
  return { accepted: true, duplicate, round: r.roundId, modelVersion: r.modelVersion };
}

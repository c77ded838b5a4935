/**
 * The contribution pipeline, one pass: the device's events become examples, the learner trains locally,
 * and the delta is clipped, noised and encoded (shared makeUpdatePayload) into a ledger entry and an
 * outbox record. Only called once canContribute said yes; `cancelled` is asked after training, before any
 * noise is drawn, so a pass raced by forget() or opt-out leaves nothing behind.
 */
import { noiseStdPerClient } from '../dp/noise.ts';
import { buildExamples, makeUpdatePayload } from '../fl/local-update.ts';
import type { TrainingConfig } from '../protocol.ts';
import type { Learner, Random } from './ports.ts';
import type { EventRecord, LedgerRecord, ModelRecord, OutboxRecord } from './records.ts';
import { accountedSigma } from './rules.ts';
import { itemPool, toInteraction } from './examples.ts';

/** A privatized contribution, ready to be recorded and queued together. */
export interface PreparedContribution {
  ledger: LedgerRecord;
  outbox: OutboxRecord;
}

/** Trains on `events` and privatizes the delta for the round (sent under the round's own client id); null when there is nothing to learn or it was cancelled. */
export async function prepareContribution(
  model: ModelRecord,
  events: EventRecord[],
  to: { round: number; clientId: string },
  learner: Learner,
  random: Random,
  now: () => number,
  cancelled: () => boolean,
): Promise<PreparedContribution | null> {
  const { spec, training: t, modelId, version, privacy } = model.manifest;
  const { round, clientId } = to;
  const log = events.map((e) => toInteraction(spec, e));
  const known = [...itemPool(spec, events).values()];
  const uniform = (): number => random.uniform();
  const examples = buildExamples(spec, log, known, uniform);
  if (examples.length === 0) return null;
  // Shared negatives come from the items this device has seen, like the per-example ones.
  const delta = await learner.train(model, examples, { pool: known, random: uniform });
  if (cancelled()) return null;
  // Secure rounds: clipped only, in f32; the secure-aggregation encoding draws the discrete noise.
  const secure = privacy.secureAggregation === true;
  const made = makeUpdatePayload(delta, secure ? { ...t, noiseMultiplier: 0, updateEncoding: 'f32' } : t, {
    modelId,
    baseVersion: version,
    round,
  });
  const { body, preClipNorm } = made;
  const noiseStd = secure ? noiseStdPerClient(t) : made.noiseStd;
  const key = random.id();
  const time = now();
  return {
    ledger: ledgerEntry(
      t,
      { key, round, modelId, modelVersion: version, time, delta: privacy.delta },
      noiseStd,
      preClipNorm,
      model.manifest.round?.minClients,
    ),
    outbox: {
      key,
      clientId,
      body,
      ...(secure ? { secure } : {}),
      modelId,
      baseVersion: version,
      round,
      createdAt: time,
      attempts: 0,
      nextAttemptAt: time,
    },
  };
}

/** The ledger entry of one contribution privatized under `t` with noise of std `noiseStd`. */
export function ledgerEntry(
  t: TrainingConfig,
  at: { key: string; round: number; modelId?: string; modelVersion: number; time: number; delta: number },
  noiseStd: number,
  preClipNorm: number,
  threshold?: number,
): LedgerRecord {
  return {
    time: at.time,
    key: at.key,
    round: at.round,
    ...(at.modelId === undefined ? {} : { modelId: at.modelId }),
    modelVersion: at.modelVersion,
    clipNorm: t.clipNorm,
    noiseMultiplier: t.noiseMultiplier,
    noiseStd,
    noiseMode: t.noiseMode,
    sigma: accountedSigma(t, noiseStd, threshold),
    q: 1,
    preClipNorm,
    delta: at.delta,
  };
}

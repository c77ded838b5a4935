/**
 * One local learning pass: the shopper's stored events become training examples (shared buildExamples),
 * the global model is trained locally (shared trainLocal), and the delta is clipped, noised and encoded
 * (shared makeUpdatePayload) into the outbox, with a ledger entry. Contributing stops when the device's
 * epsilon budget would be exceeded; personalization continues regardless.
 */
import { encodeItem, encodeQuery } from '../../shared/model/features.ts';
import type { EncodedItem, ItemFeatures } from '../../shared/model/features.ts';
import { buildExamples, makeUpdatePayload, trainLocal } from '../../shared/fl/local-update.ts';
import type { Interaction } from '../../shared/fl/local-update.ts';
import type { ModelSpec } from '../../shared/model/spec.ts';
import type { Engine } from './engine.ts';
import { randomId } from './http.ts';
import { accountedSigma, ledgerEpsilon } from './ledger.ts';
import type { EventRecord } from './records.ts';
import { itemKey } from './scorer.ts';

const KIND: Record<EventRecord['type'], Interaction['kind']> = {
  impression: 'impression',
  click: 'click',
  add_to_cart: 'cart',
  purchase: 'purchase',
};

/** A stored event as the shared learner's interaction. */
export function toInteraction(spec: ModelSpec, e: EventRecord): Interaction {
  const it: Interaction = {
    item: encodeItem(spec, e.item as ItemFeatures),
    kind: KIND[e.type],
    time: e.time,
  };
  if (e.query) it.query = encodeQuery(spec, e.query);
  return it;
}

/** Outcome of a pass. */
export interface LearnResult {
  trained: boolean;
  queued: boolean;
  error: string | null;
}

export async function learnOnce(eng: Engine): Promise<LearnResult> {
  const model = eng.model;
  const ranker = eng.ranker;
  if (!model || !ranker) return { trained: false, queued: false, error: null };
  const { spec, training: t, round, modelId, version, privacy } = model.manifest;
  const events = await eng.store.events();
  const maxSeq = events.reduce((m, e) => Math.max(m, e.seq ?? 0), 0);
  // Whatever happens below, these events have had their turn.
  await eng.store.putSetting('trainedSeq', maxSeq);
  const open = round !== null && round.state === 'open';
  const sigma = accountedSigma(t, t.noiseMultiplier * t.clipNorm);
  const next = ledgerEpsilon(eng.ledger, privacy.delta, { q: 1, sigma });
  if (!open || next > eng.privacy().budget) {
    return { trained: false, queued: false, error: null };
  }
  const log = events.map((e) => toInteraction(spec, e));
  const pool = new Map<string, EncodedItem>();
  for (const e of events) pool.set(itemKey(e.item), encodeItem(spec, e.item as ItemFeatures));
  const examples = buildExamples(spec, log, [...pool.values()], Math.random);
  if (examples.length === 0) return { trained: false, queued: false, error: null };
  const global = model.params;
  let delta: Float32Array;
  try {
    delta = trainLocal(ranker, global, examples, t).delta;
  } finally {
    // Ranking keeps using the released global parameters (plus the on-device personal state).
    ranker.setGlobal(global);
  }
  const { body, preClipNorm, noiseStd } = makeUpdatePayload(delta, t, {
    modelId,
    baseVersion: version,
    round: round.id,
  });
  const key = randomId();
  const now = Date.now();
  await eng.store.addLedger({
    time: now,
    key,
    round: round.id,
    modelVersion: version,
    clipNorm: t.clipNorm,
    noiseMultiplier: t.noiseMultiplier,
    noiseStd,
    noiseMode: t.noiseMode,
    sigma: accountedSigma(t, noiseStd),
    q: 1,
    preClipNorm,
    delta: privacy.delta,
  });
  await eng.store.putOutbox({
    key,
    body,
    modelId,
    baseVersion: version,
    round: round.id,
    createdAt: now,
    attempts: 0,
    nextAttemptAt: now,
  });
  return { trained: true, queued: true, error: null };
}

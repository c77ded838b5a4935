/**
 * One local learning pass: the shopper's stored events become training examples (shared buildExamples),
 * the global model is trained locally (shared trainLocal), and the delta is clipped, noised and encoded
 * (shared makeUpdatePayload) into the outbox, with a ledger entry. Contributing stops when the device's
 * epsilon budget would be exceeded; personalization continues regardless.
 */
import { encodeItem, encodeQuery } from '../../shared/model/features.ts';
import type { EncodedItem, ItemFeatures } from '../../shared/model/features.ts';
import { buildExamples, makeUpdatePayload, trainLocalAsync } from '../../shared/fl/local-update.ts';
import { Ranker } from '../../shared/model/ranker.ts';
import type { Interaction } from '../../shared/fl/local-update.ts';
import type { ModelSpec } from '../../shared/model/spec.ts';
import type { Engine } from './engine.ts';
import { fetchWithTimeout, randomId } from './http.ts';
import { accountedSigma, contributedRounds, ledgerEpsilon, roundToJoin } from './ledger.ts';
import type { EventRecord } from './records.ts';
import { itemKey } from './scorer.ts';
import { emptyPersonal, sameItem, updatePersonal } from '../../shared/model/personal.ts';
import { parseEvalReport } from '../../shared/protocol-parse.ts';
import { HEADER_CLIENT_ID } from '../../shared/protocol.ts';
import type { EvalReport } from '../../shared/protocol.ts';

/** Held-out positives scored per report at most, and candidates per positive. */
const EVAL_MAX_EXAMPLES = 20;
const EVAL_CANDIDATES = 100;

/**
 * Federated evaluation before training: each positive since the last pass (not yet seen by any training)
 * is ranked by the current global model among the items this shopper was shown, given the history before
 * it. Only the sums (hits@10, NDCG@10, count) leave the device.
 */
export async function evaluate(
  eng: Engine,
  events: EventRecord[],
  since: number,
): Promise<EvalReport | null> {
  const model = eng.model;
  const ranker = eng.ranker;
  if (!model || !ranker) return null;
  const spec = model.manifest.spec;
  const pool = new Map<string, EncodedItem>();
  for (const e of events) pool.set(itemKey(e.item), encodeItem(spec, e.item as ItemFeatures));
  let personal = emptyPersonal(spec);
  let examples = 0;
  let hits = 0;
  let ndcg = 0;
  for (const e of [...events].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))) {
    if (e.type === 'impression') continue;
    const it = toInteraction(spec, e);
    if ((e.seq ?? 0) > since && examples < EVAL_MAX_EXAMPLES) {
      const key = itemKey(e.item);
      const others = [...pool.entries()]
        .filter(([k, enc]) => k !== key && !personal.history.some((h) => sameItem(h, enc)))
        .slice(0, EVAL_CANDIDATES - 1)
        .map(([, enc]) => enc);
      if (others.length >= 10) {
        const ctx = it.query
          ? { history: personal.history, query: it.query, personal }
          : { history: personal.history, personal };
        const scores = await ranker.scoreAsync(ctx, [it.item, ...others]);
        let rank = 0;
        for (let j = 1; j < scores.length; j++) if (scores[j]! > scores[0]!) rank++;
        examples++;
        if (rank < 10) {
          hits++;
          ndcg += 1 / Math.log2(rank + 2);
        }
      }
    }
    personal = updatePersonal(spec, personal, it);
  }
  if (examples === 0) return null;
  return parseEvalReport({ modelVersion: model.manifest.version, examples, hitsAt10: hits, ndcgAt10: ndcg });
}

async function sendEval(server: string, clientId: string, report: EvalReport): Promise<void> {
  try {
    await fetchWithTimeout(
      `${server}/v1/eval`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', [HEADER_CLIENT_ID]: clientId },
        body: JSON.stringify(report),
      },
      10_000,
    );
  } catch {
    // best effort: an evaluation report is never retried
  }
}

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

/**
 * Lets queued messages (comlink calls such as rank()) run: resolves from a new task, after the events
 * already waiting. MessageChannel, because nested setTimeout(0) is clamped to 4 ms.
 */
export function yieldToMessages(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof MessageChannel !== 'function') {
      setTimeout(resolve, 0);
      return;
    }
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(null);
  });
}

/** Outcome of a pass. */
export interface LearnResult {
  trained: boolean;
  queued: boolean;
  error: string | null;
  /** No round this device may join yet (none open, or it already contributed): events kept for later. */
  waiting?: boolean;
}

export async function learnOnce(eng: Engine): Promise<LearnResult> {
  const model = eng.model;
  const ranker = eng.ranker;
  if (!model || !ranker) return { trained: false, queued: false, error: null };
  const { spec, training: t, round, modelId, version, privacy } = model.manifest;
  // Decide before training (and before any noise is drawn) whether an update would be welcome at all.
  const contributed = contributedRounds(eng.ledger, await eng.store.outbox());
  if (roundToJoin(model.manifest, contributed) === null) {
    return { trained: false, queued: false, error: null, waiting: true };
  }
  const events = await eng.store.events();
  const maxSeq = events.reduce((m, e) => Math.max(m, e.seq ?? 0), 0);
  const since = (await eng.store.getSetting('trainedSeq')) ?? 0;
  // Whatever happens below, these events have had their turn.
  await eng.store.putSetting('trainedSeq', maxSeq);
  if (eng.cfg.evalReports && eng.cfg.server) {
    const report = await evaluate(eng, events, since);
    if (report) await sendEval(eng.cfg.server, eng.clientId, report);
  }
  const sigma = accountedSigma(t, t.noiseMultiplier * t.clipNorm);
  const next = ledgerEpsilon(eng.ledger, privacy.delta, { q: 1, sigma });
  if (round === null || next > eng.privacy().budget) {
    return { trained: false, queued: false, error: null };
  }
  const log = events.map((e) => toInteraction(spec, e));
  const pool = new Map<string, EncodedItem>();
  for (const e of events) pool.set(itemKey(e.item), encodeItem(spec, e.item as ItemFeatures));
  const known = [...pool.values()];
  const examples = buildExamples(spec, log, known, Math.random);
  if (examples.length === 0) return { trained: false, queued: false, error: null };
  const global = model.params;
  // A ranker of its own: rank() calls served between training steps keep using the released global model.
  const trainer = new Ranker(spec, global);
  let delta: Float32Array;
  try {
    // Shared negatives come from the items this device has seen, like the per-example ones.
    const negatives = { pool: known, random: Math.random };
    delta = (await trainLocalAsync(trainer, global, examples, t, yieldToMessages, negatives)).delta;
  } finally {
    trainer.dispose();
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

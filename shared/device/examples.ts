/**
 * From stored events to what the learner needs: interactions, the item pool, and the federated evaluation
 * protocol (each held-out positive ranked by the global model among the items this shopper was shown).
 */
import { encodeItem, encodeQuery } from '../model/features.ts';
import type { EncodedItem, ItemFeatures } from '../model/features.ts';
import { emptyPersonal, sameItem, updatePersonal } from '../model/personal.ts';
import type { ModelSpec } from '../model/spec.ts';
import type { Interaction } from '../fl/local-update.ts';
import { parseEvalReport } from '../protocol-parse.ts';
import type { EvalReport } from '../protocol.ts';
import type { Learner } from './ports.ts';
import type { EventRecord, EventType, ModelRecord } from './records.ts';
import { splitScores } from './local-rank.ts';
import { heldOutMetrics } from './safeguard.ts';
import type { HeldOutExample } from './safeguard.ts';

/** Held-out positives scored per report at most, and candidates per positive. */
const EVAL_MAX_EXAMPLES = 20;
const EVAL_CANDIDATES = 100;

const KIND: Record<EventType, Interaction['kind']> = {
  impression: 'impression',
  click: 'click',
  add_to_cart: 'cart',
  purchase: 'purchase',
};

/** One item's identity across calls (its id and every attribute the model hashes). */
export function itemKey(it: ItemFeatures): string {
  return JSON.stringify([it.id, it.category ?? '', it.brand ?? '', it.price ?? -1, it.attributes ?? []]);
}

/** A stored event as the shared learner's interaction. */
export function toInteraction(spec: ModelSpec, e: EventRecord): Interaction {
  const it: Interaction = { item: encodeItem(spec, e.item), kind: KIND[e.type], time: e.time };
  if (e.query) it.query = encodeQuery(spec, e.query);
  return it;
}

/** The distinct items of the events, encoded (the device's negative pool). */
export function itemPool(spec: ModelSpec, events: EventRecord[]): Map<string, EncodedItem> {
  const pool = new Map<string, EncodedItem>();
  for (const e of events) pool.set(itemKey(e.item), encodeItem(spec, e.item));
  return pool;
}

/**
 * The held-out positives after `since` (the latest EVAL_MAX_EXAMPLES of them, none yet seen by this
 * device's training): each scored by the model among the items this shopper was shown, given the history
 * before it, with the global model's score and the personal bonus kept apart. The federated evaluation
 * and the safeguard (safeguard.ts) both rank these.
 */
export async function scoreHeldOut(
  model: ModelRecord,
  learner: Learner,
  events: EventRecord[],
  since: number,
): Promise<HeldOutExample[]> {
  const spec = model.manifest.spec;
  const pool = itemPool(spec, events);
  const sorted = [...events].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  const positives = sorted.filter((e) => e.type !== 'impression' && (e.seq ?? 0) > since);
  const window = new Set(positives.slice(-EVAL_MAX_EXAMPLES));
  let personal = emptyPersonal(spec);
  const out: HeldOutExample[] = [];
  for (const e of sorted) {
    if (e.type === 'impression') continue;
    const it = toInteraction(spec, e);
    if (window.has(e)) {
      const key = itemKey(e.item);
      const others = [...pool.entries()]
        .filter(([k, enc]) => k !== key && !personal.history.some((h) => sameItem(h, enc)))
        .slice(0, EVAL_CANDIDATES - 1)
        .map(([, enc]) => enc);
      if (others.length >= 10) {
        const ctx = it.query
          ? { history: personal.history, query: it.query, personal }
          : { history: personal.history, personal };
        const candidates = [it.item, ...others];
        // The learner's scores include the bonus (as rank() does): the model's own part is the rest.
        out.push(splitScores(spec, await learner.score(model, ctx, candidates), candidates, personal));
      }
    }
    personal = updatePersonal(spec, personal, it);
  }
  return out;
}

/**
 * Federated evaluation before training: the global model (with the personal bonus, as the server's model
 * is used at weight 1) on the held-out positives after `since`. Only the sums (hits@10, NDCG@10, count)
 * leave the device.
 */
export async function evaluate(
  model: ModelRecord,
  learner: Learner,
  events: EventRecord[],
  since: number,
): Promise<EvalReport | null> {
  const m = heldOutMetrics(await scoreHeldOut(model, learner, events, since), 1);
  if (m.examples === 0) return null;
  return parseEvalReport({ modelVersion: model.manifest.version, ...m });
}

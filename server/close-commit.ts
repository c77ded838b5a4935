/**
 * Commits a round close through the store: on one process, the plan computed from the in-memory sum; on a
 * shared store, the plan computed from every process's merged partial sum under the round's row lock. A
 * secure round closes with its unmasked sum in place of the (empty) plain sum. The aggregator applies the
 * committed plan to its state; this file only decides what is written and reports how it went.
 */
import { FedrankError } from '../shared/errors.ts';
import { planClose, type CloseInput, type ClosePlan } from './round-close.ts';
import type { RoundAccumulator, RoundRecord, Store } from './store/types.ts';
import type { SecureClose } from './round-state.ts';

/** How a close attempt ended. */
export type CloseOutcome =
  | { kind: 'closed'; plan: ClosePlan }
  /** Another process closed the round first (shared store): nothing was written here. */
  | { kind: 'lost' }
  /** The store refused or failed: nothing was written and the round stays open. */
  | { kind: 'failed'; err: unknown };

/** Plans and commits the close of `input.open` (everything but the open round's sum is fixed by `input`). */
export async function commitClose(
  store: Store,
  input: Omit<CloseInput, 'noise'>,
  secure: SecureClose | null,
): Promise<CloseOutcome> {
  const open = input.open;
  const acc = open.acc;
  if (secure) {
    acc.sum.set(secure.sum);
    const n = secure.survivors;
    Object.assign(acc, { weight: n, count: n, sqWeightSum: n, maxWeight: 1 });
  }
  const planOf = (o: { round: RoundRecord; acc: RoundAccumulator }): ClosePlan =>
    planClose({ ...input, open: o, noise: secure?.noise });
  let plan: ClosePlan | null = null;
  try {
    if (store.shared) {
      // The close plan is computed from the merged sum of every process, under the round's row lock.
      // Under secure aggregation no process holds a plain partial sum: the unmasked sum is the round's.
      const won = await store.shared.closeMerged(
        open.round.id,
        (merged) => (plan = planOf({ round: open.round, acc: secure ? acc : merged })),
      );
      if (!won) return { kind: 'lost' };
    } else {
      plan = planOf(open);
      await store.closeRound(plan.closed, plan.model, plan.next, plan.keepFromVersion);
    }
  } catch (err) {
    if (secure) acc.sum.fill(0); // an unmasked sum is never kept past its close
    return { kind: 'failed', err };
  }
  const done = plan as ClosePlan | null;
  if (!done) throw new FedrankError('STORE_CORRUPT', 'the store closed the round without a plan');
  return { kind: 'closed', plan: done };
}

/**
 * One batch of the group commit: reads what the store knows of the batch (stored updates under its keys,
 * its clients already in the open round), admits it against the open round (admission.ts, which adds the
 * accepted updates to the running sum), and commits the accepted updates with the sum in one transaction.
 * Acknowledging, re-queueing and reloading after a failure are the writer's (aggregator.ts).
 */
import { admitBatch, type Admission, type AdmissionState, type Submission } from './admission.ts';
import { StoreConflict, type Store, type UpdateRecord } from './store/types.ts';

/** How a batch ended. Replays and rejects are settled by admission in every case but 'unread'. */
export type BatchOutcome =
  /** The store could not be read: nothing was admitted. */
  | { kind: 'unread'; err: unknown }
  /** Admitted; `admission.accepted` (if any) committed. `sharedAccepted`: the round's count, shared store. */
  | { kind: 'committed'; admission: Admission; ms: number; sharedAccepted: number | null }
  /** Another process closed or filled the round, or took a key or client first: nothing was written. */
  | { kind: 'raced'; admission: Admission; reason: string }
  /** The commit failed: nothing was written, but the in-memory sum holds the accepted updates. */
  | { kind: 'failed'; admission: Admission; err: unknown };

/**
 * Reads, admits and commits `batch` against the state `stateOf` returns once the store was read. `syncHead`
 * (shared store) brings that state up to date with the other processes; it runs beside the reads, so a
 * batch costs one round trip to read and one to commit, and the clients are read again only when it moved
 * the round on.
 */
export async function commitBatch(
  store: Store,
  batch: Submission[],
  stateOf: () => AdmissionState,
  syncHead?: () => Promise<void>,
): Promise<BatchOutcome> {
  const clients = batch.map((s) => s.clientId);
  const seenIn = async (roundId: number | undefined): Promise<Set<string>> =>
    roundId === undefined ? new Set() : store.clientsInRound(roundId, clients);
  let existing: Map<string, UpdateRecord>;
  let seen: Set<string>;
  try {
    const before = stateOf().open?.round.id;
    // allSettled: a failed read must not return while the sync is still changing the writer's state.
    const [found, inRound, synced] = await Promise.allSettled([
      store.findUpdates(batch.map((s) => s.key)),
      seenIn(before),
      syncHead?.(),
    ]);
    for (const r of [found, inRound, synced]) if (r.status === 'rejected') throw r.reason;
    existing = (found as PromiseFulfilledResult<Map<string, UpdateRecord>>).value;
    seen = (inRound as PromiseFulfilledResult<Set<string>>).value;
    const now = stateOf().open?.round.id;
    if (now !== before) seen = await seenIn(now);
  } catch (err) {
    return { kind: 'unread', err };
  }
  const state = stateOf();
  const admission = admitBatch(batch, existing, seen, state);
  if (admission.accepted.length === 0) return { kind: 'committed', admission, ms: 0, sharedAccepted: null };
  const roundId = state.open!.round.id;
  const acc = state.open!.acc;
  const recs = admission.accepted.map((a) => a.rec);
  const started = performance.now();
  let sharedAccepted: number | null = null;
  try {
    if (store.shared)
      sharedAccepted = await store.shared.commitPartial(roundId, recs, acc, state.rounds.maxClients);
    else await store.commitUpdates(roundId, recs, acc);
  } catch (err) {
    if (err instanceof StoreConflict) return { kind: 'raced', admission, reason: err.message };
    return { kind: 'failed', admission, err };
  }
  return { kind: 'committed', admission, ms: performance.now() - started, sharedAccepted };
}

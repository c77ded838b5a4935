/**
 * The per-process partial sums of the PostgreSQL store (table round_partials): each server process keeps
 * the running sum of the updates it accepted as its own row, keyed by round and writer id, rewritten once
 * per committed batch (by fedrank_commit_partial, pg-migrations.ts); a close merges every writer's row.
 * Plain functions over one connection, so the store's transactions decide what runs together.
 */
import type pg from 'pg';
import { emptyAccumulator } from '../ingest.ts';
import { toAcc, type SumRow } from './rows.ts';
import type { RoundAccumulator } from './types.ts';

/** Anything that runs a query: a pool or one transaction's client. */
type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

/** Adds partial b into a (the close's merge). */
export function mergeInto(a: RoundAccumulator, b: RoundAccumulator): void {
  for (let i = 0; i < a.sum.length; i++) a.sum[i]! += b.sum[i]!;
  a.weight += b.weight;
  a.count += b.count;
  a.sqWeightSum += b.sqWeightSum;
  a.maxWeight = Math.max(a.maxWeight, b.maxWeight);
}

/** The sum of every writer's partial of round `roundId`. */
export async function mergedPartials(c: Queryable, roundId: number, n: number): Promise<RoundAccumulator> {
  const merged = emptyAccumulator(n);
  const rows = (await c.query('SELECT * FROM round_partials WHERE round_id = $1', [roundId]))
    .rows as SumRow[];
  for (const p of rows) mergeInto(merged, toAcc(p, n));
  return merged;
}

/** Writer `writer`'s partial of round `roundId` (empty when it has none). */
export async function ownPartial(
  c: Queryable,
  roundId: number,
  writer: string,
  n: number,
): Promise<RoundAccumulator> {
  const r = await c.query('SELECT * FROM round_partials WHERE round_id = $1 AND writer = $2', [
    roundId,
    writer,
  ]);
  const p = r.rows[0] as SumRow | undefined;
  return p ? toAcc(p, n) : emptyAccumulator(n);
}

/**
 * After a close has committed: deletes the closed round's partial sums (a late commit holding one of their
 * row locks has failed on the closed round by now, so this cannot deadlock with it) and VACUUMs the
 * table, so the dead versions of the sums (two successive ones differ by one batch of uploads) are
 * reclaimed rather than kept until autovacuum. Best effort: the next close deletes them again.
 */
export async function scrubPartials(pool: pg.Pool, roundId: number): Promise<void> {
  try {
    await pool.query('DELETE FROM round_partials WHERE round_id <= $1', [roundId]);
    await pool.query('VACUUM round_partials');
  } catch {
    // The close has committed; the rows go at the next close.
  }
}

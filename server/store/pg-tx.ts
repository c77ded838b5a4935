/**
 * One PostgreSQL transaction on one pooled connection: BEGIN (or a stricter mode), the work, COMMIT; a
 * ROLLBACK on any error, and the connection always goes back to the pool. Shared by every PostgreSQL store.
 */
import type pg from 'pg';

/** Runs `fn` in one transaction on one connection of `pool`. */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (c: pg.PoolClient) => Promise<T>,
  mode = 'BEGIN',
): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query(mode);
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}

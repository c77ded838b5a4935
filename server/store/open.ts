/** The store a configuration names: PostgreSQL when `store` is a postgres:// URL, else SQLite at `db`. */
import { FedrankError } from '../../shared/errors.ts';
import type { ServerConfig } from '../config.ts';
import { PostgresStore } from './postgres.ts';
import { SqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

/** Why PostgreSQL refused a start, by error code (node's for the network, SQLSTATE for the server). */
const PG_REASONS: Record<string, string> = {
  ECONNREFUSED: 'nothing accepts connections there (is PostgreSQL running, on that port?)',
  ENOTFOUND: 'no such host name',
  EAI_AGAIN: 'the host name cannot be resolved right now',
  ETIMEDOUT: 'the connection timed out',
  '3D000': 'no such database (create it with createdb)',
  '28P01': 'password authentication failed',
  '28000': 'the server refused this user (pg_hba.conf)',
};

/** A PostgreSQL URL as an operator may see it in a log: user, host, port and database, never a password. */
export function storeAddress(url: string): string {
  try {
    const u = new URL(url);
    const user = u.username ? `${decodeURIComponent(u.username)}@` : '';
    return `${u.protocol}//${user}${u.host}${u.pathname}`;
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

/** Opens (and for PostgreSQL, migrates) the configured store; PostgreSQL refusals are STORE_UNAVAILABLE. */
export async function openStore(config: ServerConfig): Promise<Store> {
  if (!config.store) return new SqliteStore({ path: config.db, durability: config.durability });
  try {
    return await PostgresStore.open({ url: config.store });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code in PG_REASONS)
      throw new FedrankError('STORE_UNAVAILABLE', `${PG_REASONS[code]} (${code})`);
    throw err;
  }
}

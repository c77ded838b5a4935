/** The store a configuration names: PostgreSQL when `store` is a postgres:// URL, else SQLite at `db`. */
import type { ServerConfig } from '../config.ts';
import { PostgresStore } from './postgres.ts';
import { SqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

/** Opens (and for PostgreSQL, migrates) the configured store. */
export async function openStore(config: ServerConfig): Promise<Store> {
  if (config.store) return PostgresStore.open({ url: config.store });
  return new SqliteStore({ path: config.db, durability: config.durability });
}

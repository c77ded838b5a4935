/**
 * Starts the secure-aggregation lifecycle of a server: its store (SQLite beside the main database, with
 * secure_delete; or the shared PostgreSQL database when `store` names one), the SecureRounds driver and the
 * relay routes. Called by buildServer when privacy.secureAggregation is on.
 */
import type { FastifyInstance } from 'fastify';
import type { Aggregator } from './aggregator.ts';
import type { ServerConfig } from './config.ts';
import { registerSecAggRoutes } from './routes-secagg.ts';
import type { SecAggResult } from './secagg/coordinator.ts';
import { PostgresSecAggStore } from './secagg/store-postgres.ts';
import { SqliteSecAggStore } from './secagg/store-sqlite.ts';
import type { SecAggStore } from './secagg/store.ts';
import { SecureRounds } from './secure-rounds.ts';

/** The secure-aggregation database: beside the main one (':memory:' stays in memory). */
export function secAggDbPath(mainDb: string): string {
  return mainDb === ':memory:' ? ':memory:' : mainDb.replace(/(\.db)?$/, '.secagg.db');
}

async function openOwn(config: ServerConfig): Promise<PostgresSecAggStore | SqliteSecAggStore> {
  return config.store
    ? PostgresSecAggStore.open(config.store)
    : SqliteSecAggStore.open(secAggDbPath(config.db));
}

/** Options of startSecureRounds. */
export interface SecureWiring {
  config: ServerConfig;
  aggregator: Aggregator;
  now: () => number;
  /** Default: PostgreSQL at config.store when set, else SQLite at secAggDbPath(config.db). */
  store?: SecAggStore;
  /** Test seam (SecureRounds). */
  onResult?: (r: SecAggResult) => void;
}

/** Registers the relay routes and starts the lifecycle; stops it and closes its store with the app. */
export async function startSecureRounds(app: FastifyInstance, w: SecureWiring): Promise<SecureRounds> {
  const own = w.store ? null : await openOwn(w.config);
  const store = w.store ?? own!;
  const secure = new SecureRounds(w.config, w.aggregator, store, app.log, w.now, w.onResult);
  registerSecAggRoutes(app, {
    coordinator: secure.coordinator,
    store,
    d: w.aggregator.model.paramCount,
    neighbours: w.config.secureAggregation.neighbours,
    now: w.now,
    current: () => secure.currentRound(),
    onMessage: () => void secure.check(),
  });
  app.addHook('onClose', async () => {
    secure.stop();
    await secure.check();
    await own?.close();
  });
  await secure.start();
  return secure;
}

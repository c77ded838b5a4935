/** Turns what can go wrong while a server starts into one catalogued error naming the file or address. */
import { FedrankError, isFedrankError } from '../shared/errors.ts';
import { storeAddress } from '../server/store/open.ts';

/** The address a server was asked to listen on, as an operator would type it. */
export function addressOf(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

const LISTEN_REASONS: Record<string, string> = {
  EADDRINUSE: 'the port is already in use (another fedrank? choose another with --port)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'this machine has no such address (use 127.0.0.1, 0.0.0.0 or one of its own addresses)',
  ENOTFOUND: 'no such host name',
  EAI_AGAIN: 'the host name cannot be resolved right now',
};

/**
 * A start-up error as a FedrankError: listen errors -> LISTEN_FAILED with the address, SQLite errors ->
 * STORE_CORRUPT / STORE_UNAVAILABLE with the database file, or the PostgreSQL address (no password) when
 * `store` is set; catalogued errors keep their code.
 */
export function startFailure(
  err: unknown,
  where: { db: string; host: string; port: number; store?: string },
): FedrankError {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const first = String(e.message ?? err).split('\n')[0]!;
  if (isFedrankError(err)) {
    // Store errors name the file or address; others (CONFIG_INVALID, ...) already say what they are about.
    const place = where.store ? storeAddress(where.store) : where.db;
    return err.code === 'STORE_CORRUPT' || err.code === 'STORE_UNAVAILABLE'
      ? new FedrankError(err.code, `${place}: ${err.detail ?? err.message}`)
      : err;
  }
  if (code in LISTEN_REASONS)
    return new FedrankError(
      'LISTEN_FAILED',
      `${addressOf(where.host, where.port)}: ${LISTEN_REASONS[code]} (${code})`,
    );
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT')
    return new FedrankError(
      'STORE_CORRUPT',
      `${where.db}: not a readable fedrank database (${first}); restore a backup or move the file away to start afresh`,
    );
  if (code.startsWith('SQLITE_') || code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR')
    return new FedrankError('STORE_UNAVAILABLE', `${where.db}: ${first} (${code})`);
  return new FedrankError('INTERNAL', first);
}

/**
 * What a PostgreSQL cluster spent during a benchmark run: CPU of its processes (postmaster and children,
 * from /proc, Linux), WAL bytes written (pg_stat_wal) and partial-sum writes (one per committed batch of
 * each server process: inserts and updates of round_partials). Two snapshots, subtracted.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

/** Counters of one cluster at one moment. */
export interface PgUsage {
  cpuMs: number;
  walBytes: number;
  partialWrites: number;
}

/** utime + stime of a process in ms, from /proc (Linux); 0 once it has exited. */
export function cpuMsOf(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** The parent pid of a process, or null once it has exited. */
function parentOf(pid: string): string | null {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return f.slice(f.lastIndexOf(')') + 2).split(' ')[1]!;
  } catch {
    return null;
  }
}

/** Counters of the cluster behind `url` (database `url` names, where round_partials lives). */
export async function pgUsage(url: string): Promise<PgUsage> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    // Backends publish their statistics up to about a second after their transactions: let them.
    await new Promise((r) => setTimeout(r, 1500));
    const dir = (await c.query<{ data_directory: string }>('SHOW data_directory')).rows[0]!.data_directory;
    const wal = (await c.query<{ wal_bytes: string }>('SELECT wal_bytes FROM pg_stat_wal')).rows[0]!;
    const t = (
      await c.query<{ n: string | null }>(
        `SELECT n_tup_ins + n_tup_upd AS n FROM pg_stat_user_tables WHERE relname = 'round_partials'`,
      )
    ).rows[0];
    const postmaster = readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]!.trim();
    let cpuMs = cpuMsOf(Number(postmaster));
    for (const p of readdirSync('/proc'))
      if (/^\d+$/.test(p) && parentOf(p) === postmaster) cpuMs += cpuMsOf(Number(p));
    return { cpuMs, walBytes: Number(wal.wal_bytes), partialWrites: Number(t?.n ?? 0) };
  } finally {
    await c.end();
  }
}

/**
 * A throwaway PostgreSQL cluster for tests, the benchmark and the load run: `initdb` into a temp folder,
 * `pg_ctl start` on a free port with its unix socket in that folder, removed again by `stop()`. Runs the
 * binaries as the `postgres` user when this process is root (PostgreSQL refuses to run as root).
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** A running throwaway cluster. */
export interface PgCluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  /** A new empty database on the same cluster, for isolated tests; returns its URL. */
  database(name: string): Promise<string>;
  stop(): void;
}

/** Directories where Debian and other distributions put initdb/pg_ctl when they are not on PATH. */
function candidateDirs(): string[] {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian))
    for (const v of readdirSync(debian).sort((a, b) => Number(b) - Number(a)))
      dirs.push(join(debian, v, 'bin'));
  return dirs;
}

/** The folder holding initdb and pg_ctl, or null when PostgreSQL is not installed. */
export function findPgBin(): string | null {
  for (const d of candidateDirs())
    if (existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl')) && existsSync(join(d, 'psql')))
      return d;
  for (const d of candidateDirs())
    if (existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl'))) return d;
  return null;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function runPg(bin: string, tool: string, args: string[]): string {
  const cmd = join(bin, tool);
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  return execFileSync(file, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Options of a throwaway cluster. */
export interface PgClusterOptions {
  /** fsync=off makes commits cheap (tests kill server processes, never PostgreSQL); the benchmark keeps it on. */
  fsync?: boolean;
  maxConnections?: number;
}

/** Starts a throwaway cluster; throws when the binaries are missing (see findPgBin). */
export async function startPgCluster(opts: PgClusterOptions = {}): Promise<PgCluster> {
  const bin = findPgBin();
  if (!bin)
    throw new Error('PostgreSQL binaries (initdb, pg_ctl) not found on PATH or under /usr/lib/postgresql');
  const dir = mkdtempSync(join(tmpdir(), 'fedrank-pg-'));
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const port = await freePort();
  try {
    runPg(bin, 'initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale']);
    const settings = [
      `-p ${port}`,
      `-k ${dir}`,
      `-c listen_addresses=127.0.0.1`,
      `-c max_connections=${opts.maxConnections ?? 100}`,
      `-c fsync=${opts.fsync === false ? 'off' : 'on'}`,
      `-c shared_buffers=128MB`,
    ].join(' ');
    runPg(bin, 'pg_ctl', ['-D', data, '-o', settings, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    async database(name: string): Promise<string> {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop(): void {
      try {
        runPg(bin, 'pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * For test files: whether to run PostgreSQL tests. Missing binaries skip them locally (with the reason
 * printed) but fail under CI=true, where .ci/run installs PostgreSQL.
 */
export function pgAvailability(): { run: boolean; reason: string } {
  if (findPgBin()) return { run: true, reason: '' };
  const reason = 'PostgreSQL tests skipped: initdb/pg_ctl not found (apt-get install postgresql)';
  if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires them`);
  console.warn(reason);
  return { run: false, reason };
}

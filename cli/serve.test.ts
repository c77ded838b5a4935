import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, pgAvailability, startPgCluster } from '../server/store/pg-cluster.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/fedrank.mjs');
const dir = mkdtempSync(join(tmpdir(), 'fedrank-serve-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function env(): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e.FEDRANK_OPERATOR_TOKEN;
  return e;
}

function fedrank(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [BIN, ...args], {
    env: env(),
    encoding: 'utf8',
    timeout: 60_000,
    cwd: dir,
  });
}

/** Starts `fedrank serve`; resolves with its stdout once it printed where the token is. */
async function serve(...args: string[]): Promise<{ child: ChildProcess; out: () => string; url: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--log-level', 'info', ...args], {
    env: env(),
    cwd: dir,
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  await new Promise<void>((ok, fail) => {
    const check = (): void => {
      if (/operator token: /.test(out)) ok();
      else if (child.exitCode !== null) fail(new Error(out));
      else setTimeout(check, 50);
    };
    check();
  });
  const url = /listening on (http:\/\/\S+)/.exec(out)![1]!;
  return { child, out: () => out, url };
}

async function stop(child: ChildProcess): Promise<void> {
  const done = new Promise((ok) => child.once('exit', ok));
  child.kill('SIGTERM');
  await done;
}

const status = async (url: string, token: string): Promise<number> =>
  (await fetch(`${url}/v1/admin/status`, { headers: { authorization: `Bearer ${token}` } })).status;

describe('fedrank serve: the operator token', () => {
  it('without a configured token generates one beside the database (0600), prints where, never the token', async () => {
    const db = join(dir, 'shop', 'fedrank.db');
    const s = await serve('--db', db);
    const path = join(dir, 'shop', 'operator-token');
    const token = readFileSync(path, 'utf8').trim();
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(s.out()).toContain(`operator token: generated in ${path}`);
    expect(await status(s.url, token)).toBe(200);
    expect(await status(s.url, 'x'.repeat(43))).toBe(401);

    // token show prints it; rotate replaces it and the running server follows without a restart.
    expect(fedrank('token', 'show', '--db', db).stdout.trim()).toBe(token);
    expect(fedrank('token', 'path', '--db', db).stdout.trim()).toBe(path);
    const r = fedrank('token', 'rotate', '--db', db);
    expect(r.status).toBe(0);
    const rotated = readFileSync(path, 'utf8').trim();
    expect(rotated).not.toBe(token);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await status(s.url, token)).toBe(401);
    expect(await status(s.url, rotated)).toBe(200);
    await stop(s.child);
    // Neither token ever reached the logs or the terminal.
    expect(s.out()).not.toContain(token);
    expect(s.out()).not.toContain(rotated);
    // A restart keeps the rotated token.
    const again = await serve('--db', db);
    expect(again.out()).toContain(`operator token: in ${path}`);
    expect(await status(again.url, rotated)).toBe(200);
    await stop(again.child);
  }, 60_000);
});

describe('fedrank CLI failures: one line `fedrank: CODE: detail`, exit 2, naming the file or address', () => {
  const oneLine = (r: { status: number | null; stderr: string }, re: RegExp): void => {
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(re);
  };

  it('a corrupt database', () => {
    const db = join(dir, 'corrupt.db');
    writeFileSync(db, 'this is not an sqlite database '.repeat(300));
    oneLine(fedrank('serve', '--db', db, '--port', '0'), /^fedrank: STORE_CORRUPT: .*corrupt\.db: /);
  });

  it('a bad --host, and an address this machine does not have', () => {
    oneLine(
      fedrank('serve', '--host', 'not a host', '--db', join(dir, 'h.db')),
      /^fedrank: CONFIG_INVALID: host: /,
    );
    oneLine(
      fedrank('serve', '--host', '192.0.2.1', '--port', '0', '--db', join(dir, 'h.db')),
      /^fedrank: LISTEN_FAILED: 192\.0\.2\.1:0: .*EADDRNOTAVAIL/,
    );
  });

  it('an unreadable or invalid config file', () => {
    oneLine(
      fedrank('serve', '--config', join(dir, 'missing.json')),
      /^fedrank: CONFIG_INVALID: .*missing\.json: cannot read/,
    );
    const file = join(dir, 'two.json');
    writeFileSync(file, JSON.stringify({ port: -1, training: { batchSize: 5e5 } }));
    oneLine(
      fedrank('serve', '--config', file),
      /CONFIG_INVALID: 2 problems: port: .*; training\.batchSize: /,
    );
  });

  it('a PostgreSQL store nobody serves: the address without its password', async () => {
    const port = await freePort();
    const r = fedrank(
      'serve',
      '--port',
      '0',
      '--store',
      `postgres://fedrank:s3cret@127.0.0.1:${port}/fedrank`,
    );
    oneLine(
      r,
      new RegExp(
        `^fedrank: STORE_UNAVAILABLE: postgres://fedrank@127\\.0\\.0\\.1:${port}/fedrank: nothing accepts connections.*\\(ECONNREFUSED\\)`,
      ),
    );
    expect(r.stderr).not.toContain('s3cret');
  });

  it.skipIf(!pgAvailability().run)(
    'a PostgreSQL database that does not exist',
    async () => {
      const cluster = await startPgCluster({ fsync: false });
      try {
        const url = new URL(await cluster.database('exists'));
        url.pathname = '/missing';
        oneLine(
          fedrank('serve', '--port', '0', '--store', url.href),
          /^fedrank: STORE_UNAVAILABLE: postgres:\/\/.*\/missing: no such database .*\(3D000\)/,
        );
      } finally {
        await cluster.stop();
      }
    },
    60_000,
  );

  it('a port in use', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((ok) => blocker.listen(0, '127.0.0.1', ok));
    const port = (blocker.address() as { port: number }).port;
    try {
      oneLine(
        fedrank('serve', '--port', String(port), '--db', join(dir, 'p.db')),
        new RegExp(`^fedrank: LISTEN_FAILED: 127\\.0\\.0\\.1:${port}: the port is already in use`),
      );
    } finally {
      blocker.close();
    }
  });
});

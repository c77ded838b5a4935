/**
 * Starts the aggregation server for the local stack from a partial configuration: in this process
 * (server/app.ts), or as a child `fedrank serve` process that can be killed like a crashed server.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeConfig } from '../server/config.ts';
import { startServer, type ServerDeps } from '../server/app.ts';

/** A listening aggregation server. */
export interface AggregationServer {
  url: string;
  port: number;
  /** Graceful stop (drains pending writes), or for a child process a kill with `signal`. */
  close(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Contributions admitted with a verified token and without one (in-process servers only). */
  tokensAdmitted?: () => { verified: number; unverified: number };
}

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

/**
 * Validates `overrides` over the server defaults (CONFIG_INVALID on a bad value) and listens in-process;
 * `seams` are the server's in-process test seams (e2e scenarios only).
 */
export async function startAggregationServer(
  overrides: Record<string, unknown>,
  seams: Pick<ServerDeps, 'onSecAggResult' | 'clock'> = {},
): Promise<AggregationServer> {
  const config = makeConfig(overrides);
  const s = await startServer(config, seams);
  return {
    url: s.url,
    port: Number(new URL(s.url).port),
    close: () => s.close(),
    tokensAdmitted: () => ({ ...s.tokens.admitted }),
  };
}

/** A port that was free a moment ago (for a child process that must be told its port up front). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => ok(port));
    });
  });
}

/**
 * Runs `fedrank serve --config <dataDir>/server.json` as a child process and waits for /healthz; close()
 * sends SIGTERM (graceful) or SIGKILL (a crash: nothing gets to flush).
 */
export async function spawnAggregationServer(
  overrides: Record<string, unknown>,
  dataDir: string,
  timeoutMs = 30_000,
): Promise<AggregationServer> {
  const config = makeConfig(overrides);
  const port = config.port === 0 ? await freePort(config.host) : config.port;
  const file = join(dataDir, 'server.json');
  writeFileSync(file, JSON.stringify({ ...config, port }, null, 2));
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'fedrank.mjs'), 'serve', '--config', file], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const url = `http://${config.host}:${port}`;
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`fedrank serve exited with ${child.exitCode}: ${stderr}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) {
      child.kill('SIGKILL');
      throw new Error(`fedrank serve did not answer /healthz within ${timeoutMs} ms: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    close: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/**
 * `npx tsx bench/load-run.ts [--shoppers N] [--seconds S]`: the load run behind docs/scale.md. Two `fedrank
 * serve` processes on one PostgreSQL (a throwaway cluster, fsync on), the default model, and the product's
 * simulated shoppers (demo/shoppers.ts: the shared learner, codec and protocol over HTTP), half of them on
 * each process as a round-robin load balancer would spread them. Measures accepted updates and closed
 * rounds per second, server CPU per update, and PostgreSQL transactions, row writes and WAL bytes per
 * update. Writes bench/results/load-run.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { registerTfjsResolveHook } from '../cli/tfjs-node.ts';
registerTfjsResolveHook();
const { startShoppers } = await import('../demo/shoppers.ts');
const { loadCatalog } = await import('../demo/shop-server.ts');
const { freePort, startPgCluster } = await import('../server/store/pg-cluster.ts');

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SHOPPERS = arg('shoppers', 24);
const SECONDS = arg('seconds', 90);
const TOKEN = 'load-run-operator-token-0123456789';
const ROOT = new URL('..', import.meta.url).pathname;

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

const dir = mkdtempSync(join(tmpdir(), 'fedrank-load-'));
const cluster = await startPgCluster({ fsync: true });
const children: ChildProcess[] = [];
try {
  const url = await cluster.database('load');
  const config = {
    rounds: { minClients: 10, maxClients: 20, deadlineSeconds: 10, maxStaleness: 3 },
    training: {
      expectedClientsPerRound: 10,
      minNewEvents: 4,
      localEpochs: 1,
      clipNorm: 0.05,
      noiseMode: 'local',
    },
    privacy: { epsilonBudget: null },
    limits: { perIpPerMinute: 0, perClientPerMinute: 0 },
    logLevel: 'warn',
  };
  const configFile = join(dir, 'server.json');
  writeFileSync(configFile, JSON.stringify(config));
  const bases: string[] = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const c = spawn(
      process.execPath,
      [
        join(ROOT, 'bin/fedrank.mjs'),
        'serve',
        '--config',
        configFile,
        '--store',
        url,
        '--port',
        String(port),
      ],
      { env: { ...process.env, FEDRANK_OPERATOR_TOKEN: TOKEN }, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    children.push(c);
    const base = `http://127.0.0.1:${port}`;
    for (;;) {
      if (c.exitCode !== null) throw new Error('fedrank serve exited');
      if (
        await fetch(`${base}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    bases.push(base);
  }
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const pgStats = async () =>
    (
      await db.query(
        `SELECT xact_commit::float8 AS commits, (tup_inserted + tup_updated + tup_deleted)::float8 AS rows,
           pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 AS wal FROM pg_stat_database
         WHERE datname = current_database()`,
      )
    ).rows[0] as { commits: number; rows: number; wal: number };
  const rounds = async (): Promise<number> => {
    const r = await fetch(`${bases[0]}/v1/admin/rounds?limit=10000`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    return ((await r.json()) as { rounds: { state: string }[] }).rounds.filter((x) => x.state === 'closed')
      .length;
  };
  const catalog = loadCatalog();
  const sims = await Promise.all(
    bases.map((serverUrl, i) =>
      startShoppers({
        serverUrl,
        count: SHOPPERS / 2,
        catalog,
        seed: i + 1,
        pauseMs: 200,
        evalReports: true,
      }),
    ),
  );
  // Warm-up: every shopper has fetched the model and trained once.
  await new Promise((r) => setTimeout(r, 15_000));
  const acc0 = sims.reduce((a, s) => a + s.stats().updatesAccepted, 0);
  const rounds0 = await rounds();
  const pg0 = await pgStats();
  const cpu0 = children.map((c) => cpuMs(c.pid!));
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const seconds = (performance.now() - t0) / 1000;
  const stats = sims.map((s) => s.stats());
  const accepted = stats.reduce((a, s) => a + s.updatesAccepted, 0) - acc0;
  const closed = (await rounds()) - rounds0;
  const pg1 = await pgStats();
  const cpu1 = children.map((c) => cpuMs(c.pid!));
  await Promise.all(sims.map((s) => s.stop()));
  await db.end();
  const manifest = (await (await fetch(`${bases[0]}/v1/model`)).json()) as {
    paramCount: number;
    weightsUrl: string;
  };
  const weights = await fetch(`${bases[0]}${manifest.weightsUrl}`, { headers: { 'accept-encoding': 'br' } });
  const per = (x: number) => Number((x / Math.max(1, accepted)).toFixed(2));
  const result = {
    benchmark: 'load run: simulated shoppers against two fedrank serve processes on one PostgreSQL',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
    setup: {
      shoppers: SHOPPERS,
      processes: 2,
      seconds: Number(seconds.toFixed(1)),
      params: manifest.paramCount,
      config,
    },
    accepted,
    acceptedPerSecond: Number((accepted / seconds).toFixed(2)),
    roundsClosed: closed,
    roundsPerHour: Math.round((closed / seconds) * 3600),
    serverCpuMsPerUpdate: cpu1.map((c, i) => per(c - cpu0[i]!)),
    serverCpuShare: cpu1.map((c, i) => Number(((c - cpu0[i]!) / 1000 / seconds).toFixed(3))),
    postgres: {
      commitsPerUpdate: per(pg1.commits - pg0.commits),
      rowWritesPerUpdate: per(pg1.rows - pg0.rows),
      walBytesPerUpdate: Math.round((pg1.wal - pg0.wal) / Math.max(1, accepted)),
      commitsPerSecond: Number(((pg1.commits - pg0.commits) / seconds).toFixed(1)),
    },
    // fetch decompresses: the bytes on the wire are the content-length of the brotli body.
    weightsDownloadBytesBrotli: Number(weights.headers.get('content-length')),
    shopperStats: stats,
  };
  console.log(JSON.stringify(result, null, 2));
  const out = new URL('./results/', import.meta.url).pathname;
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'load-run.json'), JSON.stringify(result, null, 2) + '\n');
} finally {
  for (const c of children) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  for (const c of children) c.kill('SIGKILL');
  cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Ingest through `fedrank serve` processes on each store: one process on SQLite, one and two processes on
 * one PostgreSQL (a throwaway cluster, fsync on), the uploaders spreading requests over the processes, each
 * rate divided by the bare add loop measured right before and after in this process, with the ack latency
 * and, on PostgreSQL, what the cluster spent (pg-usage.ts). And the bytes of one model download: today's
 * raw float32 against the compact weights, raw and under gzip and brotli.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { encodeTensor } from '../shared/codec/tensor-codec.ts';
import { encodeCompactWeights } from '../shared/codec/weights.ts';
import { modelFromConfig } from '../server/model-source.ts';
import { makeConfig } from '../server/config.ts';
import { freePort, startPgCluster } from '../server/store/pg-cluster.ts';
import { specWithParams } from '../server/testing.ts';
import { bareAdd, payloadsFor, round, UPLOADER, type UploadResult } from './ingest-kit.ts';
import { cpuMsOf, pgUsage } from './pg-usage.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const TOKEN = 'bench-operator-token-0123456789';

/** One store configuration's ingest run. */
export interface StoreRun {
  store: 'sqlite' | 'postgres';
  processes: number;
  params: number;
  concurrency: number;
  updates: number;
  updatesPerSecond: number;
  bareAddUpdatesPerSecond: number;
  ratioToBareAdd: number;
  /** CPU ms per update of the server processes (PostgreSQL's own CPU not included). */
  serverCpuMsPerUpdate: number;
  /** PostgreSQL only (else null): CPU ms per update of the cluster's processes (pg-usage.ts). */
  postgresCpuMsPerUpdate: number | null;
  /** PostgreSQL only: WAL bytes per update, and updates per partial-sum write (the mean batch). */
  walBytesPerUpdate: number | null;
  updatesPerPartialWrite: number | null;
  /** Per upload, request sent to acknowledgement read, at the uploader (ms). */
  ackP50Ms: number;
  ackP99Ms: number;
  /** The machine's 1-minute load average right after the run (other jobs included). */
  loadAverage: number;
}

async function ready(url: string, c: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 6000; i++) {
    if (c.exitCode !== null) throw new Error(`server exited: ${log()}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not yet listening
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`server not ready: ${log()}`);
}

/** Runs `updates` uploads at `concurrency` against `processes` serve processes on one store. */
export async function runStore(
  store: 'sqlite' | 'postgres',
  processes: number,
  /** Parameter count the model is built for; null: the default model of the configuration. */
  target: number | null,
  updates: number,
  concurrency: number,
  roundSize: number,
): Promise<StoreRun> {
  const dir = mkdtempSync(join(tmpdir(), 'fedrank-bench-stores-'));
  const cluster = store === 'postgres' ? await startPgCluster({ fsync: true }) : null;
  const children: ChildProcess[] = [];
  let stderr = '';
  try {
    const model = target === null ? {} : { model: { spec: specWithParams(target) } };
    const configFile = join(dir, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        ...model,
        training: { clipNorm: 1, noiseMultiplier: 1, noiseMode: 'local', expectedClientsPerRound: 1 },
        rounds: {
          minClients: roundSize,
          maxClients: roundSize,
          deadlineSeconds: null,
          maxStaleness: 1_000_000,
        },
        limits: { perIpPerMinute: 0, perClientPerMinute: 0 },
        // The upload and merge path only, as in bench/server.ts; redemption costs are in bench/tokens.ts.
        tokens: { required: false },
        logLevel: 'warn',
      }),
    );
    const storeArgs = cluster
      ? ['--store', await cluster.database('bench')]
      : ['--db', join(dir, 'bench.db')];
    const urls: string[] = [];
    for (let i = 0; i < processes; i++) {
      const port = await freePort();
      const c = spawn(
        process.execPath,
        [
          join(ROOT, 'bin/fedrank.mjs'),
          'serve',
          '--config',
          configFile,
          ...storeArgs,
          '--port',
          String(port),
        ],
        { env: { ...process.env, FEDRANK_OPERATOR_TOKEN: TOKEN }, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      c.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
      children.push(c);
      urls.push(`http://127.0.0.1:${port}`);
      // One at a time: the first initializes the database.
      await ready(urls[i]!, c, () => stderr);
    }
    const source = modelFromConfig(makeConfig({ operatorToken: TOKEN, ...model }));
    const n = source.paramCount;
    const payloads = payloadsFor(source.modelId, n, 1);
    const payloadFile = join(dir, 'payloads.bin');
    writeFileSync(
      payloadFile,
      Buffer.concat(payloads.flatMap((p) => [Buffer.from(Uint32Array.of(p.length).buffer), Buffer.from(p)])),
    );
    const up = spawn(process.execPath, ['-e', UPLOADER], {
      env: { ...process.env, FEDRANK_BENCH_PAYLOADS: payloadFile },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(up);
    await new Promise((resolve) => up.once('message', resolve));
    const upload = (count: number) =>
      new Promise<UploadResult>((resolve) => {
        up.once('message', (m) => resolve(m as never));
        up.send({ urls: urls.map((u) => `${u}/v1/updates`), count, concurrency });
      });
    await upload(Math.min(200, updates)); // warm-up
    const pgUrl = cluster ? storeArgs[1]! : null;
    const pg0 = pgUrl ? await pgUsage(pgUrl) : null;
    const before = bareAdd(payloads, n);
    const servers = children.slice(0, processes);
    const cpu0 = servers.reduce((a, c) => a + cpuMsOf(c.pid!), 0);
    const r = await upload(updates);
    const cpu1 = servers.reduce((a, c) => a + cpuMsOf(c.pid!), 0);
    const pg1 = pgUrl ? await pgUsage(pgUrl) : null;
    const after = bareAdd(payloads, n);
    if (r.failures > 0) throw new Error(`${r.failures} uploads failed: ${r.firstError}`);
    const bare = (before.rate + after.rate) / 2;
    const ups = updates / r.seconds;
    const run: StoreRun = {
      store,
      processes,
      params: n,
      concurrency,
      updates,
      updatesPerSecond: round(ups, 1),
      bareAddUpdatesPerSecond: round(bare, 1),
      ratioToBareAdd: round(ups / bare, 4),
      serverCpuMsPerUpdate: round((cpu1 - cpu0) / updates, 4),
      postgresCpuMsPerUpdate: pg0 && pg1 ? round((pg1.cpuMs - pg0.cpuMs) / updates, 4) : null,
      walBytesPerUpdate: pg0 && pg1 ? Math.round((pg1.walBytes - pg0.walBytes) / updates) : null,
      updatesPerPartialWrite:
        pg0 && pg1 ? round(updates / Math.max(1, pg1.partialWrites - pg0.partialWrites), 2) : null,
      ackP50Ms: round(r.ackP50Ms, 1),
      ackP99Ms: round(r.ackP99Ms, 1),
      loadAverage: round(loadavg()[0]!, 2),
    };
    console.log(JSON.stringify(run));
    return run;
  } finally {
    for (const c of children) c.kill('SIGKILL');
    cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Ingest at 64 uploaders, SQLite x1, PostgreSQL x1 and x2: of the default model (the goal's size) and of the
 * ~400k-parameter model the earlier runs used.
 */
export async function benchStores(updates: number, roundSize: number): Promise<StoreRun[]> {
  const runs: StoreRun[] = [];
  for (const target of [null, 400_000])
    for (const [store, processes] of [
      ['sqlite', 1],
      ['postgres', 1],
      ['postgres', 2],
    ] as const)
      runs.push(await runStore(store, processes, target, updates, 64, roundSize));
  return runs;
}

/** Bytes of one model download, float32 (GET /v1/model/weights) against compact weights. */
export function downloadBytes(target: number | null) {
  const config = makeConfig({
    operatorToken: TOKEN,
    ...(target ? { model: { spec: specWithParams(target) } } : {}),
  });
  const model = modelFromConfig(config);
  const params = model.init();
  const f32 = encodeTensor(
    { kind: 'weights', modelId: model.modelId, baseVersion: 0, round: 0, encoding: 'f32' },
    params,
  );
  const i8 = encodeCompactWeights(model.modelId, 0, 0, params);
  const br = brotliCompressSync(i8).byteLength;
  return {
    params: model.paramCount,
    model: target ? `${target} target` : 'default spec (initialized)',
    float32Raw: f32.byteLength,
    float32Gzip: gzipSync(f32).byteLength,
    compactRaw: i8.byteLength,
    compactGzip: gzipSync(i8).byteLength,
    compactBrotli: br,
    brotliRatioToFloat32Raw: round(br / f32.byteLength, 4),
  };
}

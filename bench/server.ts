/**
 * `npm run bench:server`: update ingestion throughput of the real server over loopback HTTP (validation,
 * decode, accumulate, durable SQLite commit, acknowledgement), for a ~100k and a ~400k parameter model with
 * int8 payloads at 1 and 64 concurrent uploaders, beside a bare float32 add loop over the same payloads
 * measured in the same run; and peak RSS after 1,000 and after 20,000 updates. Then ingest through `fedrank
 * serve` processes on SQLite (1) and PostgreSQL (1 and 2), and the bytes of one model download
 * (server-stores.ts). Writes bench/results/server.json (`--stores-only`: server-stores.json, those alone).
 *
 * The server runs on the main thread; the uploaders run in a worker thread (fetch/undici), so HTTP
 * client work does not share the server's event loop. Rounds close every 1,000 updates (included).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { startServer } from '../server/app.ts';
import { makeConfig } from '../server/config.ts';
import { specWithParams } from '../server/testing.ts';
import { MAX_BATCH_WAIT_MS } from '../server/upload-queue.ts';

import {
  bareAdd,
  cpuSince,
  payloadsFor,
  round,
  UPLOADER,
  type Run,
  type UploadResult,
} from './ingest-kit.ts';
import { benchStores, downloadBytes } from './server-stores.ts';

const ROUND_SIZE = 1000;

async function benchModel(
  target: number,
  plan: { concurrency: number; updates: number }[],
  rss?: { at1000: number; atEnd: number; updates: number },
): Promise<Run[]> {
  const dir = mkdtempSync(join(tmpdir(), 'fedrank-bench-'));
  const config = makeConfig({
    host: '127.0.0.1',
    port: 0,
    db: join(dir, 'bench.db'),
    operatorToken: 'bench-operator-token-0123456789',
    model: { spec: specWithParams(target) },
    training: { clipNorm: 1, noiseMultiplier: 1, noiseMode: 'local', expectedClientsPerRound: 1 },
    rounds: {
      minClients: ROUND_SIZE,
      maxClients: ROUND_SIZE,
      deadlineSeconds: null,
      maxStaleness: 1_000_000,
    },
    limits: { perIpPerMinute: 0, perClientPerMinute: 0 },
    // The upload and merge path only; redemption costs are measured by bench/tokens.ts.
    tokens: { required: false },
    logLevel: 'warn',
  });
  const server = await startServer(config, { logger: false });
  if (process.env.BENCH_TRACE) {
    const st = server.aggregator.store;
    const orig = st.commitUpdates.bind(st);
    const sizes: number[] = [];
    let ms = 0;
    st.commitUpdates = async (r, u, a) => {
      const t = performance.now();
      await orig(r, u, a);
      ms += performance.now() - t;
      sizes.push(u.length);
      if (sizes.length % 20 === 0)
        console.log('batches', sizes.slice(-20).join(','), 'commit ms avg', (ms / sizes.length).toFixed(1));
    };
  }
  const n = server.aggregator.model.paramCount;
  const payloads = payloadsFor(server.aggregator.model.modelId, n, 1);
  const payloadFile = join(dir, 'payloads.bin');
  writeFileSync(
    payloadFile,
    Buffer.concat(payloads.flatMap((p) => [Buffer.from(Uint32Array.of(p.length).buffer), Buffer.from(p)])),
  );
  const child = spawn(process.execPath, ['-e', UPLOADER], {
    env: { ...process.env, FEDRANK_BENCH_PAYLOADS: payloadFile },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise((resolve) => child.once('message', resolve));
  const upload = (count: number, concurrency: number) =>
    new Promise<UploadResult>((resolve) => {
      child.once('message', (m) => resolve(m as never));
      child.send({ urls: [`${server.url}/v1/updates`], count, concurrency });
    });
  const runs: Run[] = [];
  try {
    await upload(200, 8); // warm-up (JIT, connections, first round)
    for (const p of plan) {
      // The bare loop runs right before and right after, so both see similar machine load; their mean is used.
      const before = bareAdd(payloads, n);
      const cpu0 = process.cpuUsage();
      const r = await upload(p.updates, p.concurrency);
      const serverCpuMs = (cpuSince(cpu0) * 1000) / p.updates;
      if (r.failures > 0) throw new Error(`${r.failures} uploads failed: ${r.firstError}`);
      const after = bareAdd(payloads, n);
      const bare = (before.rate + after.rate) / 2;
      const bareCpuMs = (before.cpuMs + after.cpuMs) / 2;
      const ups = p.updates / r.seconds;
      runs.push({
        params: n,
        encoding: 'i8',
        concurrency: p.concurrency,
        updates: p.updates,
        seconds: round(r.seconds, 3),
        updatesPerSecond: round(ups, 1),
        bareAddUpdatesPerSecond: round(bare, 1),
        bareAddBeforeAfter: [round(before.rate, 1), round(after.rate, 1)],
        ratioToBareAdd: round(ups / bare, 4),
        serverCpuMsPerUpdate: round(serverCpuMs, 4),
        bareAddCpuMsPerUpdate: round(bareCpuMs, 4),
        cpuRatioToBareAdd: round(bareCpuMs / serverCpuMs, 4),
        payloadBytes: payloads[0]!.length,
        ackP50Ms: round(r.ackP50Ms, 1),
        ackP99Ms: round(r.ackP99Ms, 1),
      });
      console.log(JSON.stringify(runs.at(-1)));
    }
    if (rss) {
      const peak = (): number => process.resourceUsage().maxRSS * 1024;
      const r1 = await upload(1000, 64);
      if (r1.failures > 0) throw new Error(`uploads failed: ${r1.firstError}`);
      rss.at1000 = peak();
      const r2 = await upload(rss.updates - 1000, 64);
      if (r2.failures > 0) throw new Error(`uploads failed: ${r2.firstError}`);
      rss.atEnd = peak();
    }
  } finally {
    child.kill();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return runs;
}

const quick = process.argv.includes('--quick');
const scale = quick ? 0.1 : 1;
const plan = (one: number, many: number) => [
  { concurrency: 1, updates: Math.max(100, Math.round(one * scale)) },
  { concurrency: 64, updates: Math.max(200, Math.round(many * scale)) },
];
const storesOnly = process.argv.includes('--stores-only');
const loadAtStart = round(loadavg()[0]!, 2);
let result: object = { benchmark: 'server ingest by store', date: new Date().toISOString() };
if (!storesOnly) {
  const rss = { at1000: 0, atEnd: 0, updates: quick ? 3000 : 20_000 };
  // The RSS run goes first in a fresh process so earlier runs do not set the peak.
  const runs400 = await benchModel(400_000, plan(600, 2000), rss);
  const runs100 = await benchModel(100_000, plan(1000, 4000));
  const runs = [...runs100, ...runs400];
  const goal = runs400.find((r) => r.concurrency === 64)!;
  result = {
    benchmark: 'server ingest',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
    notes: [
      'updatesPerSecond: POST /v1/updates over loopback (fetch from a separate uploader process), each acknowledged only after its SQLite commit (WAL, synchronous=FULL); concurrent uploads share group commits.',
      'cpuRatioToBareAdd: the same comparison in CPU time (server process CPU per update vs bare-loop CPU per update), which other jobs on the machine do not distort; it excludes time spent waiting for fsync.',
      'bareAddUpdatesPerSecond: shared accumulate() of the same payloads, pre-decoded to float32, into a float64 sum; mean of 1.5 s measured just before and just after each run (bareAddBeforeAfter).',
      'loadAverage: the 1-minute load average of the machine at the start and end of the run (other jobs share its cores; every rate moves with it, the bare loop included).',
      `Rounds close every ${ROUND_SIZE} updates (FedAvg step and model write included).`,
      `ackP50Ms / ackP99Ms: per upload, request sent to acknowledgement read at the uploader (group commit lingers at most the last commit's time, and at most ${MAX_BATCH_WAIT_MS} ms: server/upload-queue.ts).`,
      'stores: postgresCpuMsPerUpdate is the CPU of the PostgreSQL cluster processes per update, walBytesPerUpdate its WAL per update, updatesPerPartialWrite the mean group-commit batch of a server process (each batch rewrites its partial sum).',
      'peakRss: process.resourceUsage().maxRSS of the whole process (the server; uploads come from a child process) after 1,000 and after 20,000 updates of the ~400k-parameter model at 64 concurrent uploaders.',
    ],
    runs,
    goal: {
      description: 'ingest >= 25% of the bare add loop at ~400k parameters, int8, 64 concurrent uploaders',
      ratio: goal.ratioToBareAdd,
      cpuRatio: goal.cpuRatioToBareAdd,
      met: goal.ratioToBareAdd >= 0.25,
    },
    peakRss: {
      updates: [1000, rss.updates],
      bytes: [rss.at1000, rss.atEnd],
      growth: round(rss.atEnd / rss.at1000 - 1, 4),
      flatWithin10Percent: rss.atEnd <= rss.at1000 * 1.1,
    },
  };
}
// After the in-process runs, so their peak RSS is not raised by this part's payloads.
const stores = await benchStores(quick ? 400 : 2000, ROUND_SIZE);
const downloads = [downloadBytes(null), downloadBytes(400_000)];
const defaultSize = stores[0]!.params;
const ratiosAt = (params: number) =>
  Object.fromEntries(
    stores.filter((r) => r.params === params).map((r) => [`${r.store}x${r.processes}`, r.ratioToBareAdd]),
  );
const storesPart = {
  stores,
  storesGoal: {
    description: `ingest >= 25% of the bare add loop at the default model size (${defaultSize} parameters), int8, 64 uploaders: SQLite x1, PostgreSQL x1 and x2`,
    ratios: ratiosAt(defaultSize),
    met: stores.filter((r) => r.params === defaultSize).every((r) => r.ratioToBareAdd >= 0.25),
    ratiosAt400k: ratiosAt(stores.at(-1)!.params),
  },
  downloads,
};
result = { ...result, ...storesPart, loadAverage: [loadAtStart, round(loadavg()[0]!, 2)] };
const outDir = new URL('./results/', import.meta.url).pathname;
mkdirSync(outDir, { recursive: true });
writeFileSync(
  join(outDir, `${storesOnly ? 'server-stores' : 'server'}${quick ? '-quick' : ''}.json`),
  JSON.stringify(result, null, 2) + '\n',
);
console.log(JSON.stringify(result, null, 2));

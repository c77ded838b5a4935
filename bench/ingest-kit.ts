/**
 * What the ingest benchmarks share: the uploader child process, honest int8 payloads, and the bare add loop
 * every ingest rate is divided by.
 */
import { decodeTensor, encodeTensor } from '../shared/codec/tensor-codec.ts';
import { gaussianNoise } from '../shared/dp/noise.ts';
import { accumulate, newAccumulator } from '../shared/fl/aggregate.ts';

/** Distinct payloads cycled by the uploader. */
export const PAYLOADS = 16;

/**
 * Uploader child process: sends `count` updates with `concurrency` parallel requests, cycling the payloads
 * (read from a file), and reports the seconds taken and the p50/p99 ack latency (request sent to response
 * read, ms). A separate process, so the server process's CPU time counts the server alone.
 */
export const UPLOADER = `
const { readFileSync } = require('node:fs');
const { randomBytes } = require('node:crypto');
const raw = readFileSync(process.env.FEDRANK_BENCH_PAYLOADS);
const bodies = [];
for (let off = 0; off < raw.length; ) { const len = raw.readUInt32LE(off); bodies.push(raw.subarray(off + 4, off + 4 + len)); off += 4 + len; }
const id = () => randomBytes(18).toString('base64url');
process.on('message', async ({ urls, count, concurrency }) => {
  let next = 0, failures = 0, firstError = null;
  const ms = [];
  const t0 = performance.now();
  async function one() {
    while (next < count) {
      const i = next++;
      const start = performance.now();
      const res = await fetch(urls[i % urls.length], {
        method: 'POST',
        body: bodies[i % bodies.length],
        headers: { 'content-type': 'application/vnd.fedrank.tensor', 'x-fedrank-client': id(), 'idempotency-key': id() },
      });
      const text = await res.text();
      ms.push(performance.now() - start);
      if (res.status !== 201) { failures++; firstError ??= res.status + ' ' + text; }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, one));
  const seconds = (performance.now() - t0) / 1000;
  ms.sort((a, b) => a - b);
  const at = (p) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))];
  process.send({ seconds, failures, firstError, ackP50Ms: at(0.5), ackP99Ms: at(0.99) });
});
process.send('ready');
`;

/** CPU seconds (user + system) this process used since `from`. */
export function cpuSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1e6;
}

/** One measured ingest run. */
export interface Run {
  params: number;
  encoding: 'i8';
  concurrency: number;
  updates: number;
  seconds: number;
  updatesPerSecond: number;
  bareAddUpdatesPerSecond: number;
  bareAddBeforeAfter: [number, number];
  /** Server process CPU seconds per update, and the bare loop's CPU seconds per update. */
  serverCpuMsPerUpdate: number;
  bareAddCpuMsPerUpdate: number;
  /** Ratio of CPU-time-normalized rates (robust to other jobs on the machine). */
  cpuRatioToBareAdd: number;
  ratioToBareAdd: number;
  payloadBytes: number;
  /** Per upload, request sent to acknowledgement read, at the uploader (ms). */
  ackP50Ms: number;
  ackP99Ms: number;
}

/** What the uploader reports for one batch of uploads. */
export interface UploadResult {
  seconds: number;
  failures: number;
  firstError: string | null;
  ackP50Ms: number;
  ackP99Ms: number;
}

export function payloadsFor(modelId: string, n: number, std: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = 0; k < PAYLOADS; k++) {
    // A clipped delta (norm 1) plus the per-client Gaussian noise: what an honest client sends.
    const v = gaussianNoise(n, std);
    v[k % n]! += 1;
    out.push(encodeTensor({ kind: 'delta', modelId, baseVersion: 0, round: 1, encoding: 'i8' }, v));
  }
  return out;
}

/**
 * Bare loop: the shared accumulate() over the same payloads decoded to float32 (decode not timed).
 * Returns wall-clock updates/s and CPU ms per update.
 */
export function bareAdd(
  payloads: Uint8Array[],
  n: number,
  minSeconds = 1.5,
): { rate: number; cpuMs: number } {
  const decoded = payloads.map((p) => decodeTensor(p, { maxCount: n }).values);
  const acc = newAccumulator(n);
  for (let i = 0; i < 50; i++) accumulate(acc, decoded[i % decoded.length]!);
  let count = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < minSeconds * 1000) {
    for (let i = 0; i < 50; i++) accumulate(acc, decoded[count++ % decoded.length]!);
  }
  return { rate: count / ((performance.now() - t0) / 1000), cpuMs: (cpuSince(cpu0) * 1000) / count };
}

export function round(x: number, d: number): number {
  return Number(x.toFixed(d));
}

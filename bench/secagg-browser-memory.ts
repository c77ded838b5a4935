/**
 * `npx tsx bench/secagg-browser-memory.ts`: what releasing each mask keystream once it is accumulated
 * (prg.ts releaseKeystream) does in headless Chromium, written to bench/results/secagg-browser-memory.json.
 * One client's masked input (encoding with noise, k + 1 = 25 masks at d = 323,255, b = 16) runs 20 times in a
 * row, with the release and with ArrayBuffer.prototype.transfer hidden (as in a runtime without it),
 * alternating, 4 times each. Per batch: the peak of the renderer's array-buffer memory (DevTools
 * Runtime.getHeapUsage backingStorageSize, polled every few ms), and the renderer-process CPU per call
 * including a collection at the end (so that the garbage the collector has yet to free is counted).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { chromium } from '@playwright/test';
import { build } from 'esbuild';
import { chromiumLaunchOptions } from '../e2e/support/chromium.ts';
import { openBenchPage } from './bench-page.ts';

const CALLS = 20;
const REPS = 4;

// The page's side: the same shared code the worker runs, and a switch that hides transfer.
const PAGE = `
import { planEncoding } from './shared/secagg/calibration.ts';
import { maskedVector } from './shared/secagg/masked-input.ts';
import { makeRotation } from './shared/secagg/rotation.ts';
import { D_MODEL, syntheticUpdate } from './server/secagg/synthetic-updates.ts';
let st: any;
(globalThis as any).prepare = async () => {
  const d = D_MODEL;
  const plan = planEncoding({ d, clipNorm: 1, noiseMultiplier: 1, noiseClients: 50, maxClients: 100 }, 16)!;
  const rot = await makeRotation(crypto.getRandomValues(new Uint8Array(32)), d);
  const terms = Array.from({ length: 25 }, (_, i) => ({
    seed: crypto.getRandomValues(new Uint8Array(32)),
    sign: i % 2 ? 1 : -1,
  }));
  const native = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'transfer');
  st = { plan, rot, delta: syntheticUpdate(1).delta, terms, native };
  return !!native;
};
(globalThis as any).run = async (release: boolean, n: number) => {
  if (!release) delete (ArrayBuffer.prototype as any).transfer;
  try {
    for (let i = 0; i < n; i++) await maskedVector(st.delta, st.plan, st.rot, st.terms);
  } finally {
    Object.defineProperty(ArrayBuffer.prototype, 'transfer', st.native);
  }
};`;

const bundle = await build({
  stdin: { contents: PAGE, loader: 'ts', resolveDir: process.cwd() },
  bundle: true,
  format: 'iife',
  platform: 'browser',
  write: false,
});
const load = loadavg();
const browser = await chromium.launch(chromiumLaunchOptions());
type Batch = { release: boolean; peakArrayBufferMB: number; rendererCpuMsPerCall: number };
const batches: Batch[] = [];
try {
  const { page, cdp, processMs } = await openBenchPage(browser, bundle.outputFiles[0]!.text);
  type Page = { prepare: () => Promise<boolean>; run: (r: boolean, n: number) => Promise<void> };
  if (!(await page.evaluate(() => (globalThis as unknown as Page).prepare())))
    throw new Error('this Chromium lacks ArrayBuffer.prototype.transfer');
  await page.evaluate(() => (globalThis as unknown as Page).run(true, 3)); // warm-up
  for (let rep = 0; rep < REPS; rep++) {
    for (const release of rep % 2 ? [true, false] : [false, true]) {
      await cdp.send('HeapProfiler.collectGarbage');
      let peak = 0;
      let polling = true;
      const poll = (async () => {
        while (polling) {
          const u = (await cdp.send('Runtime.getHeapUsage')) as { backingStorageSize?: number };
          peak = Math.max(peak, u.backingStorageSize ?? NaN);
          await new Promise((r) => setTimeout(r, 2));
        }
      })();
      const t0 = await processMs();
      await page.evaluate(([r, n]) => (globalThis as unknown as Page).run(r, n), [release, CALLS] as const);
      await cdp.send('HeapProfiler.collectGarbage');
      const cpu = ((await processMs()) - t0) / CALLS;
      polling = false;
      await poll;
      batches.push({
        release,
        peakArrayBufferMB: +(peak / 1e6).toFixed(1),
        rendererCpuMsPerCall: +cpu.toFixed(1),
      });
    }
  }
} finally {
  await browser.close();
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return +((s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2).toFixed(1);
};
const side = (release: boolean) => {
  const b = batches.filter((x) => x.release === release);
  return {
    medianPeakArrayBufferMB: median(b.map((x) => x.peakArrayBufferMB)),
    medianRendererCpuMsPerCall: median(b.map((x) => x.rendererCpuMsPerCall)),
  };
};
const out = {
  when: new Date().toISOString(),
  machine: `${process.platform} ${process.arch}, ${cpus().length} cores, node ${process.version}`,
  loadAverageAtStart: load,
  callsPerBatch: CALLS,
  notes: [
    'One masked input per call as the client runs it (maskedVector: clip, rotation, rounding, noise, 25 masks at d = 323,255, b = 16), 20 calls per batch in headless Chromium, alternating release / no release, 4 batches each.',
    'peakArrayBufferMB: the highest Runtime.getHeapUsage backingStorageSize seen while a batch ran (polled every few ms, so a shorter peak may be missed). rendererCpuMsPerCall: renderer-process CPU (DevTools ProcessTime) over the batch and one forced collection after it, per call.',
    'Shared 2-core machine: other sessions were running (see loadAverageAtStart).',
  ],
  withRelease: side(true),
  withoutRelease: side(false),
  batches,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/secagg-browser-memory.json', JSON.stringify(out, null, 2) + '\n');
process.stdout.write(JSON.stringify(out, null, 2) + '\n');

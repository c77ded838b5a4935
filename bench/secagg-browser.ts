/**
 * `npm run bench:secagg-browser`: the mechanisms of a client's secure round (bench/secagg-steps.ts, the
 * same shared code the worker runs) timed inside headless Chromium, beside the same in Node, written to
 * bench/results/secagg-browser.json. Browser times are the renderer process's CPU time (DevTools
 * Performance.getMetrics ProcessTime), so a loaded machine inflates them no more than Node's:
 * WebCrypto's AES-CTR and X25519 run in the browser's own implementation (BoringSSL), not Node's OpenSSL.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { chromium } from '@playwright/test';
import { build } from 'esbuild';
import { chromiumLaunchOptions } from '../e2e/support/chromium.ts';
import { openBenchPage } from './bench-page.ts';
import { D_MODEL } from '../server/secagg/synthetic-updates.ts';
import { processCpuMs as cpuMs } from '../server/secagg/client-process.ts';
import { clientSteps } from './secagg-steps.ts';

const SIZES = { d: D_MODEL, n: 100, k: 24, t: 16, noiseClients: 50 };

/** Renderer-process CPU ms per run of each mechanism (mean of 4 runs, read from the DevTools protocol). */
async function inBrowser(): Promise<Record<string, number>> {
  const bundle = await build({
    stdin: {
      contents:
        "import { stepRunners } from './bench/secagg-steps.ts';\n" +
        'let runners: Record<string, () => unknown> = {};\n' +
        '(globalThis as any).prepare = async (o: any) => { runners = await stepRunners(o); return Object.keys(runners); };\n' +
        '(globalThis as any).run = async (name: string) => { for (let i = 0; i < 4; i++) await runners[name]!(); };',
      loader: 'ts',
      resolveDir: process.cwd(),
    },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    write: false,
  });
  const browser = await chromium.launch(chromiumLaunchOptions());
  try {
    const { page, processMs } = await openBenchPage(browser, bundle.outputFiles[0]!.text);
    type Page = { prepare: (o: typeof SIZES) => Promise<string[]>; run: (name: string) => Promise<void> };
    const names = await page.evaluate((o) => (globalThis as unknown as Page).prepare(o), SIZES);
    const out: Record<string, number> = {};
    for (const name of names) {
      const t0 = await processMs();
      await page.evaluate((n) => (globalThis as unknown as Page).run(n), name);
      out[name] = Math.round((((await processMs()) - t0) / 4) * 10) / 10;
    }
    return out;
  } finally {
    await browser.close();
  }
}

const load = loadavg();
const browser = await inBrowser();
const node = await clientSteps(cpuMs, SIZES);
/** The mechanisms as one round uses them: agreements for two purposes; shares sealed, then opened. */
const sum = (r: Record<string, number>): number => {
  const once = [
    'keyPairs',
    'shamirSplit',
    'rotationSetup',
    'clipRotateRound',
    'noise',
    'masksSelfAndPairwise',
  ];
  const twice = ['agreementsPerPurpose', 'sealShares'];
  const ms =
    once.reduce((a, k) => a + r[k]!, 0) + twice.reduce((a, k) => a + 2 * r[k]!, 0) + r.reduceAndPack!;
  return Math.round(ms * 10) / 10;
};
const out = {
  when: new Date().toISOString(),
  machine: `${process.platform} ${process.arch}, ${cpus().length} cores, node ${process.version}`,
  loadAverageAtStart: load,
  sizes: SIZES,
  notes: [
    'Each mechanism of one client round timed on its own; perRoundSum adds them as a round does (agreements twice: share encryption and pairwise masks; sealing counted again for opening), without the once-per-variance noise table.',
    'Browser: renderer-process CPU ms per run (DevTools ProcessTime, mean of 4 runs including the first) in headless Chromium; Node: process CPU ms per call (median of 3 samples of 4 calls after a warm-up).',
  ],
  chromium: { ...browser, perRoundSum: sum(browser) },
  node: { ...node, perRoundSum: sum(node) },
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/secagg-browser.json', JSON.stringify(out, null, 2) + '\n');
process.stdout.write(JSON.stringify(out, null, 2) + '\n');

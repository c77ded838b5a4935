/**
 * `npm run bench:secagg-browser`: the mechanisms of a client's secure round (bench/secagg-steps.ts, the
 * same shared code the worker runs) timed inside headless Chromium, beside the same in Node, written to
 * bench/results/secagg-browser.json. Browser times are wall ms on the page's thread (performance.now):
 * WebCrypto's AES-CTR and X25519 run in the browser's own implementation (BoringSSL), not Node's OpenSSL.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { chromium } from '@playwright/test';
import { build } from 'esbuild';
import { chromiumLaunchOptions } from '../e2e/support/chromium.ts';
import { D_MODEL } from '../server/secagg/synthetic-updates.ts';
import { clientSteps } from './secagg-steps.ts';

const SIZES = { d: D_MODEL, n: 100, k: 24, t: 16, noiseClients: 50 };

async function inBrowser(): Promise<Record<string, number>> {
  const bundle = await build({
    stdin: {
      contents:
        "import { clientSteps } from './bench/secagg-steps.ts';\n" +
        '(globalThis as any).clientSteps = (o: any) => clientSteps(() => performance.now(), o);',
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
    const page = await browser.newPage();
    // An https origin is a secure context (WebCrypto); nothing leaves the machine.
    await page.route('https://bench.fedrank.invalid/**', (r) =>
      r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>secagg</title>' }),
    );
    await page.goto('https://bench.fedrank.invalid/');
    await page.addScriptTag({ content: bundle.outputFiles[0]!.text });
    return await page.evaluate(
      (o) =>
        (
          globalThis as unknown as { clientSteps: (x: typeof o) => Promise<Record<string, number>> }
        ).clientSteps(o),
      SIZES,
    );
  } finally {
    await browser.close();
  }
}

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
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
    'Each mechanism of one client round timed on its own (median of 3 after a warm-up); perRoundSum adds them as a round does (agreements twice: share encryption and pairwise masks; sealing counted again for opening), without the once-per-variance noise table.',
    'Browser: wall ms on the page thread in headless Chromium; Node: process CPU ms.',
  ],
  chromium: { ...browser, perRoundSum: sum(browser) },
  node: { ...node, perRoundSum: sum(node) },
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/secagg-browser.json', JSON.stringify(out, null, 2) + '\n');
process.stdout.write(JSON.stringify(out, null, 2) + '\n');

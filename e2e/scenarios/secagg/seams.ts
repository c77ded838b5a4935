/**
 * The test seams of the secure-aggregation scenario: the e2e build of the SDK (whose worker logs each
 * survivor's encoded input, client/worker/test-seams.ts), its worker chunk, and the parsing of those lines.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page, Worker } from '@playwright/test';
import { SEAM_TAG, type EncodedInputLine } from '../../../client/worker/test-seams.ts';
import { unpackRing } from '../../../shared/secagg/ring.ts';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');

/** The production build (`npm run build`) and the e2e build with the worker's seams. */
export const PROD_DIST = join(ROOT, 'dist', 'client');
export const SEAMS_DIST = join(ROOT, 'dist', 'client-seams');

/** Builds dist/client-seams (a few seconds): vite.config.ts with FEDRANK_TEST_SEAMS=1. */
export function buildSeamsClient(): void {
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'], {
    cwd: ROOT,
    env: { ...process.env, FEDRANK_TEST_SEAMS: '1' },
    stdio: 'pipe',
  });
}

/** The text of a build's worker chunk. */
export function workerChunk(dist: string): string {
  const assets = join(dist, 'assets');
  const name = readdirSync(assets).find((f) => /^worker-.*\.js$/.test(f));
  if (!name) throw new Error(`no worker chunk in ${assets}`);
  return readFileSync(join(assets, name), 'utf8');
}

/** A survivor's encoded (pre-mask) input, as a device reported it. */
export interface EncodedInput {
  secureRound: number;
  slot: number;
  bits: number;
  input: Uint32Array;
  /** Browsers only: where the worker's encoding ran. */
  kernels?: EncodedInputLine['kernels'];
}

/** Collects the encoded inputs a page's workers log, across navigations. */
export function collectEncodedInputs(page: Page, into: EncodedInput[]): void {
  const listen = (w: Worker): void => {
    w.on('console', (msg) => {
      const text = msg.text();
      if (!text.startsWith(SEAM_TAG + ' ')) return;
      const line = JSON.parse(text.slice(SEAM_TAG.length + 1)) as EncodedInputLine;
      const input = unpackRing(Buffer.from(line.input, 'base64'), line.d, line.bits);
      if (!input) throw new Error('a seam line did not unpack');
      into.push({
        secureRound: line.secureRound,
        slot: line.slot,
        bits: line.bits,
        input,
        kernels: line.kernels,
      });
    });
  };
  for (const w of page.workers()) listen(w);
  page.on('worker', listen);
}

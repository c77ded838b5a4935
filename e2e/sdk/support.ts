/**
 * Test support for the SDK specs: a tiny static server for dist/client and the fixture pages, and a mock
 * aggregation server installed with page.route on /agg/ (manifest, weights, captured update uploads).
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import type { BrowserContext, Page, Route } from '@playwright/test';
import { encodeTensor } from '../../shared/codec/tensor-codec.ts';
import { DEFAULT_SPEC, initGlobalParams, modelIdOf, paramCount } from '../../shared/model/spec.ts';
import type { ModelManifest, ParticipationPolicy, TrainingConfig } from '../../shared/protocol.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const MIME: Record<string, string> = {
  '.js': 'text/javascript',
  '.html': 'text/html; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.ts': 'text/plain',
};

/** Serves /client/* from dist/client and everything else from e2e/sdk/fixtures. */
export async function startStatic(): Promise<{ origin: string; close(): Promise<void> }> {
  if (!existsSync(join(ROOT, 'dist/client/fedrank.js')))
    throw new Error('dist/client missing: run npm run build');
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.startsWith('/client/')
      ? join(ROOT, 'dist/client', normalize(path.slice('/client/'.length)))
      : join(ROOT, 'e2e/sdk/fixtures', normalize(path === '/' ? 'index.html' : path));
    if (!file.startsWith(ROOT) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': MIME[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
    });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Training settings of the mock server (tests override what they check). */
export function trainingConfig(over: Partial<TrainingConfig> = {}): TrainingConfig {
  return {
    clipNorm: 1,
    noiseMultiplier: 1,
    noiseMode: 'local',
    expectedClientsPerRound: 1,
    localEpochs: 1,
    learningRate: 0.05,
    batchSize: 16,
    sharedNegatives: 32,
    lossReduction: 'mean',
    minNewEvents: 3,
    updateEncoding: 'f32',
    ...over,
  };
}

export function manifest(version = 1, training: TrainingConfig = trainingConfig()): ModelManifest {
  return {
    protocol: 1,
    modelId: modelIdOf(DEFAULT_SPEC),
    version,
    paramCount: paramCount(DEFAULT_SPEC),
    weightsEncoding: 'f32',
    spec: DEFAULT_SPEC,
    training,
    round: { id: 7, state: 'open', accepted: 0, minClients: 2, maxClients: 100, deadline: null },
    privacy: { delta: 1e-5, epsilonSpent: 0, epsilonBudget: null, deviceEpsilonBudget: 8 },
    maxStaleness: 5,
  };
}

let weightsCache: Uint8Array | null = null;
/** Weights bytes of the initial DEFAULT_SPEC model (version 1). */
export function weightsBytes(version = 1): Uint8Array {
  if (version === 1 && weightsCache) return weightsCache;
  const b = encodeTensor(
    { kind: 'weights', modelId: modelIdOf(DEFAULT_SPEC), baseVersion: version, round: 0, encoding: 'f32' },
    initGlobalParams(DEFAULT_SPEC),
  );
  if (version === 1) weightsCache = b;
  return b;
}

/** One request the SDK sent to the mock server. */
export interface Captured {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | null;
}

export interface MockOptions {
  training?: TrainingConfig;
  /**
   * 'ok' (default), '500' every request, 'timeout' never answers, 'flaky-upload' first upload 503,
   * 'refuse-origin' every request 403 FORBIDDEN_ORIGIN (the shop's origin is not allowed).
   */
  mode?: 'ok' | '500' | 'timeout' | 'flaky-upload' | 'refuse-origin';
  /** The manifest's delta (default 1e-5). */
  delta?: number;
  /** Each accepted upload closes the round and opens the next (same model version), as a busy server would. */
  advanceRound?: boolean;
  /** The participation caps the manifest carries (default: none, the SDK's own). */
  participation?: ParticipationPolicy;
}

/** Installs the mock aggregation server on `${origin}/agg/**`; returns every captured request. */
export async function mockServer(
  target: Page | BrowserContext,
  origin: string,
  o: MockOptions = {},
): Promise<Captured[]> {
  const seen: Captured[] = [];
  const m = manifest(1, o.training ?? trainingConfig());
  if (o.delta !== undefined) m.privacy = { ...m.privacy, delta: o.delta };
  if (o.participation) m.privacy = { ...m.privacy, participation: o.participation };
  let uploads = 0;
  await target.route(`${origin}/agg/**`, async (route: Route) => {
    const req = route.request();
    const path = new URL(req.url()).pathname.slice('/agg'.length);
    seen.push({ method: req.method(), path, headers: req.headers(), body: req.postDataBuffer() });
    if (o.mode === '500')
      return route.fulfill({ status: 500, json: { error: { code: 'INTERNAL', message: 'x' } } });
    if (o.mode === 'timeout') return; // never answered: the SDK's own deadline must fire
    if (o.mode === 'refuse-origin')
      return route.fulfill({ status: 403, json: { error: { code: 'FORBIDDEN_ORIGIN', message: 'no' } } });
    if (req.method() === 'GET' && path === '/v1/model') {
      const etag = `"m${m.round!.id}"`;
      if (req.headers()['if-none-match'] === etag) return route.fulfill({ status: 304 });
      return route.fulfill({ status: 200, json: m, headers: { etag } });
    }
    if (req.method() === 'GET' && path === '/v1/model/weights') {
      return route.fulfill({
        status: 200,
        body: Buffer.from(weightsBytes()),
        headers: { 'content-type': 'application/vnd.fedrank.tensor', etag: '"w1"' },
      });
    }
    if (req.method() === 'POST' && path === '/v1/updates') {
      uploads++;
      if (o.mode === 'flaky-upload' && uploads === 1) {
        return route.fulfill({ status: 503, json: { error: { code: 'UNAVAILABLE', message: 'busy' } } });
      }
      const round = m.round!.id;
      if (o.advanceRound) m.round = { ...m.round!, id: round + 1 };
      return route.fulfill({
        status: 200,
        json: { accepted: true, duplicate: false, round, modelVersion: 1 },
      });
    }
    if (req.method() === 'POST' && path === '/v1/eval') return route.fulfill({ status: 204 });
    return route.fulfill({ status: 404, json: { error: { code: 'NOT_FOUND', message: 'no' } } });
  });
  return seen;
}

/** Collects page errors and console errors (the host page must stay clean). */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // The browser itself logs failed network requests (a 500, a blocked script); those are not SDK errors.
    if (m.type() === 'error' && !/^Failed to load resource/.test(m.text()))
      errors.push(`console: ${m.text()}`);
  });
  return errors;
}

/** Waits until window.fedrank is the real SDK (the loader's queue was adopted). */
export async function waitForSdk(page: Page): Promise<void> {
  await page.waitForFunction(
    () => typeof (window as unknown as { fedrank?: { debug?: unknown } }).fedrank?.debug === 'function',
  );
}

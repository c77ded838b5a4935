/**
 * The whole local loop in one call: aggregation server (SQLite in a data folder) + demo storefront, wired
 * so the shop's origin is the server's only allowed storefront. Used by `fedrank start` and the e2e
 * scenarios (each with its own temp data folder and free ports).
 */
import { join } from 'node:path';
import { DEMO_CATALOG_PATH, startShop, type Shop, type ShopOptions } from './shop-server.ts';
import { ensureDataDir, ensureOperatorToken, ensureTokenFile } from '../server/operator-token.ts';

/** File name of the demo shop's issuer secret in the data folder. */
export const SHOP_SECRET_FILE = 'shop-secret';
import { spawnAggregationServer, startAggregationServer, type AggregationServer } from './aggregation.ts';
import type { SecAggResult } from '../server/secagg/coordinator.ts';

/** Options of the local stack. */
export interface StackOptions {
  /** Data folder: SQLite database and operator token live here. */
  dataDir: string;
  /** Server port (0 = free port). */
  serverPort?: number;
  /** Shop port (0 = free port). */
  shopPort?: number;
  host?: string;
  /** Server configuration overrides, merged over the demo defaults below. */
  server?: Record<string, unknown>;
  /** 'inline' (default): the server runs in this process; 'process': a child `fedrank serve` that can be killed. */
  serverMode?: 'inline' | 'process';
  /** Shop options (SDK data-* attributes, featured count, ...). */
  shop?: Omit<ShopOptions, 'serverUrl' | 'port' | 'host'>;
  /** Test seam (inline server only): each unmasked secure-round result; its arrays are wiped after the call. */
  onSecAggResult?: (r: SecAggResult) => void;
  /** Test seam (inline server only): the server's clock (default Date.now). */
  clock?: () => number;
}

/** A running stack. */
export interface Stack {
  serverUrl: string;
  shopUrl: string;
  dashboardUrl: string;
  token: string;
  tokenPath: string;
  dataDir: string;
  dbPath: string;
  /**
   * Stops the server only (the shop stays up), e.g. for a deploy; with serverMode 'process', SIGKILL
   * simulates a crash.
   */
  stopServer(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts the server again on the same port and database. */
  startServer(): Promise<void>;
  /** Contributions the running server admitted with a verified token and without (inline server only, else null). */
  tokensAdmitted(): { verified: number; unverified: number } | null;
  close(): Promise<void>;
}

/**
 * Secure aggregation by default, sized for `npm start -- --shoppers 20`: a cohort of 20 (SecAgg+ over the
 * complete graph, t = 13 survivors, on whose noise the privacy rests), short phase deadlines so rounds
 * move on screen. Fewer than 13 participants never complete a secure round: `demoLocalConfig` is the
 * local-noise setting for one person with two browsers.
 */
export function demoServerConfig(): Record<string, unknown> {
  return {
    rounds: { minClients: 6, maxClients: 20, deadlineSeconds: 20, maxStaleness: 3 },
    training: {
      noiseMode: 'distributed',
      expectedClientsPerRound: 6,
      minNewEvents: 4,
      localEpochs: 1,
      clipNorm: 0.05,
    },
    privacy: { epsilonBudget: 100, secureAggregation: true },
    // The shop's catalog weighs each shopper's on-device brand and category affinities (public data).
    model: { catalog: DEMO_CATALOG_PATH },
    secureAggregation: { deadlines: { advertise: 10, share: 10, mask: 30, unmask: 10 } },
    // Every demo shopper, simulated or in a browser, comes from 127.0.0.1: one address stands for up to
    // ~40 shoppers here, so it gets the production per-address limit (1,200 a minute) ten times over.
    limits: { perIpPerMinute: 12_000 },
    logLevel: 'warn',
  };
}

/**
 * Demo-sized rounds: two shoppers can close a round (so one person with two browsers sees it happen), a
 * round lasts at least 20 s so the epsilon budget lasts about half an hour of simulated traffic.
 * The clip bound is small because rounds are tiny: the mean delta carries noise of std sigma*C/m per
 * parameter, and with C = 1 and m = 2-3 a few rounds bury the model (init std 0.05) in noise that
 * outweighs the on-device personal signal; C = 0.05 keeps both visible for a demo's worth of rounds.
 */
export function demoLocalConfig(): Record<string, unknown> {
  return {
    rounds: { minClients: 2, maxClients: 50, deadlineSeconds: 20, maxStaleness: 3 },
    training: { expectedClientsPerRound: 2, minNewEvents: 4, localEpochs: 1, clipNorm: 0.05 },
    privacy: { epsilonBudget: 100 },
    model: { catalog: DEMO_CATALOG_PATH },
    // Only token-paid contributions count; shoppers get them through the shop's relay (proof of work is
    // the fallback, kept cheap here: 12 bits is ~30 ms; the production default is 18, a few seconds).
    tokens: { required: true, powDifficulty: 12 },
    logLevel: 'warn',
  };
}

function mergeDeep(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      v &&
      typeof v === 'object' &&
      !Array.isArray(v) &&
      prev &&
      typeof prev === 'object' &&
      !Array.isArray(prev)
        ? mergeDeep(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** Starts shop and server; resolves when both listen. */
export async function startStack(opts: StackOptions): Promise<Stack> {
  ensureDataDir(opts.dataDir);
  const { token, path: tokenPath } = ensureOperatorToken(opts.dataDir);
  // The shop's issuer secret, shared by the shop's relay and the server, kept like the operator token (0600).
  const shopSecret = ensureTokenFile(join(opts.dataDir, SHOP_SECRET_FILE));
  const host = opts.host ?? '127.0.0.1';
  const dbPath = join(opts.dataDir, 'fedrank.db');
  // The shop starts first (its origin goes into the server's allowedOrigins); it learns the server URL after.
  const shop: Shop = await startShop({
    shopSecret: shopSecret.token,
    ...(opts.shop ?? {}),
    serverUrl: '',
    port: opts.shopPort ?? 0,
    host,
  });
  let port = opts.serverPort ?? 0;
  let server: AggregationServer | null = null;
  const config = mergeDeep(mergeDeep(demoServerConfig(), opts.server ?? {}), {
    host,
    db: dbPath,
    operatorTokenFile: tokenPath,
    allowedOrigins: [shop.url],
    tokens: { shopSecretFile: shopSecret.path },
  });
  const start = async (): Promise<void> => {
    server =
      opts.serverMode === 'process'
        ? await spawnAggregationServer({ ...config, port }, opts.dataDir)
        : await startAggregationServer(
            { ...config, port },
            {
              ...(opts.onSecAggResult ? { onSecAggResult: opts.onSecAggResult } : {}),
              ...(opts.clock ? { clock: opts.clock } : {}),
            },
          );
    port = server.port;
  };
  try {
    await start();
  } catch (err) {
    await shop.close();
    throw err;
  }
  const serverUrl = `http://${host}:${port}`;
  shop.setServerUrl(serverUrl);
  return {
    serverUrl,
    shopUrl: shop.url,
    dashboardUrl: `${serverUrl}/dashboard/`,
    token,
    tokenPath,
    dataDir: opts.dataDir,
    dbPath,
    stopServer: async (signal) => {
      const s = server;
      server = null;
      await s?.close(signal);
    },
    startServer: async () => {
      if (!server) await start();
    },
    tokensAdmitted: () => (server as AggregationServer | null)?.tokensAdmitted?.() ?? null,
    close: async () => {
      const s = server;
      server = null;
      await Promise.allSettled([s?.close(), shop.close()]);
    },
  };
}

/**
 * The aggregation server as a fastify instance: `buildServer()` for tests (inject) and embedding,
 * `startServer()` to listen. Routes are in routes-public.ts and routes-admin.ts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import { FedrankError } from '../shared/errors.ts';
import { Aggregator } from './aggregator.ts';
import type { ServerConfig } from './config.ts';
import { operatorTokenSource } from './operator-token.ts';
import { errorBody, toFedrankError } from './errors.ts';
import { Metrics } from './metrics.ts';
import { modelFromConfig, type ModelSource } from './model-source.ts';
import { registerAdminRoutes } from './routes-admin.ts';
import { registerDashboard } from './routes-dashboard.ts';
import { registerPublicRoutes } from './routes-public.ts';
import { roundSignal } from './round-signal.ts';
import { registerTokenRoutes, type TokenService } from './routes-tokens.ts';
import { openStore } from './store/open.ts';
import type { SecAggResult } from './secagg/coordinator.ts';
import type { SecAggStore } from './secagg/store.ts';
import type { SecureRounds } from './secure-rounds.ts';
import { startSecureRounds } from './secure-wiring.ts';
import { InFlightBytes } from './upload-limits.ts';
import type { Store } from './store/types.ts';
import { PostgresTokenStore } from './tokens/postgres.ts';
import type { TokenStore } from './tokens/store.ts';
import { ROUTES } from '../shared/routes.ts';
import { HEADER_SECAGG_PHASE } from '../shared/secagg/phases.ts';

/** Replaceable collaborators (tests inject a store, a clock, a quiet logger). */
export interface ServerDeps {
  store?: Store;
  /** Milliseconds since the epoch. */
  clock?: () => number;
  /** fastify logger option: false, true, pino options, or a pino instance via loggerInstance. */
  logger?: FastifyServerOptions['logger'];
  model?: ModelSource;
  /** Contribution-token persistence (default: the PostgreSQL store's database, else SQLite beside the database). */
  tokenStore?: TokenStore;
  /** Secure-aggregation persistence (default: SQLite beside the database) and its test seam. */
  secAggStore?: SecAggStore;
  onSecAggResult?: (r: SecAggResult) => void;
}

/** What buildServer returns: the fastify app plus the state behind it. */
export interface FedrankServer {
  app: FastifyInstance;
  aggregator: Aggregator;
  metrics: Metrics;
  config: ServerConfig;
  /** Upload bytes being received now (in-flight caps). */
  inflight: InFlightBytes;
  /** Contribution tokens: keys, issuance, and the counts of verified contributions. */
  tokens: TokenService;
  /** The secure-aggregation lifecycle, when privacy.secureAggregation is on. */
  secure: SecureRounds | null;
  /** Stops accepting, drains the writer, closes the store. */
  close(): Promise<void>;
}

/** Paths that count towards the rejected-update metrics. */
const UPLOAD_ROUTES = new Set<string>([ROUTES.updates]);

/** Builds the server (not listening). Throws CONFIG_INVALID when no operator token is configured. */
export async function buildServer(config: ServerConfig, deps: ServerDeps = {}): Promise<FedrankServer> {
  const operatorToken = operatorTokenSource(config);
  const model = deps.model ?? modelFromConfig(config);
  const store = deps.store ?? (await openStore(config));
  const metrics = new Metrics();
  const started = Date.now();
  const app = Fastify({
    logger: deps.logger ?? { level: config.logLevel },
    bodyLimit: config.limits.jsonBodyBytes,
    // The client address (rate limits, in-flight caps) comes from X-Forwarded-For only via trusted proxies.
    trustProxy: trustProxyOption(config.trustProxy),
    requestTimeout: config.limits.requestTimeoutMs,
    // One line per request would dominate the log at ingest rates; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
  });
  // Node enforces requestTimeout/headersTimeout on a sweep every connectionsCheckingInterval (30 s by
  // default, read when the server starts listening): sweep each second so a slow request is closed on time.
  Object.assign(app.server, {
    headersTimeout: Math.min(config.limits.requestTimeoutMs, 20_000),
    connectionsCheckingInterval: 1000,
  });
  let aggregator: Aggregator;
  let secure: SecureRounds | null = null;
  try {
    aggregator = await Aggregator.open(config, model, store, app.log, deps.clock ?? Date.now, {
      onAccepted: (n) => (metrics.accepted += n),
      onRoundClosed: () => (metrics.roundsClosed += 1),
      onRoundOpened: (id) => void secure?.roundOpened(id),
    });
  } catch (err) {
    await store.close();
    await app.close();
    throw err;
  }

  const signal = roundSignal(config.training, config.rounds.minClients, aggregator.model.paramCount);
  if (signal.warning)
    app.log.warn(
      { snr: signal.snr, minClientsForSignal: signal.minClientsForSignal },
      `rounds too small for the noise: ${signal.warning}`,
    );

  app.setErrorHandler((err, req, reply) => {
    const fe = toFedrankError(err);
    // Refused before its body was read (caps, limits): close the connection rather than wait for the body.
    if (!req.raw.complete) void reply.header('connection', 'close');
    if (fe.status >= 500) req.log.error({ err, url: req.url }, 'request failed');
    if (req.method === 'POST' && UPLOAD_ROUTES.has(req.routeOptions.url ?? '')) metrics.reject(fe.code);
    void reply.code(fe.status).type('application/json').send(errorBody(fe));
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const methods = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;
    const other = methods.some((m) => m !== req.method && app.hasRoute({ url: path, method: m }));
    const fe = new FedrankError(other ? 'METHOD_NOT_ALLOWED' : 'NOT_FOUND', `${req.method} ${path}`);
    if (req.method === 'POST' && UPLOAD_ROUTES.has(path)) metrics.reject(fe.code);
    void reply.code(fe.status).type('application/json').send(errorBody(fe));
  });

  const allowed = new Set(config.allowedOrigins);
  const originAllowed = (origin: string): boolean => allowed.has('*') || allowed.has(origin);
  await app.register(cors, {
    origin: (origin, cb) => cb(null, origin !== undefined && originAllowed(origin)),
    methods: ['GET', 'POST', 'OPTIONS'],
    // Read by the worker cross-origin: caching, when to ask a busy server again, a secure round's phase.
    exposedHeaders: ['ETag', 'Retry-After', HEADER_SECAGG_PHASE],
    maxAge: 600,
  });
  // Browsers from origins not configured are refused outright on the public API; non-browser clients (no
  // Origin header) pass. Decided on the matched route (the decoded path, so percent-encoding cannot slip
  // past) and never on the Host header, which the caller chooses.
  app.addHook('onRequest', async (req) => {
    const origin = req.headers.origin;
    if (origin === undefined) return;
    const route = req.routeOptions.url ?? decodedPath(req.url);
    if (!route.startsWith('/v1/') || route.startsWith('/v1/admin/')) return;
    if (originAllowed(origin)) return;
    // Counted (dashboard, /metrics) and logged once per origin: a shop missing from allowedOrigins.
    if (metrics.refusedOrigins.note(origin))
      req.log.warn(
        { origin, url: req.url },
        `FORBIDDEN_ORIGIN: refused a browser request from ${origin}; add it to allowedOrigins if it is your shop`,
      );
    // A preflight is answered by the CORS plugin (without allow-origin headers); other requests fail here.
    if (req.method !== 'OPTIONS') throw new FedrankError('FORBIDDEN_ORIGIN', origin);
  });
  await app.register(helmet, {
    // Strict: the dashboard loads only its own files; nothing may frame it or the API.
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'none'"],
        frameAncestors: ["'none'"],
      },
    },
    // Storefront pages of other sites fetch the model (CORS governs who may read it).
    crossOriginResourcePolicy: { policy: 'cross-origin' },
  });

  const limits = config.limits;
  await app.register(rateLimit, {
    global: limits.perIpPerMinute > 0,
    max: limits.perIpPerMinute || 1,
    timeWindow: 60_000,
    hook: 'onRequest',
    // Operator routes count apart (by the matched route): shoppers behind the operator's address (the local
    // demo, an office) cannot lock the operator out of the dashboard.
    keyGenerator: (req) => (req.routeOptions.url?.startsWith('/v1/admin/') ? `operator:${req.ip}` : req.ip),
    errorResponseBuilder: (_req, ctx) => new FedrankError('RATE_LIMITED', `retry in ${ctx.after}`),
  });
  const perClient =
    limits.perClientPerMinute > 0
      ? app.rateLimit({
          max: limits.perClientPerMinute,
          timeWindow: 60_000,
          // The address (through trusted proxies only), never a header the caller chooses.
          keyGenerator: (req) => `client:${req.ip}`,
          errorResponseBuilder: (_req, ctx) =>
            new FedrankError('RATE_LIMITED', `client limit, retry in ${ctx.after}`),
        })
      : null;

  const checkOperator = async (req: { headers: Record<string, unknown> }): Promise<void> => {
    const h = req.headers.authorization;
    const m = typeof h === 'string' ? /^Bearer (\S+)$/.exec(h) : null;
    const got = createHash('sha256')
      .update(m?.[1] ?? '')
      .digest();
    // Compare digests (fixed length) in constant time; a missing token compares against '' and fails.
    const expected = createHash('sha256').update(operatorToken()).digest();
    if (!m || !timingSafeEqual(got, expected)) throw new FedrankError('UNAUTHORIZED');
  };

  const inflight = new InFlightBytes({
    global: limits.inFlightUploadBytes,
    perSource: limits.inFlightUploadBytesPerSource,
  });
  // Before the public routes: its hook checks the token of every upload and eval report.
  const tokens = await registerTokenRoutes(app, {
    config,
    clock: deps.clock ?? Date.now,
    // Several processes on PostgreSQL spend tokens in the shared database (once over all processes).
    store:
      deps.tokenStore ?? (config.store ? await PostgresTokenStore.open({ url: config.store }) : undefined),
    joinRound: async () => (secure ? await secure.currentRound() : null),
  });
  registerPublicRoutes(app, { aggregator, metrics, config, perClient, store, inflight });
  if (config.privacy.secureAggregation)
    secure = await startSecureRounds(app, {
      config,
      aggregator,
      now: deps.clock ?? Date.now,
      store: deps.secAggStore,
      onResult: deps.onSecAggResult,
    });
  registerAdminRoutes(app, { aggregator, metrics, config, store, checkOperator, started, secure });
  await registerDashboard(app);

  app.addHook('onClose', async () => {
    await aggregator.shutdown();
    await store.close();
  });

  return {
    app,
    aggregator,
    metrics,
    config,
    inflight,
    tokens,
    secure,
    close: async () => {
      await app.close();
    },
  };
}

/** fastify's trustProxy for the configured proxies: a hop count trusts that many nearest hops. */
function trustProxyOption(
  t: ServerConfig['trustProxy'],
): boolean | string[] | ((a: string, hop: number) => boolean) {
  return typeof t === 'number' ? (_addr, hop) => hop < t : t;
}

/** The path of a request URL, percent-decoded as the router decodes it (undecodable: as sent). */
function decodedPath(url: string): string {
  const path = url.split('?')[0]!;
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** A listening server. */
export interface RunningServer extends FedrankServer {
  /** Base URL, e.g. http://127.0.0.1:8787 */
  url: string;
}

/** Builds and listens on config.host:config.port (port 0 picks a free port). */
export async function startServer(config: ServerConfig, deps: ServerDeps = {}): Promise<RunningServer> {
  const s = await buildServer(config, deps);
  try {
    await s.app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await s.close();
    throw err;
  }
  const addr = s.app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return { ...s, url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}` };
}

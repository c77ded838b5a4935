/**
 * The aggregation server as a fastify instance: `buildServer()` for tests (inject) and embedding,
 * `startServer()` to listen. Routes are in routes-public.ts and routes-admin.ts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import { FedrankError } from '../shared/errors.ts';
import { Aggregator } from './aggregator.ts';
import { resolveOperatorToken, type ServerConfig } from './config.ts';
import { errorBody, toFedrankError } from './errors.ts';
import { Metrics } from './metrics.ts';
import { modelFromConfig, type ModelSource } from './model-source.ts';
import { registerAdminRoutes } from './routes-admin.ts';
import { registerDashboard } from './routes-dashboard.ts';
import { registerPublicRoutes } from './routes-public.ts';
import { openStore } from './store/open.ts';
import type { Store } from './store/types.ts';

/** Replaceable collaborators (tests inject a store, a clock, a quiet logger). */
export interface ServerDeps {
  store?: Store;
  /** Milliseconds since the epoch. */
  clock?: () => number;
  /** fastify logger option: false, true, pino options, or a pino instance via loggerInstance. */
  logger?: FastifyServerOptions['logger'];
  model?: ModelSource;
}

/** What buildServer returns: the fastify app plus the state behind it. */
export interface FedrankServer {
  app: FastifyInstance;
  aggregator: Aggregator;
  metrics: Metrics;
  config: ServerConfig;
  /** Stops accepting, drains the writer, closes the store. */
  close(): Promise<void>;
}

/** Paths that count towards the rejected-update metrics. */
const UPLOAD_ROUTES = new Set(['/v1/updates']);

/** Builds the server (not listening). Throws CONFIG_INVALID when no operator token is configured. */
export async function buildServer(config: ServerConfig, deps: ServerDeps = {}): Promise<FedrankServer> {
  const token = resolveOperatorToken(config);
  const model = deps.model ?? modelFromConfig(config);
  const store = deps.store ?? (await openStore(config));
  const metrics = new Metrics();
  const started = Date.now();
  const app = Fastify({
    logger: deps.logger ?? { level: config.logLevel },
    bodyLimit: config.limits.jsonBodyBytes,
    trustProxy: false,
    // One line per request would dominate the log at ingest rates; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
  });
  let aggregator: Aggregator;
  try {
    aggregator = await Aggregator.open(config, model, store, app.log, deps.clock ?? Date.now, {
      onAccepted: (n) => (metrics.accepted += n),
      onRoundClosed: () => (metrics.roundsClosed += 1),
    });
  } catch (err) {
    await store.close();
    await app.close();
    throw err;
  }

  app.setErrorHandler((err, req, reply) => {
    const fe = toFedrankError(err);
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
    exposedHeaders: ['ETag'],
    maxAge: 600,
  });
  // Browsers from other origins are refused outright on the public API; same-origin pages and
  // non-browser clients (no Origin header) pass.
  app.addHook('onRequest', async (req) => {
    const origin = req.headers.origin;
    if (origin === undefined || req.method === 'OPTIONS' || !req.url.startsWith('/v1/')) return;
    if (req.url.startsWith('/v1/admin/')) return;
    if (originAllowed(origin)) return;
    if (sameOrigin(origin, req.headers.host)) return;
    throw new FedrankError('FORBIDDEN_ORIGIN', origin);
  });

  const limits = config.limits;
  await app.register(rateLimit, {
    global: limits.perIpPerMinute > 0,
    max: limits.perIpPerMinute || 1,
    timeWindow: 60_000,
    hook: 'onRequest',
    errorResponseBuilder: (_req, ctx) => new FedrankError('RATE_LIMITED', `retry in ${ctx.after}`),
  });
  const perClient =
    limits.perClientPerMinute > 0
      ? app.rateLimit({
          max: limits.perClientPerMinute,
          timeWindow: 60_000,
          keyGenerator: (req) => `client:${String(req.headers['x-fedrank-client'] ?? req.ip)}`,
          errorResponseBuilder: (_req, ctx) =>
            new FedrankError('RATE_LIMITED', `client limit, retry in ${ctx.after}`),
        })
      : null;

  const expected = createHash('sha256').update(token).digest();
  const checkOperator = async (req: { headers: Record<string, unknown> }): Promise<void> => {
    const h = req.headers.authorization;
    const m = typeof h === 'string' ? /^Bearer (\S+)$/.exec(h) : null;
    const got = createHash('sha256')
      .update(m?.[1] ?? '')
      .digest();
    // Compare digests (fixed length) in constant time; a missing token compares against '' and fails.
    if (!m || !timingSafeEqual(got, expected)) throw new FedrankError('UNAUTHORIZED');
  };

  registerPublicRoutes(app, { aggregator, metrics, config, perClient, store });
  registerAdminRoutes(app, { aggregator, metrics, config, store, checkOperator, started });
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
    close: async () => {
      await app.close();
    },
  };
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
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

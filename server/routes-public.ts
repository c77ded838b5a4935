/** Public routes: model manifest and weights, update upload, evaluation reports, health and metrics. */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { encodedByteLength } from '../shared/codec/tensor-codec.ts';
import { FedrankError } from '../shared/errors.ts';
import { parseEvalReport } from '../shared/protocol-parse.ts';
import { HEADER_CLIENT_ID, HEADER_IDEMPOTENCY_KEY, TENSOR_CONTENT_TYPE } from '../shared/protocol.ts';
import { ID_PATTERN, ROUTES } from '../shared/routes.ts';
import type { Aggregator } from './aggregator.ts';
import type { ServerConfig } from './config.ts';
import type { Metrics } from './metrics.ts';
import type { Store } from './store/types.ts';
import { checkEvalReport } from './eval-reports.ts';
import { minRateHook, reserveHook, type InFlightBytes } from './upload-limits.ts';
import { pickCoding, WeightsFiles } from './weights-files.ts';

/** Client ids and idempotency keys: the shared pattern (shared/routes.ts). */
export { ID_PATTERN };

interface Ctx {
  /** Upload bytes being received (upload-limits.ts). */
  inflight: InFlightBytes;
  aggregator: Aggregator;
  metrics: Metrics;
  config: ServerConfig;
  store: Store;
  perClient: preHandlerAsyncHookHandler | null;
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** Replies 304 when If-None-Match names `etag`; returns true when it did. */
function notModified(req: FastifyRequest, reply: FastifyReply, etag: string): boolean {
  void reply.header('etag', etag).header('cache-control', 'no-cache');
  const inm = header(req, 'if-none-match');
  if (inm && inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
    void reply.code(304).send();
    return true;
  }
  return false;
}

export function registerPublicRoutes(app: FastifyInstance, ctx: Ctx): void {
  const { aggregator, metrics, config, store } = ctx;
  const n = aggregator.model.paramCount;
  // The largest honest body: f32 payload with the longest model id.
  const updateBodyLimit = encodedByteLength(n, 'f32');

  app.addContentTypeParser(
    [TENSOR_CONTENT_TYPE, 'application/octet-stream'],
    { parseAs: 'buffer', bodyLimit: updateBodyLimit },
    (_req, body, done) => done(null, body),
  );

  app.get(ROUTES.model, async (req, reply) => {
    await aggregator.refresh();
    const body = JSON.stringify(aggregator.manifest());
    const etag = `"m-${createHash('sha1').update(body).digest('hex').slice(0, 20)}"`;
    if (notModified(req, reply, etag)) return reply;
    return reply.type('application/json').send(body);
  });

  app.get(ROUTES.weights, async (req, reply) => {
    await aggregator.refresh();
    const w = aggregator.weights();
    const etag = `"w-${aggregator.model.modelId}-${w.version}"`;
    if (notModified(req, reply, etag)) return reply;
    return reply
      .type(TENSOR_CONTENT_TYPE)
      .send(Buffer.from(w.bytes.buffer, w.bytes.byteOffset, w.bytes.byteLength));
  });

  // Immutable, compact weights of one version: a CDN caches them for a year and revalidates never.
  const files = new WeightsFiles(aggregator.model.modelId);
  app.get<{ Params: { modelId: string; version: string } }>(ROUTES.versionWeights, async (req, reply) => {
    const { modelId, version } = req.params;
    if (modelId === aggregator.model.modelId && version !== String(aggregator.version))
      await aggregator.refresh();
    if (modelId !== aggregator.model.modelId || version !== String(aggregator.version)) {
      void reply.header('cache-control', 'no-store');
      throw new FedrankError(
        'NOT_FOUND',
        `model ${modelId} version ${version} is not served (current: ${aggregator.version}); see /v1/model`,
      );
    }
    const f = await files.get(aggregator.version, aggregator.params);
    const coding = pickCoding(header(req, 'accept-encoding'));
    const etag = coding === 'identity' ? f.etag : f.etag.replace(/"$/, coding === 'br' ? '-br"' : '-gz"');
    void reply
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('vary', 'Accept-Encoding')
      .header('etag', etag);
    const inm = header(req, 'if-none-match');
    if (inm && inm.split(',').some((t) => t.trim() === etag || t.trim() === '*'))
      return reply.code(304).send();
    if (coding !== 'identity') void reply.header('content-encoding', coding);
    const body = coding === 'br' ? f.br : coding === 'gzip' ? f.gzip : f.identity;
    return reply.type(TENSOR_CONTENT_TYPE).send(body);
  });

  // Per-client limits run on request arrival, before the body is read.
  const perClient = ctx.perClient ? [ctx.perClient] : [];

  // Headers and content type are checked before the body is read or parsed.
  const checkUploadHeaders = async (req: FastifyRequest): Promise<void> => {
    const clientId = header(req, HEADER_CLIENT_ID);
    if (!clientId || !ID_PATTERN.test(clientId)) throw new FedrankError('UPDATE_MISSING_CLIENT_ID');
    const key = header(req, HEADER_IDEMPOTENCY_KEY);
    if (!key || !ID_PATTERN.test(key)) throw new FedrankError('UPDATE_MISSING_IDEMPOTENCY_KEY');
    const type = (header(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== TENSOR_CONTENT_TYPE && type !== 'application/octet-stream')
      throw new FedrankError(
        'UNSUPPORTED_MEDIA_TYPE',
        `send ${TENSOR_CONTENT_TYPE} or application/octet-stream`,
      );
  };

  // Group commit waits for bodies still arriving (upload-queue.ts), so it counts them.
  const trackArrival = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const arrived = aggregator.uploadArriving();
    req.raw.once('end', arrived);
    req.raw.once('close', arrived);
    reply.raw.once('close', arrived);
  };

  const uploadOpts = {
    bodyLimit: updateBodyLimit,
    onRequest: [checkUploadHeaders, ...perClient, reserveHook(ctx.inflight, updateBodyLimit), trackArrival],
    preParsing: minRateHook(config, updateBodyLimit),
  };
  app.post(ROUTES.updates, uploadOpts, async (req, reply) => {
    const clientId = header(req, HEADER_CLIENT_ID)!;
    const key = header(req, HEADER_IDEMPOTENCY_KEY)!;
    if (!Buffer.isBuffer(req.body))
      throw new FedrankError(
        'UNSUPPORTED_MEDIA_TYPE',
        `send ${TENSOR_CONTENT_TYPE} or application/octet-stream`,
      );
    const body = req.body;
    const ack = await aggregator.submit(
      clientId,
      key,
      new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
    );
    if (ack.duplicate) metrics.duplicates += 1;
    else metrics.observeIngest(reply.elapsedTime / 1000);
    return reply.code(ack.duplicate ? 200 : 201).send(ack);
  });

  const jsonLimit = config.limits.jsonBodyBytes;
  const evalLimit = {
    bodyLimit: jsonLimit,
    onRequest: [...perClient, reserveHook(ctx.inflight, jsonLimit)],
    preParsing: minRateHook(config, jsonLimit),
  };
  app.post(ROUTES.eval, evalLimit, async (req, reply) => {
    const clientId = header(req, HEADER_CLIENT_ID);
    if (!clientId || !ID_PATTERN.test(clientId)) throw new FedrankError('UPDATE_MISSING_CLIENT_ID');
    if (typeof req.body !== 'object' || req.body === null || Buffer.isBuffer(req.body))
      throw new FedrankError('UNSUPPORTED_MEDIA_TYPE', 'send application/json');
    // Contribution tokens (issue 14) are to be verified here, before the report is parsed or counted.
    const r = parseEvalReport(req.body);
    checkEvalReport(r, config.evals);
    if (r.modelVersion > aggregator.version)
      throw new FedrankError('BAD_REQUEST', `model version ${r.modelVersion} does not exist yet`);
    await store.addEval({
      modelVersion: r.modelVersion,
      examples: r.examples,
      hitsAt10: r.hitsAt10,
      ndcgAt10: r.ndcgAt10,
    });
    return reply.code(204).send();
  });

  app.get('/healthz', async (_req, reply) => {
    const ok = await store.ping().catch(() => false);
    return reply.code(ok ? 200 : 503).send({
      ok,
      modelVersion: aggregator.version,
      round: aggregator.open?.round.id ?? null,
      budgetExhausted: aggregator.refusal !== null,
    });
  });

  app.get('/metrics', async (_req, reply) => {
    const text = metrics.render({
      modelVersion: aggregator.version,
      epsilon: aggregator.ledger.epsilon,
      delta: config.privacy.delta,
      roundAccepted: aggregator.roundAccepted,
      epsilonBudget: config.privacy.epsilonBudget,
      counts: false,
    });
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(text);
  });
}

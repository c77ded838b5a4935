/**
 * HTTP relay of secure aggregation on the existing server (register with `registerSecAggRoutes`):
 *   POST /v1/secagg/rounds/:round/join          -> { slot }: the next free slot of the cohort, bound to the
 *                                                  client id header (x-fedrank-client) and, when sent, the
 *                                                  idempotency key (one slot per contribution)
 *   POST /v1/secagg/rounds/:round/messages      a client message (application/vnd.fedrank.secagg), 202
 *   GET  /v1/secagg/rounds/:round/slots/:slot   the server message for the slot in this phase, or 204 when
 *                                                  it has none or the slot answered it; the round's phase
 *                                                  in x-fedrank-secagg-phase either way
 *   GET  /v1/secagg/rounds/:round               { phase, deadline } (no per-round counts: they are private)
 *   GET  /v1/secagg/current                     { round, forRound }: the secure round to join now, or 404
 * Every body is validated once, by the shared codec, inside the coordinator. A slot's messages and relayed
 * data are only served to the client id that joined it. Slot owners are in the store, so on a shared store
 * any process serves any request of a round.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FedrankError } from '../shared/errors.ts';
import { HEADER_CLIENT_ID, HEADER_IDEMPOTENCY_KEY } from '../shared/protocol.ts';
import {
  decodeMessage,
  encodeMessage,
  MAX_COHORT,
  SEALED_SHARE_BYTES,
  SECAGG_CONTENT_TYPE,
} from '../shared/secagg/codec.ts';
import { HEADER_SECAGG_PHASE } from '../shared/secagg/phases.ts';
import { packedBytes } from '../shared/secagg/ring.ts';
import { ID_PATTERN } from './routes-public.ts';
import type { SecAggCoordinator } from './secagg/coordinator.ts';
import type { SecAggStore } from './secagg/store.ts';

/** What the relay needs. */
export interface SecAggRoutesCtx {
  coordinator: SecAggCoordinator;
  store: SecAggStore;
  /** Model dimension: sizes the body limit (a masked input at 32 bits plus headers). */
  d: number;
  /** The configured neighbour count k: sizes the body limit of share-keys (k sealed pairs). */
  neighbours: number;
  now?: () => number;
  /** The secure round open now (secure-rounds.ts); absent: no /v1/secagg/current. */
  current?: () => Promise<{ round: number; forRound: number } | null>;
  /** Called after each accepted message (the lifecycle closes a round as soon as it has unmasked). */
  onMessage?: () => void;
}

function clientId(req: FastifyRequest): string {
  const v = req.headers[HEADER_CLIENT_ID];
  if (typeof v !== 'string' || !ID_PATTERN.test(v)) throw new FedrankError('UPDATE_MISSING_CLIENT_ID');
  return v;
}

function intParam(v: string | undefined, max: number): number {
  const n = Number(v);
  if (!(v && /^[0-9]{1,10}$/.test(v) && n >= 0 && n <= max))
    throw new FedrankError('BAD_REQUEST', 'bad path number');
  return n;
}

/** Registers the relay routes. */
export function registerSecAggRoutes(app: FastifyInstance, ctx: SecAggRoutesCtx): void {
  const now = ctx.now ?? Date.now;
  const checkOwner = async (round: number, slot: number, id: string): Promise<void> => {
    if ((await ctx.store.slotOwner(round, slot)) !== id)
      throw new FedrankError('SECAGG_NOT_PARTICIPANT', `slot ${slot} is not yours`);
  };

  app.addContentTypeParser(
    SECAGG_CONTENT_TYPE,
    {
      parseAs: 'buffer',
      bodyLimit: 64 + Math.max(packedBytes(ctx.d, 32), ctx.neighbours * (4 + SEALED_SHARE_BYTES)),
    },
    (_req, body, done) => done(null, body),
  );

  const current = ctx.current;
  if (current)
    app.get('/v1/secagg/current', async (_req, reply) => {
      const c = await current();
      if (!c) throw new FedrankError('NOT_FOUND', 'no secure round is open');
      void reply.header('cache-control', 'no-store');
      return c;
    });

  app.get<{ Params: { round: string } }>('/v1/secagg/rounds/:round', async (req) => {
    const r = await ctx.store.loadRound(intParam(req.params.round, 0xffffffff));
    if (!r) throw new FedrankError('NOT_FOUND', 'no such secure round');
    return { round: r.round, phase: r.phase, deadline: new Date(r.deadline).toISOString() };
  });

  app.post<{ Params: { round: string } }>('/v1/secagg/rounds/:round/join', async (req) => {
    const id = clientId(req);
    const round = intParam(req.params.round, 0xffffffff);
    const key = req.headers[HEADER_IDEMPOTENCY_KEY];
    const contribution = typeof key === 'string' && key !== '' ? key : null;
    return { slot: await ctx.coordinator.join(round, id, now(), contribution) };
  });

  app.post<{ Params: { round: string } }>('/v1/secagg/rounds/:round/messages', async (req, reply) => {
    const id = clientId(req);
    const round = intParam(req.params.round, 0xffffffff);
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== SECAGG_CONTENT_TYPE)
      throw new FedrankError('UNSUPPORTED_MEDIA_TYPE', `use ${SECAGG_CONTENT_TYPE}`);
    const body = req.body as Buffer;
    const bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    const m = decodeMessage(bytes); // validated here for the owner check; the coordinator decodes the same bytes
    if (m.round !== round) throw new FedrankError('SECAGG_INCONSISTENT', 'message names another round');
    await checkOwner(round, m.slot, id);
    const r = await ctx.coordinator.receive(bytes, now());
    ctx.onMessage?.();
    return reply.code(202).send({ phase: r.phase });
  });

  app.get<{ Params: { round: string; slot: string } }>(
    '/v1/secagg/rounds/:round/slots/:slot',
    async (req, reply) => {
      const id = clientId(req);
      const round = intParam(req.params.round, 0xffffffff);
      const slot = intParam(req.params.slot, MAX_COHORT);
      await checkOwner(round, slot, id);
      await ctx.coordinator.tick(round, now());
      const { phase, message: m } = await ctx.coordinator.slotState(round, slot);
      // The phase rides on every reply, so a waiting client needs one request per poll, not two.
      void reply.header(HEADER_SECAGG_PHASE, phase);
      if (!m) return reply.code(204).send();
      const out = encodeMessage(m);
      return reply.type(SECAGG_CONTENT_TYPE).send(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
    },
  );
}

/**
 * Contribution-token routes and the token check on contributions. `registerTokenRoutes` is called once
 * from app.ts, before the public routes:
 *   GET  /v1/tokens/keys       the issuer keys (the same for everyone; devices check ids and windows)
 *   POST /v1/tokens/issue      the shop's backend: bearer shop secret, session id, blinded messages
 *   GET  /v1/tokens/challenge  a proof-of-work challenge (shops without sessions)
 *   POST /v1/tokens/pow        blinded messages with a solved challenge
 * and an onRequest hook that applies server/tokens/admit.ts to POST /v1/updates and POST /v1/eval.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FedrankError } from '../shared/errors.ts';
import { HEADER_IDEMPOTENCY_KEY } from '../shared/protocol.ts';
import { parsePowIssueRequest, parseShopIssueRequest } from '../shared/tokens/codec.ts';
import { HEADER_TOKEN, type TokenPurpose } from '../shared/tokens/types.ts';
import type { ServerConfig } from './config.ts';
import { admitToken } from './tokens/admit.ts';
import { resolveShopSecret, tokenDbPath } from './tokens/config.ts';
import { TokenIssuer } from './tokens/issuer.ts';
import { TokenKeyRing } from './tokens/keys.ts';
import { SqliteTokenStore } from './tokens/sqlite.ts';
import type { TokenStore } from './tokens/store.ts';

const SECURE_JOIN = '/v1/secagg/rounds/:round/join';
/** The routes that a token pays for, and what for. */
const PURPOSE_OF: Record<string, TokenPurpose> = {
  '/v1/updates': 'update',
  '/v1/eval': 'eval',
  // A secure contribution pays once, when it joins a cohort (bound to its idempotency key like an upload,
  // and to the aggregation round it joins for: the same contribution joining a retried secure round of that
  // round is a replay, not a spend; joining for a later round is a second spend).
  [SECURE_JOIN]: 'update',
};

/** What registerTokenRoutes leaves behind (tests and the benchmark read it). */
export interface TokenService {
  store: TokenStore;
  ring: TokenKeyRing;
  issuer: TokenIssuer;
  /** Contributions admitted with a verified token, and without one (only while tokens are optional). */
  admitted: { verified: number; unverified: number };
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Registers the token routes and the contribution check; the token store closes with the app. */
export async function registerTokenRoutes(
  app: FastifyInstance,
  ctx: {
    config: ServerConfig;
    clock: () => number;
    store?: TokenStore;
    /** The secure round open for joins and the aggregation round it is for (SecureRounds.currentRound). */
    joinRound?: () => Promise<{ round: number; forRound: number } | null>;
  },
): Promise<TokenService> {
  const { config, clock } = ctx;
  const cfg = config.tokens;
  // Configuration errors first, before a file is opened.
  const secret = resolveShopSecret(cfg);
  const expected = secret === null ? null : sha256(secret);
  const store =
    ctx.store ?? new SqliteTokenStore({ path: tokenDbPath(cfg, config.db), durability: config.durability });
  const ring = new TokenKeyRing(store, { rotationDays: cfg.keyRotationDays, bits: cfg.keyBits }, clock);
  const issuer = new TokenIssuer(store, ring, cfg, clock);
  const service: TokenService = { store, ring, issuer, admitted: { verified: 0, unverified: 0 } };
  app.addHook('onClose', async () => store.close());
  await ring.refresh();

  app.log.info(
    { required: cfg.required, shopIssuer: secret !== null, proofOfWork: cfg.powPerIpPerDay > 0 },
    'contribution tokens',
  );
  const checkShop = async (req: FastifyRequest): Promise<void> => {
    const m = /^Bearer (\S+)$/.exec(header(req, 'authorization') ?? '');
    // Digests compare in constant time; with no secret configured nobody gets in.
    if (!expected || !m || !timingSafeEqual(sha256(m[1]!), expected))
      throw new FedrankError('SHOP_UNAUTHORIZED', expected ? undefined : 'no shop secret is configured');
  };

  app.get('/v1/tokens/keys', async (_req, reply) => {
    await ring.refresh(true);
    return reply.header('cache-control', 'public, max-age=300').send(ring.published());
  });

  app.post('/v1/tokens/issue', { onRequest: checkShop }, async (req, reply) => {
    const body = parseShopIssueRequest(req.body);
    return reply.header('cache-control', 'no-store').send(await issuer.issueForSession(body));
  });

  app.get('/v1/tokens/challenge', async (_req, reply) => {
    return reply.header('cache-control', 'no-store').send(await issuer.challenge());
  });

  app.post('/v1/tokens/pow', async (req, reply) => {
    const body = parsePowIssueRequest(req.body);
    return reply.header('cache-control', 'no-store').send(await issuer.issueForPow(body, req.ip));
  });

  app.addHook('onRequest', async (req) => {
    const purpose = req.method === 'POST' ? PURPOSE_OF[req.routeOptions.url ?? ''] : undefined;
    if (!purpose) return;
    await ring.refresh();
    const key = header(req, HEADER_IDEMPOTENCY_KEY);
    let scope = '';
    if (req.routeOptions.url === SECURE_JOIN) {
      const open = (await ctx.joinRound?.()) ?? null;
      // Only the open secure round takes joins: a join that cannot succeed spends no token.
      if (!open || String(open.round) !== (req.params as { round?: string }).round)
        throw new FedrankError('SECAGG_WRONG_PHASE', 'not the open secure round');
      scope = `@${open.forRound}`;
    }
    const result = await admitToken(
      {
        header: header(req, HEADER_TOKEN),
        purpose,
        required: cfg.required,
        binding: purpose === 'update' && key ? sha256(key + scope).toString('base64url') : null,
      },
      {
        // Several processes on one PostgreSQL: another may have made this epoch's key since our refresh.
        redeemable: (id) => (config.store ? ring.redeemableShared(id) : ring.redeemable(id)),
        spend: (...a) => store.spend(...a),
      },
    );
    service.admitted[result] += 1;
  });

  return service;
}

/**
 * Helpers for token tests and the benchmark: a fetch over fastify's inject (so the shared client code
 * runs unchanged against an in-process server), and tokens through the shop route.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { issueForSession, tokensViaShop, type HttpFetch } from '../../shared/tokens/client.ts';
import type { Token, TokenPurpose } from '../../shared/tokens/types.ts';
import type { FedrankServer } from '../app.ts';
import { constantDelta, randomId } from '../testing.ts';

/** A test shop secret (tests only). */
export const TEST_SHOP_SECRET = 'test-shop-secret-0123456789';

/** fetch over app.inject; use '' as the base URL. */
export function injectFetch(app: FastifyInstance, ip = '127.0.0.1'): HttpFetch {
  return async (url, init) => {
    const res = await app.inject({
      method: (init?.method ?? 'GET') as 'GET' | 'POST',
      url,
      headers: init?.headers,
      payload: init?.body,
      remoteAddress: ip,
    });
    return { ok: res.statusCode < 400, status: res.statusCode, json: async () => res.json() };
  };
}

/** `count` tokens for `purpose`, issued to shop session `sessionId` through POST /v1/tokens/issue. */
export async function shopTokens(
  app: FastifyInstance,
  purpose: TokenPurpose,
  count: number,
  sessionId = 'session-0001',
  nowMs?: number,
): Promise<Token[]> {
  const fetch = injectFetch(app);
  return tokensViaShop({
    baseUrl: '',
    fetch,
    purpose,
    count,
    ...(nowMs === undefined ? {} : { nowMs }),
    relay: (request) =>
      issueForSession({ baseUrl: '', fetch, shopSecret: TEST_SHOP_SECRET, sessionId, request }),
  });
}

/** POST /v1/updates of an all-`value` delta for the open round, with fresh ids and extra `headers`. */
export function uploadWith(
  s: FedrankServer,
  headers: Record<string, string> = {},
  value = 0,
): Promise<LightMyRequestResponse> {
  const a = s.aggregator;
  const body = constantDelta(
    { modelId: a.model.modelId, baseVersion: a.version, round: a.open?.round.id ?? 0 },
    a.model.paramCount,
    value,
  );
  return s.app.inject({
    method: 'POST',
    url: '/v1/updates',
    payload: Buffer.from(body),
    headers: {
      'content-type': 'application/vnd.fedrank.tensor',
      'x-fedrank-client': randomId('c'),
      'idempotency-key': randomId('k'),
      ...headers,
    },
  });
}

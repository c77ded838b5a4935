/**
 * Helpers for token tests and the benchmark: a fetch over fastify's inject (so the shared client code
 * runs unchanged against an in-process server), and tokens through the shop route.
 */
import type { FastifyInstance } from 'fastify';
import { issueForSession, tokensViaShop, type HttpFetch } from '../../shared/tokens/client.ts';
import type { Token, TokenPurpose } from '../../shared/tokens/types.ts';

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

/**
 * The demo shop's token relay: what a real shop's backend adds to take part in contribution tokens. The
 * page's SDK posts a device's blinded IssueRequest to this same-origin route (data-token-url); the shop
 * checks its own session (a cookie here), adds the session id and its issuer secret, forwards it to the
 * aggregation server's POST /v1/tokens/issue and returns the reply unchanged. The server never sees the
 * cookie or the shopper; the shop never sees the tokens (only blinded messages).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FedrankError, isFedrankError } from '../shared/errors.ts';
import { issueForSession } from '../shared/tokens/client.ts';
import { parseIssueRequest } from '../shared/tokens/codec.ts';

/** The relay's path on the shop (the script tag's data-token-url). */
export const TOKEN_RELAY_PATH = '/fedrank/tokens';
const SESSION_COOKIE = 'shop_session';
const MAX_BODY = 64 * 1024;

/** The demo's stand-in for a shop's login sessions: ids it handed out in a cookie (a real shop has its own). */
export class ShopSessions {
  private readonly issued = new Set<string>();
  /** The request's session id if this shop issued it, else null. */
  of(req: IncomingMessage): string | null {
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [k, v] = part.trim().split('=');
      if (k === SESSION_COOKIE && v && this.issued.has(v)) return v;
    }
    return null;
  }
  /** Gives the shopper a session cookie when it has none. */
  ensure(req: IncomingMessage, res: ServerResponse): void {
    if (this.of(req)) return;
    // Bounded: a demo shop forgets its oldest sessions rather than grow without limit.
    if (this.issued.size >= 100_000) this.issued.delete(this.issued.values().next().value!);
    const id = randomBytes(18).toString('base64url');
    this.issued.add(id);
    res.setHeader('set-cookie', `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax`);
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new FedrankError('BAD_REQUEST', 'request too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** POST TOKEN_RELAY_PATH: a shopper with a session gets the device's request signed by the server. */
export async function handleTokenRelay(
  req: IncomingMessage,
  res: ServerResponse,
  opts: { serverUrl: string; shopSecret: string; sessions: ShopSessions },
): Promise<void> {
  try {
    const sessionId = opts.sessions.of(req);
    // No session, no tokens: the shop vouches only for shoppers it knows.
    if (!sessionId) throw new FedrankError('SHOP_UNAUTHORIZED', 'no shop session');
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (e) {
      throw isFedrankError(e) ? e : new FedrankError('BAD_REQUEST', 'not JSON');
    }
    const request = parseIssueRequest(body);
    const out = await issueForSession({
      baseUrl: opts.serverUrl,
      fetch: (url, init) => fetch(url, init),
      shopSecret: opts.shopSecret,
      sessionId,
      request,
    });
    reply(res, 200, out);
  } catch (e) {
    const err = isFedrankError(e) ? e : new FedrankError('UNAVAILABLE', 'token relay failed');
    // Device-side codes (a malformed server reply) have no HTTP status of their own.
    reply(res, err.status >= 400 ? err.status : 502, { error: { code: err.code, message: err.message } });
  }
}

/**
 * Obtaining tokens over HTTP with an injected fetch: the device side (browser worker, simulated shoppers,
 * tests) and the few lines a shop's backend needs. Every reply is validated by codec.ts; an error reply
 * becomes the FedrankError it names.
 */
import { FedrankError } from '../errors.ts';
import { parseErrorReply } from '../protocol-parse.ts';
import { finalizeTokens, importTokenKey, prepareTokens, type TokenKey } from './blind.ts';
import { encodeToken, parseIssueResponse, parsePowChallenge, parseTokenKeys } from './codec.ts';
import { solvePow } from './pow.ts';
import {
  HEADER_TOKEN,
  type IssueRequest,
  type IssueResponse,
  type Token,
  type TokenKeyInfo,
  type TokenKeys,
  type TokenPurpose,
} from './types.ts';

/** The part of a fetch Response this code reads. */
export interface HttpResponse {
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
}

/** fetch, or anything with its shape (tests inject a fastify inject wrapper). */
export type HttpFetch = (
  url: string,
  init?: { method?: string; headers?: Record<string, string>; body?: string },
) => Promise<HttpResponse>;

async function call(fetch: HttpFetch, url: string, init?: Parameters<HttpFetch>[1]): Promise<unknown> {
  const res = await fetch(url, init);
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new FedrankError('SDK_BAD_MESSAGE', `${url} answered ${res.status} without JSON`);
  }
  if (!res.ok) {
    let reply;
    try {
      reply = parseErrorReply(body);
    } catch {
      throw new FedrankError('SDK_BAD_MESSAGE', `${url} answered ${res.status}`);
    }
    throw new FedrankError(reply.error.code, reply.error.message);
  }
  return body;
}

const json = (body: unknown, headers: Record<string, string> = {}): Parameters<HttpFetch>[1] => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

/** GET /v1/tokens/keys, validated. */
export async function fetchTokenKeys(baseUrl: string, fetch: HttpFetch): Promise<TokenKeys> {
  return parseTokenKeys(await call(fetch, `${baseUrl}/v1/tokens/keys`));
}

/** The key to request tokens for at `nowMs`: the newest one whose issuance window holds now, or null. */
export function issuingKey(keys: TokenKeys, nowMs: number): TokenKeyInfo | null {
  const live = keys.keys.filter((k) => Date.parse(k.notBefore) <= nowMs && nowMs < Date.parse(k.issueUntil));
  live.sort((a, b) => Date.parse(b.notBefore) - Date.parse(a.notBefore));
  return live[0] ?? null;
}

/** The published issuing key, imported and checked (its id is the hash of its bytes). */
export async function currentTokenKey(baseUrl: string, fetch: HttpFetch, nowMs: number): Promise<TokenKey> {
  const info = issuingKey(await fetchTokenKeys(baseUrl, fetch), nowMs);
  if (!info) throw new FedrankError('UNAVAILABLE', 'the server publishes no issuing token key');
  return importTokenKey(info);
}

/**
 * Tokens through the shop's backend: `relay` sends the device's IssueRequest to the shop (which adds its
 * session and secret, see issueForSession) and returns the shop's reply body.
 */
export async function tokensViaShop(opts: {
  baseUrl: string;
  fetch: HttpFetch;
  purpose: TokenPurpose;
  count: number;
  relay: (request: IssueRequest) => Promise<unknown>;
  nowMs?: number;
}): Promise<Token[]> {
  const key = await currentTokenKey(opts.baseUrl, opts.fetch, opts.nowMs ?? Date.now());
  const { request, pending } = await prepareTokens(key, opts.purpose, opts.count);
  return finalizeTokens(key, pending, parseIssueResponse(await opts.relay(request)));
}

/** Tokens for a proof of work (shops without sessions): challenge, solve, issue, finalize. */
export async function tokensByProofOfWork(opts: {
  baseUrl: string;
  fetch: HttpFetch;
  purpose: TokenPurpose;
  count: number;
  nowMs?: number;
}): Promise<Token[]> {
  const key = await currentTokenKey(opts.baseUrl, opts.fetch, opts.nowMs ?? Date.now());
  const { request, pending } = await prepareTokens(key, opts.purpose, opts.count);
  const ch = parsePowChallenge(await call(opts.fetch, `${opts.baseUrl}/v1/tokens/challenge`));
  const solution = await solvePow(ch.challenge, ch.difficulty, request.blindedMessages);
  const body = { ...request, challenge: ch.challenge, solution };
  const reply = await call(opts.fetch, `${opts.baseUrl}/v1/tokens/pow`, json(body));
  return finalizeTokens(key, pending, parseIssueResponse(reply));
}

/**
 * What a shop's backend does with a device's request (Node, or any fetch): POST /v1/tokens/issue with
 * its secret and the shopper's session id. The reply goes back to the device unchanged.
 */
export async function issueForSession(opts: {
  baseUrl: string;
  fetch: HttpFetch;
  shopSecret: string;
  sessionId: string;
  request: IssueRequest;
}): Promise<IssueResponse> {
  const body = { ...opts.request, sessionId: opts.sessionId };
  const auth = { authorization: `Bearer ${opts.shopSecret}` };
  return parseIssueResponse(await call(opts.fetch, `${opts.baseUrl}/v1/tokens/issue`, json(body, auth)));
}

/** The request header that redeems `token` (one token per upload or eval report). */
export function tokenHeader(token: Token): Record<string, string> {
  return { [HEADER_TOKEN]: encodeToken(token) };
}

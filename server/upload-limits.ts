/**
 * Guards on request bodies before they are buffered: upload bytes in flight are capped globally and per
 * source address (reserved from Content-Length, or the route's body limit when there is none, on request
 * arrival and released when the response is done or the connection drops), and a body must arrive at a
 * minimum rate (a grace period plus its length at the minimum rate) or the connection is closed. The
 * whole request is also bounded by the HTTP server's requestTimeout (see app.ts).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { FedrankError } from '../shared/errors.ts';
import type { ServerConfig } from './config.ts';

/** Time every body gets before the minimum rate applies (connection setup, a first slow packet). */
export const BODY_GRACE_MS = 2000;

/** Upload bytes in flight, in total and per source address. */
export class InFlightBytes {
  total = 0;
  private readonly bySource = new Map<string, number>();

  constructor(private readonly limits: { global: number; perSource: number }) {}

  /** Bytes in flight from `source`. */
  of(source: string): number {
    return this.bySource.get(source) ?? 0;
  }

  /**
   * Reserves `bytes` for `source`, or throws UNAVAILABLE (the server's total is full) or RATE_LIMITED (this
   * source's share is full). Returns the release function (idempotent).
   */
  reserve(source: string, bytes: number): () => void {
    const mine = this.of(source);
    if (mine + bytes > this.limits.perSource)
      throw new FedrankError('RATE_LIMITED', 'too many uploads in flight from this address');
    if (this.total + bytes > this.limits.global)
      throw new FedrankError('UNAVAILABLE', 'too many uploads in flight; retry later');
    this.total += bytes;
    this.bySource.set(source, mine + bytes);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total -= bytes;
      const left = this.of(source) - bytes;
      if (left > 0) this.bySource.set(source, left);
      else this.bySource.delete(source);
    };
  }
}

/** The body length a request commits to: its Content-Length, or `limit` when it has none (chunked). */
export function declaredBytes(req: FastifyRequest, limit: number): number {
  const h = req.headers['content-length'];
  const n = typeof h === 'string' && /^\d+$/.test(h) ? Number(h) : NaN;
  return Number.isFinite(n) ? Math.min(n, limit) : limit;
}

/** The onRequest hook of a body route: reserves its bytes, released when the exchange ends. */
export function reserveHook(inflight: InFlightBytes, limit: number) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const release = inflight.reserve(req.ip, declaredBytes(req, limit));
    reply.raw.once('close', release);
    reply.raw.once('finish', release);
    req.raw.once('close', () => {
      // An aborted request may never get a response: release once the socket is gone too.
      if (req.raw.destroyed) release();
    });
  };
}

/**
 * The preParsing hook of a body route: the body must be complete within BODY_GRACE_MS plus its length at
 * limits.minBodyBytesPerSecond, and within limits.requestTimeoutMs, else the connection is closed (a
 * slow-body attack holds sockets and buffers).
 */
export function minRateHook(config: ServerConfig, limit: number) {
  const rate = config.limits.minBodyBytesPerSecond;
  const timeout = config.limits.requestTimeoutMs;
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    // Also the request timeout, enforced here too: Node's own sweep missed some stalled bodies (measured).
    const byRate = rate > 0 ? BODY_GRACE_MS + (declaredBytes(req, limit) / rate) * 1000 : Infinity;
    const ms = Math.min(timeout, byRate);
    const timer = setTimeout(() => {
      // Only a request still receiving its body: never a finished exchange on a reused connection.
      if (req.raw.complete || reply.raw.writableEnded) return;
      req.log.warn({ ip: req.ip, url: req.url }, 'request body too slow: connection closed');
      req.raw.destroy();
      const socket = req.raw.socket as { destroy?: unknown } | null;
      if (typeof socket?.destroy === 'function') (socket as { destroy(): void }).destroy();
    }, ms);
    timer.unref();
    const done = (): void => clearTimeout(timer);
    req.raw.once('end', done);
    req.raw.once('close', done);
    req.raw.once('error', done);
    reply.raw.once('finish', done);
    reply.raw.once('close', done);
  };
}

/**
 * Server hardening of issue 14, one test per finding: origin checks on the decoded path and never from
 * Host, security headers and the dashboard's CSP, only built dashboard files served, the database file
 * owner-only, rate limits per real client behind a proxy and never keyed on a caller's header, in-flight
 * upload caps before buffering, and slow bodies closed (request timeout and minimum body rate).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServer, startServer, type FedrankServer, type RunningServer } from './app.ts';
import { constantDelta, randomId, specWithParams, testConfig, TEST_TOKEN } from './testing.ts';

const servers: FedrankServer[] = [];
const dirs: string[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const k of sockets.splice(0)) k.destroy();
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function make(over: Record<string, unknown> = {}): Promise<FedrankServer> {
  const s = await buildServer(testConfig(over), { logger: false });
  servers.push(s);
  return s;
}

/** A listening server with a model of ~400 parameters (an f32 upload of ~1.7 KB). */
async function listen(over: Record<string, unknown> = {}): Promise<RunningServer> {
  const base = { host: '127.0.0.1', port: 0, model: { spec: specWithParams(400, 8) } };
  const s = await startServer(testConfig({ ...base, ...over }), { logger: false });
  servers.push(s);
  return s;
}

function body(s: FedrankServer): Buffer {
  const a = s.aggregator;
  const h = { modelId: a.model.modelId, baseVersion: a.version, round: a.open!.round.id };
  return Buffer.from(constantDelta(h, a.model.paramCount, 0.01));
}

function upload(s: FedrankServer, headers: Record<string, string> = {}, url = '/v1/updates') {
  return s.app.inject({
    method: 'POST',
    url,
    payload: body(s),
    headers: {
      'content-type': 'application/vnd.fedrank.tensor',
      'x-fedrank-client': randomId('c'),
      'idempotency-key': randomId('k'),
      ...headers,
    },
  });
}

const codeOf = (r: { json(): unknown }): string | undefined =>
  (r.json() as { error?: { code?: string } }).error?.code;

/** Opens a raw connection and sends an upload's headers and the first `sent` bytes of a `length` body. */
function slowUpload(url: string, length: number, sent: number): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), hostname, () => {
      sock.write(
        `POST /v1/updates HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.fedrank.tensor\r\n` +
          `X-Fedrank-Client: ${randomId('c')}\r\nIdempotency-Key: ${randomId('k')}\r\n` +
          `Content-Length: ${length}\r\n\r\n` +
          'F'.repeat(sent),
      );
      resolve(sock);
    });
    sock.on('error', reject);
    sockets.push(sock);
  });
}

/** Resolves with what the server wrote before closing the connection. */
function closed(sock: Socket): Promise<string> {
  let got = '';
  sock.on('data', (d: Buffer) => (got += d.toString()));
  return new Promise((resolve) => sock.once('close', () => resolve(got)));
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
}

describe('configuration', () => {
  it('validates trustProxy, the body limits, the robust bounds and the eval settings', () => {
    const bad = (over: Record<string, unknown>): string => {
      try {
        testConfig(over);
        return 'accepted';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(bad({ trustProxy: true })).toContain('trustProxy');
    expect(bad({ trustProxy: ['not an address'] })).toContain('trustProxy');
    expect(bad({ limits: { requestTimeoutMs: 0 } })).toContain('limits.requestTimeoutMs');
    expect(bad({ limits: { inFlightUploadBytesPerSource: -1 } })).toContain('inFlightUploadBytesPerSource');
    expect(bad({ robust: { rowStep: 0 } })).toContain('robust.rowStep');
    expect(bad({ robust: { other: 1 } })).toContain('robust.other');
    expect(bad({ evals: { minReports: 0 } })).toContain('evals.minReports');
    expect(bad({ trustProxy: 1 })).toBe('accepted');
    expect(bad({ trustProxy: ['10.0.0.0/8', '::1'] })).toBe('accepted');
  });
});

describe('origin checks', () => {
  it('percent-encoded paths do not bypass the origin check', async () => {
    const s = await make({ allowedOrigins: ['https://shop.example'] });
    for (const url of ['/%761/updates', '/v1/%75pdates', '/v1%2Fupdates']) {
      const r = await upload(s, { origin: 'https://evil.example' }, url);
      expect([url, r.statusCode]).not.toEqual([url, 201]);
      if (r.statusCode !== 404) expect([url, codeOf(r)]).toEqual([url, 'FORBIDDEN_ORIGIN']);
    }
    expect(s.aggregator.open!.acc.count).toBe(0);
  });

  it('same-origin is not decided from the Host header', async () => {
    const s = await make({ allowedOrigins: ['https://shop.example'] });
    const r = await upload(s, { origin: 'https://evil.example', host: 'evil.example' });
    expect([r.statusCode, codeOf(r)]).toEqual([403, 'FORBIDDEN_ORIGIN']);
  });
});

describe('headers and files', () => {
  it('sends security headers, and a strict CSP on the dashboard', async () => {
    const s = await make();
    const page = await s.app.inject('/dashboard/');
    expect(page.statusCode).toBe(200);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    const api = await s.app.inject('/v1/model');
    expect(api.headers['x-content-type-options']).toBe('nosniff');
    expect(api.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(api.headers['strict-transport-security']).toBeDefined();
  });

  it('serves only the built dashboard files under /dashboard/', async () => {
    const s = await make();
    for (const f of ['view-model.test.ts', 'view-model.d.ts'])
      expect([f, (await s.app.inject(`/dashboard/${f}`)).statusCode]).toEqual([f, 404]);
    for (const f of ['index.html', 'dashboard.js', 'dashboard.css', 'view-model.js'])
      expect([f, (await s.app.inject(`/dashboard/${f}`)).statusCode]).toEqual([f, 200]);
  });

  it('creates the database file owner-only (0600)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedrank-mode-'));
    dirs.push(dir);
    const db = join(dir, 'data', 'fedrank.db');
    await make({ db });
    expect(statSync(db).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'data')).mode & 0o077).toBe(0);
  });
});

describe('rate limits', () => {
  it('behind a trusted proxy, limits apply per real client', async () => {
    const s = await make({ trustProxy: ['127.0.0.1'], limits: { perIpPerMinute: 2 } });
    const from = (ip: string) => s.app.inject({ url: '/v1/model', headers: { 'x-forwarded-for': ip } });
    expect((await from('203.0.113.1')).statusCode).toBe(200);
    expect((await from('203.0.113.1')).statusCode).toBe(200);
    expect((await from('203.0.113.1')).statusCode).toBe(429);
    expect((await from('203.0.113.2')).statusCode).toBe(200);
  });

  it('operator routes count apart from shopper traffic of the same address', async () => {
    const s = await make({ limits: { perIpPerMinute: 2 } });
    const admin = () =>
      s.app.inject({ url: '/v1/admin/status', headers: { authorization: `Bearer ${TEST_TOKEN}` } });
    expect((await s.app.inject('/v1/model')).statusCode).toBe(200);
    expect((await s.app.inject('/v1/model')).statusCode).toBe(200);
    expect((await s.app.inject('/v1/model')).statusCode).toBe(429);
    expect((await admin()).statusCode).toBe(200);
    expect((await admin()).statusCode).toBe(200);
    expect((await admin()).statusCode).toBe(429); // the operator's own bucket is limited too
  });

  it('without trustProxy, X-Forwarded-For is ignored', async () => {
    const s = await make({ limits: { perIpPerMinute: 2 } });
    const from = (ip: string) => s.app.inject({ url: '/v1/model', headers: { 'x-forwarded-for': ip } });
    await from('203.0.113.1');
    await from('203.0.113.2');
    expect((await from('203.0.113.3')).statusCode).toBe(429);
  });

  it('the per-client upload limit is not keyed on a header the caller chooses', async () => {
    const s = await make({ limits: { perClientPerMinute: 2 }, rounds: { minClients: 5, maxClients: 10 } });
    expect((await upload(s)).statusCode).toBe(201);
    expect((await upload(s)).statusCode).toBe(201);
    const third = await upload(s); // a fresh x-fedrank-client id again
    expect([third.statusCode, codeOf(third)]).toEqual([429, 'RATE_LIMITED']);
  });
});

describe('bodies', () => {
  it('caps upload bytes in flight per source before buffering, and releases them', async () => {
    const s = await listen({ limits: { inFlightUploadBytesPerSource: 3000, minBodyBytesPerSecond: 0 } });
    const n = body(s).length;
    expect(n).toBeGreaterThan(1500);
    const slow = await slowUpload(s.url, n, 10);
    await until(() => s.inflight.total > 0);
    const again = await s.app.inject({
      method: 'POST',
      url: '/v1/updates',
      payload: body(s),
      remoteAddress: '127.0.0.1',
      headers: {
        'content-type': 'application/vnd.fedrank.tensor',
        'x-fedrank-client': randomId('c'),
        'idempotency-key': randomId('k'),
      },
    });
    expect([again.statusCode, codeOf(again)]).toEqual([429, 'RATE_LIMITED']);
    const gone = closed(slow);
    slow.destroy();
    await gone;
    await until(() => s.inflight.total === 0);
  });

  it('caps upload bytes in flight over all sources (503)', async () => {
    const s = await listen({ limits: { inFlightUploadBytes: 3000, minBodyBytesPerSecond: 0 } });
    await slowUpload(s.url, body(s).length, 10);
    await until(() => s.inflight.total > 0);
    const other = await s.app.inject({
      method: 'POST',
      url: '/v1/updates',
      payload: body(s),
      remoteAddress: '198.51.100.7',
      headers: {
        'content-type': 'application/vnd.fedrank.tensor',
        'x-fedrank-client': randomId('c'),
        'idempotency-key': randomId('k'),
      },
    });
    expect([other.statusCode, codeOf(other)]).toEqual([503, 'UNAVAILABLE']);
  });

  it('closes a body that never completes (request timeout)', async () => {
    const s = await listen({ limits: { requestTimeoutMs: 500, minBodyBytesPerSecond: 0 } });
    const reply = await closed(await slowUpload(s.url, body(s).length, 10));
    expect(reply === '' || reply.startsWith('HTTP/1.1 408')).toBe(true);
    await until(() => s.inflight.total === 0);
  });

  it('closes a body below the minimum rate, well before the request timeout', async () => {
    const s = await listen({ limits: { requestTimeoutMs: 3_600_000, minBodyBytesPerSecond: 1024 } });
    const reply = await closed(await slowUpload(s.url, body(s).length, 10));
    expect(reply).toBe(''); // cut off: nothing was answered
    await until(() => s.inflight.total === 0);
  });
});

import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServer, type FedrankServer } from './app.ts';
import { MAX_ORIGINS, OTHER_ORIGINS, RefusedOrigins } from './refused-origins.ts';
import { TEST_TOKEN, testConfig } from './testing.ts';

describe('RefusedOrigins', () => {
  it('counts per origin, says which refusal is the first, and bounds the number of origins', () => {
    const r = new RefusedOrigins(() => 0);
    expect(r.note('http://localhost:8080')).toBe(true);
    expect(r.note('http://localhost:8080')).toBe(false);
    for (let i = 0; i < MAX_ORIGINS + 10; i++) r.note(`https://o${i}.example`);
    const list = r.list();
    expect(list).toHaveLength(MAX_ORIGINS + 1);
    expect(list.find((e) => e.origin === 'http://localhost:8080')!.count).toBe(2);
    expect(list[0]!.origin).toBe(OTHER_ORIGINS);
    expect(list.find((e) => e.origin === OTHER_ORIGINS)!.count).toBe(11);
    r.note('https://evil"\n.example');
    expect(r.metricLines().join('\n')).not.toMatch(/evil"\n/);
  });
});

describe('the server counts refused origins', () => {
  let server: FedrankServer | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  it('in /metrics and the admin status, and logs the first refusal per origin at warn', async () => {
    const lines: { level: number; msg: string; origin?: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, done) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
        done();
      },
    });
    server = await buildServer(testConfig({ allowedOrigins: ['http://127.0.0.1:8080'] }), {
      logger: { level: 'info', stream: sink },
    });
    const app = server.app;
    const from = (origin: string) => app.inject({ method: 'GET', url: '/v1/model', headers: { origin } });
    expect((await from('http://127.0.0.1:8080')).statusCode).toBe(200);
    for (let i = 0; i < 3; i++) expect((await from('http://localhost:8080')).statusCode).toBe(403);
    const pre = await app.inject({
      method: 'OPTIONS',
      url: '/v1/updates',
      headers: { origin: 'http://localhost:8080', 'access-control-request-method': 'POST' },
    });
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();

    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/^fedrank_origin_refused_total\{origin="http:\/\/localhost:8080"\} [34]$/m);
    expect(metrics).not.toMatch(/origin="http:\/\/127\.0\.0\.1:8080"/);
    const status = (
      await app.inject({
        method: 'GET',
        url: '/v1/admin/status',
        headers: { authorization: `Bearer ${TEST_TOKEN}` },
      })
    ).json() as { refusedOrigins: { origin: string; count: number }[] };
    expect(status.refusedOrigins).toEqual([
      expect.objectContaining({ origin: 'http://localhost:8080', count: expect.any(Number) }),
    ]);
    expect(status.refusedOrigins[0]!.count).toBeGreaterThanOrEqual(3);
    const warns = lines.filter((l) => l.level === 40 && l.origin === 'http://localhost:8080');
    expect(warns).toHaveLength(1);
    expect(warns[0]!.msg).toMatch(/allowedOrigins/);
  });
});

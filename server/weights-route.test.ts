/** Immutable versioned weights: URL in the manifest, caching headers, strong ETags, content codings. */
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeWeights } from '../shared/codec/weights.ts';
import { parseManifest } from '../shared/protocol-parse.ts';
import { buildServer, type FedrankServer } from './app.ts';
import { constantDelta, randomId, testConfig } from './testing.ts';
import { pickCoding } from './weights-files.ts';

const servers: FedrankServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function make(): Promise<FedrankServer> {
  const s = await buildServer(testConfig({ rounds: { minClients: 1, maxClients: 1 } }), { logger: false });
  servers.push(s);
  return s;
}

describe('GET /v1/model/<modelId>/<version>/weights', () => {
  it('serves the manifest version immutably, compact, in br/gzip/identity, with strong ETags and 304', async () => {
    const s = await make();
    const m = parseManifest((await s.app.inject({ url: '/v1/model' })).json());
    expect(m.weightsUrl).toBe(`/v1/model/${m.modelId}/0/weights`);
    const expect_ = { modelId: m.modelId, paramCount: m.paramCount };
    const plain = await s.app.inject({ url: m.weightsUrl!, headers: { 'accept-encoding': 'identity' } });
    expect(plain.statusCode).toBe(200);
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(plain.headers['vary']).toBe('Accept-Encoding');
    expect(plain.headers['content-encoding']).toBeUndefined();
    const etag = String(plain.headers.etag);
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/); // strong: no W/
    const { header, values } = decodeWeights(plain.rawPayload, expect_);
    expect(header).toMatchObject({ kind: 'weights', baseVersion: 0, encoding: 'i8' });
    // Nearest rounding: every value within half its block's scale of the float32 weights.
    const maxAbs = s.aggregator.params.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    for (let i = 0; i < values.length; i++)
      expect(Math.abs(values[i]! - s.aggregator.params[i]!)).toBeLessThanOrEqual(maxAbs / 127 / 2 + 1e-7);
    const br = await s.app.inject({ url: m.weightsUrl!, headers: { 'accept-encoding': 'gzip, br' } });
    expect(br.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(br.rawPayload)).toEqual(plain.rawPayload);
    expect(br.headers.etag).not.toBe(etag);
    const gz = await s.app.inject({ url: m.weightsUrl!, headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload)).toEqual(plain.rawPayload);
    const again = await s.app.inject({
      url: m.weightsUrl!,
      headers: { 'accept-encoding': 'identity', 'if-none-match': etag },
    });
    expect(again.statusCode).toBe(304);
  });

  it('a closed round moves the URL on; the old version and other models are 404, not cacheable', async () => {
    const s = await make();
    const a = s.aggregator;
    const n = a.model.paramCount;
    const body = constantDelta({ modelId: a.model.modelId, baseVersion: 0, round: a.open!.round.id }, n, 0.5);
    const up = await s.app.inject({
      method: 'POST',
      url: '/v1/updates',
      payload: Buffer.from(body),
      headers: {
        'content-type': 'application/vnd.fedrank.tensor',
        'x-fedrank-client': randomId('c'),
        'idempotency-key': randomId('k'),
      },
    });
    expect(up.statusCode).toBe(201);
    await a.idle();
    const m = parseManifest((await s.app.inject({ url: '/v1/model' })).json());
    expect(m.version).toBe(1);
    expect(m.weightsUrl).toBe(`/v1/model/${m.modelId}/1/weights`);
    const cur = await s.app.inject({ url: m.weightsUrl!, headers: { 'accept-encoding': 'br' } });
    expect(decodeWeights(brotliDecompressSync(cur.rawPayload), m).header.baseVersion).toBe(1);
    for (const url of [`/v1/model/${m.modelId}/0/weights`, `/v1/model/other/1/weights`]) {
      const r = await s.app.inject({ url });
      expect(r.statusCode, url).toBe(404);
      expect(r.headers['cache-control']).toBe('no-store');
    }
    // The old route still serves float32 weights of the current version.
    const old = await s.app.inject({ url: '/v1/model/weights' });
    expect(decodeWeights(old.rawPayload, m).header).toMatchObject({ encoding: 'f32', baseVersion: 1 });
  });
});

describe('pickCoding', () => {
  it('prefers br, then gzip, honours q=0 and *', () => {
    expect(pickCoding('gzip, deflate, br')).toBe('br');
    expect(pickCoding('gzip')).toBe('gzip');
    expect(pickCoding('br;q=0, gzip;q=0.5')).toBe('gzip');
    expect(pickCoding(undefined)).toBe('identity');
    expect(pickCoding('identity')).toBe('identity');
    expect(pickCoding('*')).toBe('br');
    expect(pickCoding('*, br;q=0')).toBe('gzip');
  });
});

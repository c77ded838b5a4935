import { describe, expect, it } from 'vitest';
import { manifest, weightsBytes } from '../../e2e/sdk/support.ts';
import { encodeTensor } from '../codec/tensor-codec.ts';
import { encodeCompactWeights, weightsPath } from '../codec/weights.ts';
import { isFedrankError } from '../errors.ts';
import { DEFAULT_SPEC, initGlobalParams, modelIdOf } from '../model/spec.ts';
import { HttpTransport } from './http.ts';
import type { FetchLike, HttpRequest } from './http.ts';
import type { ModelRecord } from './records.ts';

type Reply = { status: number; body?: unknown; bytes?: Uint8Array; etag?: string };

/** A fetch that answers each path from a table and records the requests. */
function server(routes: Record<string, Reply | (() => Reply)>): {
  fetch: FetchLike;
  seen: [string, HttpRequest][];
} {
  const seen: [string, HttpRequest][] = [];
  const fetch: FetchLike = async (url, req) => {
    seen.push([url, req]);
    const path = new URL(url).pathname;
    const r0 = routes[path];
    if (!r0) throw new TypeError('network down');
    const r = typeof r0 === 'function' ? r0() : r0;
    const data = r.bytes ?? new TextEncoder().encode(r.body === undefined ? '' : JSON.stringify(r.body));
    return new Response(r.status === 304 ? null : (data as Uint8Array<ArrayBuffer>), {
      status: r.status,
      headers: r.etag ? { etag: r.etag } : {},
    });
  };
  return { fetch, seen };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'none';
  } catch (e) {
    return isFedrankError(e) ? e.code : 'other';
  }
}

describe('HttpTransport.fetchModel', () => {
  it('fetches manifest and weights, validated, and keeps the ETag', async () => {
    const s = server({
      '/v1/model': { status: 200, body: manifest(), etag: '"m1"' },
      '/v1/model/weights': { status: 200, bytes: weightsBytes(), etag: '"w1"' },
    });
    const t = new HttpTransport('https://agg/', s.fetch);
    const r = await t.fetchModel(null);
    expect(r.weightsChanged).toBe(true);
    expect(r.model.manifestEtag).toBe('"m1"');
    expect(r.model.params).toEqual(initGlobalParams(DEFAULT_SPEC));
    expect(s.seen.map(([u]) => u)).toEqual(['https://agg/v1/model', 'https://agg/v1/model/weights']);
    expect(s.seen[0]![1].headers.accept).toBe('application/json');
  });

  it("follows the manifest's weightsUrl to the version's compact int8 weights", async () => {
    const m = manifest();
    const url = weightsPath(m.modelId, m.version);
    const exact = initGlobalParams(DEFAULT_SPEC);
    const s = server({
      '/v1/model': { status: 200, body: { ...m, weightsUrl: url }, etag: '"m1"' },
      [url]: { status: 200, bytes: encodeCompactWeights(m.modelId, m.version, 0, exact), etag: '"c1"' },
    });
    const r = await new HttpTransport('https://agg', s.fetch).fetchModel(null);
    expect(s.seen.map(([u]) => u)).toEqual(['https://agg/v1/model', `https://agg${url}`]);
    expect(r.model.weightsEtag).toBe('"c1"');
    // int8 with a scale per block of 64, rounded to nearest: within half a step of the exact weights.
    let worst = 0;
    for (let i = 0; i < exact.length; i++) worst = Math.max(worst, Math.abs(r.model.params[i]! - exact[i]!));
    let maxAbs = 0;
    for (const v of exact) maxAbs = Math.max(maxAbs, Math.abs(v));
    expect(worst).toBeLessThanOrEqual(maxAbs / 127 / 2 + 1e-7);
    // Weights of another model at that URL are refused.
    const other = server({
      '/v1/model': { status: 200, body: { ...m, weightsUrl: url } },
      [url]: { status: 200, bytes: encodeCompactWeights('other-model', m.version, 0, exact) },
    });
    expect(await code(new HttpTransport('https://agg', other.fetch).fetchModel(null))).toBe(
      'CODEC_BAD_HEADER',
    );
  });

  it('sends If-None-Match and keeps the cached model on 304, or on a new manifest of the same version', async () => {
    const cached: ModelRecord = {
      key: 'global',
      manifest: manifest(),
      manifestEtag: '"m1"',
      weightsEtag: null,
      params: initGlobalParams(DEFAULT_SPEC),
    };
    const s304 = server({ '/v1/model': { status: 304 } });
    const r = await new HttpTransport('https://agg', s304.fetch).fetchModel(cached);
    expect(r).toEqual({ model: cached, weightsChanged: false });
    expect(s304.seen[0]![1].headers['if-none-match']).toBe('"m1"');
    const round8 = { ...manifest(), round: { ...manifest().round!, id: 8 } };
    const same = server({ '/v1/model': { status: 200, body: round8, etag: '"m2"' } });
    const r2 = await new HttpTransport('https://agg', same.fetch).fetchModel(cached);
    expect(r2.weightsChanged).toBe(false);
    expect(r2.model.manifest.round!.id).toBe(8);
    expect(same.seen).toHaveLength(1);
  });

  it('reports a refused origin with its own code, other failures as unreachable', async () => {
    const refused = { status: 403, body: { error: { code: 'FORBIDDEN_ORIGIN', message: 'no' } } };
    expect(
      await code(new HttpTransport('https://agg', server({ '/v1/model': refused }).fetch).fetchModel(null)),
    ).toBe('SDK_ORIGIN_REFUSED');
    const down = { status: 503, body: { error: { code: 'UNAVAILABLE', message: 'x' } } };
    for (const routes of [{ '/v1/model': down }, {}] as Record<string, Reply>[]) {
      const t = new HttpTransport('https://agg', server(routes).fetch);
      expect(await code(t.fetchModel(null))).toBe('SDK_SERVER_UNREACHABLE');
    }
  });

  it('refuses malformed manifests and weights that do not match them', async () => {
    const bad = server({ '/v1/model': { status: 200, body: { ...manifest(), paramCount: 3 } } });
    expect(await code(new HttpTransport('https://agg', bad.fetch).fetchModel(null))).toBe('BAD_REQUEST');
    const otherVersion = encodeTensor(
      { kind: 'weights', modelId: modelIdOf(DEFAULT_SPEC), baseVersion: 2, round: 0, encoding: 'f32' },
      initGlobalParams(DEFAULT_SPEC),
    );
    const raced = server({
      '/v1/model': { status: 200, body: manifest() },
      '/v1/model/weights': { status: 200, bytes: otherVersion },
    });
    expect(await code(new HttpTransport('https://agg', raced.fetch).fetchModel(null))).toBe(
      'SDK_SERVER_UNREACHABLE',
    );
    const garbage = server({
      '/v1/model': { status: 200, body: manifest() },
      '/v1/model/weights': { status: 200, bytes: new Uint8Array([1, 2, 3]) },
    });
    expect(await code(new HttpTransport('https://agg', garbage.fetch).fetchModel(null))).toMatch(/^CODEC_/);
  });
});

describe('HttpTransport.sendEval', () => {
  it('posts the report as JSON under the given client id, and swallows failures', async () => {
    const s = server({ '/v1/eval': { status: 202, body: {} } });
    const report = { modelVersion: 1, examples: 2, hitsAt10: 1, ndcgAt10: 0.5 };
    await new HttpTransport('https://agg', s.fetch).sendEval(report, 'c'.repeat(20));
    const [url, req] = s.seen[0]!;
    expect(url).toBe('https://agg/v1/eval');
    expect(req).toMatchObject({ method: 'POST', headers: { 'x-fedrank-client': 'c'.repeat(20) } });
    expect(JSON.parse(req.body as string)).toEqual(report);
    await expect(
      new HttpTransport('https://agg', server({}).fetch).sendEval(report, 'c'.repeat(20)),
    ).resolves.toBe(undefined);
  });
});

describe('HttpTransport with contribution tokens', () => {
  it('sends the token in x-fedrank-token on an upload and an eval report, and no header without one', async () => {
    const ack = { accepted: true, duplicate: false, round: 2, modelVersion: 1 };
    const s = server({ '/v1/updates': { status: 200, body: ack }, '/v1/eval': { status: 202, body: {} } });
    const t = new HttpTransport('https://agg', s.fetch);
    const record = {
      key: 'k'.repeat(20),
      body: new Uint8Array([1]),
      modelId: 'm',
      baseVersion: 1,
      round: 2,
      createdAt: 0,
      attempts: 0,
      nextAttemptAt: 0,
    };
    await t.submit({ record, clientId: 'c'.repeat(20), token: 'update-token' });
    await t.submit({ record, clientId: 'c'.repeat(20), token: null });
    const report = { modelVersion: 1, examples: 2, hitsAt10: 1, ndcgAt10: 0.5 };
    await t.sendEval(report, 'c'.repeat(20), 'eval-token');
    const headers = s.seen.map(([, req]) => req.headers['x-fedrank-token']);
    expect(headers).toEqual(['update-token', undefined, 'eval-token']);
  });
});

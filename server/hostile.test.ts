/**
 * Hostile input: at least 10,000 malformed or adversarial uploads. None may crash the server or be counted,
 * and each must be answered with its catalogued code (a specific code where the attack determines one).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { encodeTensor } from '../shared/codec/tensor-codec.ts';
import { ERRORS } from '../shared/errors.ts';
import { buildServer, type FedrankServer } from './app.ts';
import { randomId, testConfig } from './testing.ts';

const PER_KIND = 600; // x 20 kinds = 12,000 uploads

describe('hostile uploads', () => {
  let s: FedrankServer;
  afterAll(async () => s?.close());

  it('rejects >= 10,000 adversarial uploads with their codes and counts none', async () => {
    s = await buildServer(
      testConfig({
        training: { clipNorm: 1, noiseMultiplier: 1, noiseMode: 'local' },
        rounds: { minClients: 1000, maxClients: 100_000, maxStaleness: 0 },
      }),
      { logger: false },
    );
    const agg = s.aggregator;
    const n = agg.model.paramCount;
    const modelId = agg.model.modelId;
    const honest = (enc: 'f32' | 'i8' = 'f32', values?: Float32Array): Uint8Array =>
      encodeTensor(
        { kind: 'delta', modelId, baseVersion: 0, round: 1, encoding: enc },
        values ?? new Float32Array(n).map(() => Math.random() - 0.5),
      );
    // A few honest uploads first, so replays have something to replay.
    const owned: { key: string; client: string; body: Uint8Array }[] = [];
    for (let i = 0; i < 5; i++) {
      const o = { key: randomId('k'), client: randomId('c'), body: honest() };
      const r = await post(o.body, { 'x-fedrank-client': o.client, 'idempotency-key': o.key });
      expect(r.statusCode).toBe(201);
      owned.push(o);
    }
    await agg.idle();
    const acceptedBefore = agg.open!.acc.count;
    const sumBefore = agg.open!.acc.sum.slice();

    function post(body: Uint8Array | Buffer | string, headers: Record<string, string> = {}) {
      return s.app.inject({
        method: 'POST',
        url: '/v1/updates',
        payload: typeof body === 'string' ? body : Buffer.from(body),
        headers: {
          'content-type': 'application/vnd.fedrank.tensor',
          'x-fedrank-client': randomId('c'),
          'idempotency-key': randomId('k'),
          ...headers,
        },
      });
    }
    const rnd = (k: number): number => Math.floor(Math.random() * k);
    const pick = <T>(a: T[]): T => a[rnd(a.length)]!;

    // Each kind makes one attack and names the code(s) it must be answered with.
    type Attack = () => { body: Uint8Array | string; headers?: Record<string, string>; codes: string[] };
    const kinds: Record<string, Attack> = {
      truncated: () => {
        const b = honest(pick(['f32', 'i8']));
        return { body: b.slice(0, rnd(b.length)), codes: ['CODEC_TRUNCATED', 'CODEC_BAD_MAGIC'] };
      },
      trailing: () => {
        const b = honest(pick(['f32', 'i8']));
        const out = new Uint8Array(b.length + 1 + rnd(64));
        out.set(b);
        // over the f32 body limit when the payload was already the largest honest size
        return { body: out, codes: ['CODEC_OVERSIZED', 'PAYLOAD_TOO_LARGE'] };
      },
      oversized: () => ({ body: new Uint8Array(300_000 + rnd(100_000)), codes: ['PAYLOAD_TOO_LARGE'] }),
      randomBytes: () => ({
        body: crypto.getRandomValues(new Uint8Array(1 + rnd(280))), // under the body limit
        codes: ['CODEC_BAD_MAGIC', 'CODEC_TRUNCATED'],
      }),
      nan: () => {
        const v = new Float32Array(n);
        const body = honest('f32', v);
        const dv = new DataView(body.buffer);
        const at = body.length - 4 * (1 + rnd(n));
        dv.setFloat32(at, pick([NaN, Infinity, -Infinity]), true);
        return { body, codes: ['CODEC_NON_FINITE'] };
      },
      badInt8: () => {
        const body = honest('i8');
        body[body.length - 1 - rnd(n)] = 0x80;
        return { body, codes: ['CODEC_BAD_VALUE'] };
      },
      wrongShape: () => {
        const m = pick([1, n - 1, Math.floor(n / 2)]);
        const body = encodeTensor(
          { kind: 'delta', modelId, baseVersion: 0, round: 1, encoding: 'f32' },
          new Float32Array(m),
        );
        return { body, codes: ['UPDATE_WRONG_SHAPE'] };
      },
      tooManyParams: () => {
        const body = encodeTensor(
          { kind: 'delta', modelId, baseVersion: 0, round: 1, encoding: 'i8' },
          new Float32Array(n + 1 + rnd(100)), // i8: still under the body limit
        );
        return { body, codes: ['CODEC_OVERSIZED'] };
      },
      wrongModel: () => {
        const body = encodeTensor(
          { kind: 'delta', modelId: `evil-${rnd(1e6)}`, baseVersion: 0, round: 1, encoding: 'f32' },
          new Float32Array(n),
        );
        return { body, codes: ['UPDATE_WRONG_MODEL'] };
      },
      weightsNotDelta: () => {
        const body = encodeTensor(
          { kind: 'weights', modelId, baseVersion: 0, round: 1, encoding: 'f32' },
          new Float32Array(n),
        );
        return { body, codes: ['CODEC_BAD_HEADER'] };
      },
      hugeNorm: () => {
        const scale = 100 + Math.random() * 1e30;
        const body = honest(
          pick(['f32', 'i8']),
          new Float32Array(n).map(() => (Math.random() - 0.5) * scale),
        );
        return { body, codes: ['UPDATE_NORM_TOO_LARGE'] };
      },
      badBlockSize: () => {
        const body = encodeTensor(
          { kind: 'delta', modelId, baseVersion: 0, round: 1, encoding: 'i8' },
          new Float32Array(n).map(() => Math.random() - 0.5),
          { blockSize: pick([16, 32, 64, 128, 512, 4096, 65536]) },
        );
        return { body, codes: ['UPDATE_BAD_ENCODING'] };
      },
      fewHugeCoordinates: () => {
        // Within the L2 bound, but one coordinate far above what clip + noise tail allow.
        const b = agg.bounds;
        const lo = b.tail + b.clip + b.quantError + 1;
        const v = new Float32Array(n);
        v[rnd(n)] = (Math.random() < 0.5 ? -1 : 1) * (lo + Math.random() * (0.95 * b.normF32 - lo));
        return { body: honest(pick(['f32', 'i8']), v), codes: ['UPDATE_OUT_OF_SHAPE'] };
      },
      futureVersion: () => {
        const body = encodeTensor(
          { kind: 'delta', modelId, baseVersion: 1 + rnd(1e9), round: 1, encoding: 'f32' },
          new Float32Array(n),
        );
        return { body, codes: ['UPDATE_FUTURE_VERSION'] };
      },
      replayConflict: () => {
        const o = pick(owned);
        return {
          body: honest(),
          headers: { 'x-fedrank-client': o.client, 'idempotency-key': o.key },
          codes: ['UPDATE_IDEMPOTENCY_CONFLICT'],
        };
      },
      sameClientAgain: () => ({
        body: honest(),
        headers: { 'x-fedrank-client': pick(owned).client },
        codes: ['UPDATE_ALREADY_CONTRIBUTED'],
      }),
      badClientId: () => ({
        body: honest(),
        headers: {
          'x-fedrank-client': pick(['', 'a', 'x'.repeat(65), 'bad id with spaces!!', '../../etc/passwd']),
        },
        codes: ['UPDATE_MISSING_CLIENT_ID'],
      }),
      badKey: () => ({
        body: honest(),
        headers: { 'idempotency-key': pick(['', 'short', 'k'.repeat(200), 'not;valid;key;!!!!!']) },
        codes: ['UPDATE_MISSING_IDEMPOTENCY_KEY'],
      }),
      wrongContentType: () => ({
        body: pick([JSON.stringify({ values: [1, 2, 3] }), 'hello']),
        headers: { 'content-type': pick(['application/json', 'text/plain']) },
        codes: ['UNSUPPORTED_MEDIA_TYPE'],
      }),
      bitFlip: () => {
        // Flip a header byte (model id, version, kind, encoding, counts): some specific rejection.
        const b = honest(pick(['f32', 'i8']));
        // (bytes 16-19, the round, are skipped: naming an earlier round is legitimate)
        const at = pick([rnd(16), 20 + rnd(12)]);
        b[at]! ^= 1 << rnd(8);
        return { body: b, codes: ['*'] };
      },
    };

    const tally = new Map<string, number>();
    let total = 0;
    const failures: string[] = [];
    const t0 = performance.now();
    for (const [name, attack] of Object.entries(kinds)) {
      for (let i = 0; i < PER_KIND; i++) {
        const a = attack();
        const r = await post(a.body, a.headers ?? {});
        total++;
        const body = r.json() as { error?: { code?: string; message?: string } };
        const code = body.error?.code;
        const label = code ?? `HTTP ${r.statusCode}`;
        tally.set(label, (tally.get(label) ?? 0) + 1);
        const catalogued = typeof code === 'string' && code in ERRORS;
        const expected = a.codes.includes('*') ? catalogued : a.codes.includes(code ?? '');
        if (
          r.statusCode < 400 ||
          !catalogued ||
          !expected ||
          r.statusCode !== ERRORS[code as keyof typeof ERRORS].status
        )
          failures.push(
            `${name}#${i}: HTTP ${r.statusCode} ${JSON.stringify(body)} (want ${a.codes.join('|')})`,
          );
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    expect(failures.slice(0, 5)).toEqual([]);
    expect(total).toBeGreaterThanOrEqual(10_000);
    await agg.idle();
    expect(agg.open!.acc.count).toBe(acceptedBefore);
    expect(Array.from(agg.open!.acc.sum)).toEqual(Array.from(sumBefore));
    expect(s.metrics.rejectedTotal).toBe(total);
    // still healthy and serving
    expect((await s.app.inject('/healthz')).statusCode).toBe(200);
    expect((await post(honest())).statusCode).toBe(201);
    console.log(`hostile: ${total} uploads rejected in ${seconds.toFixed(1)} s`, Object.fromEntries(tally));
  });
});

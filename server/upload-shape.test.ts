import { afterEach, describe, expect, it } from 'vitest';
import { decodeTensorView, encodeTensor, type TensorView } from '../shared/codec/tensor-codec.ts';
import { privatizeDelta } from '../shared/dp/privatize.ts';
import { isFedrankError } from '../shared/errors.ts';
import type { TrainingConfig } from '../shared/protocol.ts';
import { buildServer, type FedrankServer } from './app.ts';
import { viewNorm } from './ingest.ts';
import { randomId, testConfig } from './testing.ts';
import { checkShape, uploadBounds } from './upload-shape.ts';

const header = { kind: 'delta', modelId: 'm-1', baseVersion: 0, round: 1 } as const;

function training(over: Partial<TrainingConfig>): TrainingConfig {
  return {
    clipNorm: 1,
    noiseMultiplier: 1,
    noiseMode: 'distributed',
    expectedClientsPerRound: 3,
    localEpochs: 1,
    learningRate: 0.05,
    batchSize: 16,
    sharedNegatives: 0,
    lossReduction: 'mean',
    minNewEvents: 1,
    updateEncoding: 'i8',
    ...over,
  };
}

function view(values: Float32Array, encoding: 'f32' | 'i8'): TensorView {
  return decodeTensorView(encodeTensor({ ...header, encoding }, values), { maxCount: values.length });
}

/** The rejection code of checkShape, or null when the view passes. */
function shapeCode(v: TensorView, t: TrainingConfig, d: number): string | null {
  try {
    checkShape(v, uploadBounds(t, d, 8));
    return null;
  } catch (err) {
    if (isFedrankError(err)) return err.code;
    throw err;
  }
}

describe('upload shape (excess energy above the noise tail)', () => {
  const n = 20_000;

  it('accepts every honest clipped + noised update (false rejections measured: 0 of 400)', () => {
    let rejected = 0;
    let total = 0;
    for (const t of [
      training({}),
      training({ noiseMode: 'local' }),
      training({ noiseMultiplier: 0.5, clipNorm: 0.1 }),
      training({ noiseMultiplier: 0, noiseMode: 'local' }),
    ]) {
      for (let k = 0; k < 50; k++) {
        // Honest but worst-shaped: the whole clipped norm in one coordinate, or spread over a block.
        const delta = new Float32Array(n);
        if (k % 2 === 0) delta[k] = 10;
        else for (let i = 0; i < 256; i++) delta[i] = Math.random() - 0.5;
        const { noised } = privatizeDelta(delta, t);
        for (const enc of ['f32', 'i8'] as const) {
          total++;
          if (shapeCode(view(noised, enc), t, n) !== null) rejected++;
        }
      }
    }
    expect(total).toBe(400);
    expect(rejected).toBe(0);
  });

  it('refuses the poisoning shape: a norm within the L2 bound put into 3 coordinates', () => {
    const t = training({});
    const b = uploadBounds(t, n, 8);
    for (const enc of ['f32', 'i8'] as const) {
      const attack = new Float32Array(n);
      const per = (0.9 * b.normF32) / Math.sqrt(3);
      attack[10] = per;
      attack[20] = per;
      attack[30_00] = -per;
      const v = view(attack, enc);
      expect(viewNorm(v)).toBeLessThan(b.normF32); // the L2 bound alone lets it through
      expect(shapeCode(v, t, n)).toBe('UPDATE_OUT_OF_SHAPE');
    }
    // The largest single coordinate an honest update can carry is about C + tail, not the norm bound.
    expect(b.tail + t.clipNorm).toBeLessThan(b.normF32 / 10);
  });

  it('without device noise the bound is the clip', () => {
    const t = training({ noiseMultiplier: 0, noiseMode: 'local' });
    const over = new Float32Array(n);
    over[5] = 1.01;
    expect(shapeCode(view(over, 'f32'), t, n)).toBe('UPDATE_OUT_OF_SHAPE');
    const within = new Float32Array(n);
    within[5] = 0.99;
    expect(shapeCode(view(within, 'f32'), t, n)).toBeNull();
    expect(shapeCode(view(within, 'i8'), t, n)).toBeNull();
  });
});

describe('codec parameters are the server’s', () => {
  const servers: FedrankServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  async function post(over: Record<string, unknown>, enc: 'f32' | 'i8', blockSize?: number) {
    const s = await buildServer(testConfig(over), { logger: false });
    servers.push(s);
    const a = s.aggregator;
    const body = encodeTensor(
      { kind: 'delta', modelId: a.model.modelId, baseVersion: 0, round: 1, encoding: enc },
      new Float32Array(a.model.paramCount).fill(0.01),
      { blockSize },
    );
    const r = await s.app.inject({
      method: 'POST',
      url: '/v1/updates',
      payload: Buffer.from(body),
      headers: {
        'content-type': 'application/vnd.fedrank.tensor',
        'x-fedrank-client': randomId('c'),
        'idempotency-key': randomId('k'),
      },
    });
    return { status: r.statusCode, code: (r.json() as { error?: { code: string } }).error?.code };
  }

  it('refuses an int8 block size the uploader chose (it would widen the norm bound)', async () => {
    expect(await post({}, 'i8', 16)).toEqual({ status: 400, code: 'UPDATE_BAD_ENCODING' });
    expect(await post({}, 'i8', 65536)).toEqual({ status: 400, code: 'UPDATE_BAD_ENCODING' });
    expect((await post({}, 'i8', 256)).status).toBe(201);
    expect((await post({}, 'f32')).status).toBe(201);
  });

  it('refuses int8 where the manifest asks for f32', async () => {
    const f32 = { training: { updateEncoding: 'f32' } };
    expect(await post(f32, 'i8', 256)).toEqual({ status: 400, code: 'UPDATE_BAD_ENCODING' });
    expect((await post(f32, 'f32')).status).toBe(201);
  });
});

import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { gatherValue, newCapture, pooledRows } from './tensor-ops.ts';

beforeAll(() => {
  const req = createRequire(import.meta.url);
  setWasmPaths(
    path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + path.sep,
  );
});

describe.each(['cpu', 'wasm'])('gatherValue on %s', (backend) => {
  it('equals tf.gather for 1-D and 2-D indices, including none and repeats, leaking no tensors', async () => {
    expect(await tf.setBackend(backend)).toBe(true);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const table = tf.randomNormal([50, 7], 0, 1, 'float32', 3);
      const flat = Int32Array.from({ length: 300 }, (_, i) => (i * 37 + 11) % 50);
      for (const shape of [[300], [60, 5], [0]] as const) {
        const idx = tf.tensor(
          flat.subarray(
            0,
            shape.reduce((a, b) => a * b, 1),
          ),
          [...shape],
          'int32',
        );
        const got = gatherValue(table, idx);
        expect(got.shape).toEqual([...shape, 7]);
        if (idx.size > 0) expect(got.dataSync()).toEqual(tf.gather(table, idx).dataSync());
      }
      // The last row, the first, and a repeat.
      expect(gatherValue(table, tf.tensor1d([49, 0, 49], 'int32')).arraySync()).toEqual(
        tf.gather(table, [49, 0, 49]).arraySync(),
      );
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('sees new values after a variable is assigned (no stale host copy)', async () => {
    expect(await tf.setBackend(backend)).toBe(true);
    const v = tf.variable(tf.tensor2d([1, 2, 3, 4], [2, 2]));
    const idx = tf.tensor1d([1, 0], 'int32');
    const read = (): number[] => {
      const t = gatherValue(v, idx);
      const out = Array.from(t.dataSync());
      t.dispose();
      return out;
    };
    expect(read()).toEqual([3, 4, 1, 2]);
    v.assign(tf.tensor2d([5, 6, 7, 8], [2, 2]));
    expect(read()).toEqual([7, 8, 5, 6]);
    tf.dispose([v, idx]);
  });

  it('rejects an index outside the table instead of reading past it', async () => {
    expect(await tf.setBackend(backend)).toBe(true);
    const table = tf.zeros([4, 3]);
    const idx = tf.tensor1d([1, 4], 'int32');
    expect(() => gatherValue(table, idx)).toThrow(RangeError);
    tf.dispose([table, idx]);
  });
});

describe.each(['cpu', 'wasm'])('pooledRows on %s', (backend) => {
  // 4 rows of 3 slots over a 6-row table; slot weights with padding (0) and a repeated table row.
  const idx = Int32Array.of(0, 5, 5, 2, 0, 0, 1, 4, 3, 3, 3, 3);
  const w = Float32Array.of(1, 0.5, 0.5, 1, 0, 0, 0.3, 0.7, 1, 2, 0, 0);
  const R = [0.3, -1, 2, 0.5, 1.5, -0.2, 0.1, 0.4, -0.6, 1, 2, -3];
  /** The pooled rows and dL/dtable of L = sum(pooled * R), by hand. */
  function expected(table: number[][]): { value: number[]; grad: number[] } {
    const value = new Array<number>(12).fill(0);
    const grad = new Array<number>(18).fill(0);
    for (let i = 0; i < 12; i++) {
      const r = Math.floor(i / 3);
      for (let d = 0; d < 3; d++) {
        value[r * 3 + d]! += w[i]! * table[idx[i]!]![d]!;
        grad[idx[i]! * 3 + d]! += w[i]! * R[r * 3 + d]!;
      }
    }
    return { value, grad };
  }

  it('pools, differentiates and records as the weighted sum of gathered rows', async () => {
    expect(await tf.setBackend(backend)).toBe(true);
    const rows = Array.from({ length: 6 }, (_, r) => [r + 1, -r, r * r * 0.1]);
    const want = expected(rows);
    const v = tf.variable(tf.tensor2d(rows));
    const before = tf.memory().numTensors;
    const loss = (record: Parameters<typeof pooledRows>[6]) => (): tf.Scalar =>
      tf.sum(tf.mul(pooledRows(v, idx, w, 4, 3, true, record), tf.tensor2d(R, [4, 3])));
    tf.tidy(() => {
      const value = pooledRows(v, idx, w, 4, 3, false, null);
      Array.from(value.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(want.value[i]!, 5));
      const { grads } = tf.variableGrads(loss(null), [v]);
      Array.from(grads[v.name]!.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(want.grad[i]!, 5));
      // Under a record the table gets zeros and dL/d(pooled) is recorded per row.
      const cap = newCapture();
      const group = Int32Array.of(0, 0, 1, 1);
      const rec = tf.variableGrads(loss({ cap, group }), [v]);
      expect(Array.from(rec.grads[v.name]!.dataSync()).every((x) => x === 0)).toBe(true);
      expect(cap.gathers).toHaveLength(1);
      expect(cap.gathers[0]!.dy.shape).toEqual([4, 3]);
      Array.from(cap.gathers[0]!.dy.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(R[i]!, 6));
      cap.gathers[0]!.dy.dispose();
    });
    expect(tf.memory().numTensors).toBe(before);
    v.dispose();
  });
});

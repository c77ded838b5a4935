import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { gatherValue } from './tensor-ops.ts';

beforeAll(() => {
  const req = createRequire(import.meta.url);
  setWasmPaths(
    path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + path.sep,
  );
});

describe.each(['cpu', 'wasm'])('gatherValue on %s', (backend) => {
  it('equals tf.gather for 1-D and 2-D indices, including none, leaking no tensors', async () => {
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
      // Host indices, when the caller has them, are used as given.
      const host = Int32Array.of(49, 0, 49);
      expect(gatherValue(table, tf.tensor1d(host, 'int32'), host).arraySync()).toEqual(
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

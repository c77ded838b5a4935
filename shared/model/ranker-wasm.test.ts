import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeItem } from './features.ts';
import { Ranker } from './ranker.ts';
import { DEFAULT_SPEC, initGlobalParams } from './spec.ts';
import type { ModelSpec } from './spec.ts';

// The evaluation and the browser fallback run on WASM, whose kernels differ from CPU's (e.g. zero-row
// gathers trap there), so the edge cases run on it too.
const spec: ModelSpec = { ...DEFAULT_SPEC, itemBuckets: 256, attrBuckets: 32, queryBuckets: 32, dim: 8 };
const items = Array.from({ length: 20 }, (_, i) => encodeItem(spec, { id: `w${i}`, category: `c${i % 3}` }));

beforeAll(async () => {
  const req = createRequire(import.meta.url);
  setWasmPaths(
    path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + path.sep,
  );
  expect(await tf.setBackend('wasm')).toBe(true);
});

describe('Ranker on WASM', () => {
  it('scores and trains with empty histories, queries and no attributes, leaking no tensors', () => {
    const before = tf.memory().numTensors;
    const r = new Ranker(spec, initGlobalParams(spec));
    const bare = encodeItem(spec, { id: 'bare' });
    expect(r.score({ history: [] }, items).every(Number.isFinite)).toBe(true);
    expect(r.score({ history: [], query: [1, 2] }, [bare]).every(Number.isFinite)).toBe(true);
    expect(r.userVectors([{ history: [] }, { history: items.slice(0, 2) }])).toHaveLength(2 * r.vectorDim);
    const loss = r.train(
      [
        { context: { history: [] }, positive: items[0]!, negatives: [bare] },
        { context: { history: items.slice(1, 4) }, positive: items[5]!, negatives: [] },
      ],
      { learningRate: 0.1, sharedNegatives: items.slice(6, 9), inBatchNegatives: true },
    );
    expect(Number.isFinite(loss)).toBe(true);
    const cpuCheck = r.score({ history: items.slice(0, 3) }, items.slice(3, 6));
    expect(cpuCheck).toHaveLength(3);
    r.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

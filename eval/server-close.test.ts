import { describe, expect, it } from 'vitest';
import { DEFAULT_SPEC, paramCount, paramLayout, parseSpec } from '../shared/model/spec.ts';
import type { TrainingConfig } from '../shared/protocol.ts';
import { encodingFor } from './private-accounting.ts';
import { closeSecureRound, simulatedServer } from './server-close.ts';

const spec = parseSpec({ ...DEFAULT_SPEC, dim: 4, itemBuckets: 32, attrBuckets: 8, maxHistory: 4 });
const d = paramCount(spec);
const M = 10;
const training: TrainingConfig = {
  clipNorm: 1,
  noiseMultiplier: 1,
  noiseMode: 'distributed',
  expectedClientsPerRound: M,
  localEpochs: 1,
  learningRate: 0.1,
  batchSize: 32,
  sharedNegatives: 2,
  lossReduction: 'mean',
  minNewEvents: 1,
  updateEncoding: 'f32',
};
const shape = { d, clip: 1, cohort: M, survivors: 3, maxContributions: 1, minSeparation: 1, delta: 1e-5 };

function close(sum: Float64Array, count: number) {
  return closeSecureRound({
    config: simulatedServer(training, { kind: 'fedavg', learningRate: 1 }, 3),
    spec,
    modelId: 'm',
    version: 0,
    params: new Float32Array(d),
    adam: null,
    encoding: encodingFor(shape, 1),
    survivors: 3,
    sum,
    count,
  });
}

describe("the simulated server's round close", () => {
  it('divides by the FIXED denominator M, not by the number of inputs', () => {
    const at = paramLayout(spec).find((b) => b.name === 'emb')!.offset; // row 0, column 0 (not a bias)
    const sum = new Float64Array(d);
    sum[at] = 0.03;
    const plan = close(sum, 3);
    expect(plan.model.params[at]).toBeCloseTo(0.03 / M, 7); // 0.01 if it divided by the 3 inputs
    expect(plan.robust.rowsClipped).toBe(0);
  });

  it("applies the server's robust step: one row moves at most rowStep per round", () => {
    const at = paramLayout(spec).find((b) => b.name === 'emb')!.offset;
    const sum = new Float64Array(d);
    sum[at] = 5; // a mean step of 0.5 on one row
    const plan = close(sum, 3);
    expect(plan.robust.rowsClipped).toBe(1);
    expect(Math.abs(plan.model.params[at]!)).toBeCloseTo(0.1, 5);
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from './backend.ts';
import { parseEvalArgs } from './config.ts';
import { loadDataset } from './dataset.ts';
import { runAll } from './runner.ts';

// A planted preference: item i is always followed by item (i + 1) mod K, every shopper walks that cycle
// from a random start. Popularity is flat, so only a model that learned the transitions ranks well.
const K = 40;
const USERS = 240;
let dir = '';

function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fedrank-synth-'));
  const rand = mulberry(7);
  const lines: string[] = [];
  for (let u = 0; u < USERS; u++) {
    const len = 5 + Math.floor(rand() * 3);
    const start = Math.floor(rand() * K);
    const items = Array.from({ length: len }, (_, i) => `i${(start + i) % K}`);
    lines.push(`u${u} ${items.join(' ')}`);
  }
  const attrs: Record<string, number[]> = {};
  for (let i = 0; i < K; i++) attrs[`i${i}`] = [1000];
  await writeFile(path.join(dir, 'Synth.txt'), lines.join('\n') + '\n');
  await writeFile(path.join(dir, 'Synth_item2attributes.json'), JSON.stringify(attrs));
  await useBackend('wasm');
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const quiet = { write: () => true, isTTY: false };
const SPEC = JSON.stringify({ dim: 16, itemBuckets: 512, attrBuckets: 64, maxHistory: 4, personalWeight: 0 });

describe('federated evaluation on a planted preference', () => {
  it('recovers item transitions far above popularity: both noise paths, per-client and batched clients', async () => {
    const data = await loadDataset(dir);
    expect(data.users.length).toBe(USERS);
    expect(data.items.length).toBe(K);
    const common = [
      '--data',
      dir,
      '--spec',
      SPEC,
      '--rounds',
      '10',
      '--clients-per-round',
      '40',
      '--eval-every',
      '10',
    ];
    const fl = [
      '--local-epochs',
      '2',
      '--lr',
      '1',
      '--batch-size',
      '8',
      '--server-opt',
      'fedadam',
      '--server-lr',
      '0.05',
    ];
    const tensors = tf.memory().numTensors;
    const [pop] = await runAll(parseEvalArgs([...common, '--mode', 'popularity']), data, quiet);
    const [fast] = await runAll(
      parseEvalArgs([...common, ...fl, '--clip', '5', '--sigma', '0']),
      data,
      quiet,
    );
    // With noise: honest participation, every device online and allowed every round, secure aggregation
    // with each client's own discrete Gaussian share (the device's encoding), the server's close.
    const honest = ['--visit-rate', '1', '--max-contributions', '10', '--noise-path', 'client'];
    const [exact] = await runAll(
      parseEvalArgs([...common, ...fl, '--clip', '5', '--sigma', '0.05', ...honest]),
      data,
      quiet,
    );
    // One local step per client: clients are simulated in batched passes (trainLocalBatched).
    const oneStep = ['--lr', '1', '--batch-size', '32', '--server-lr', '0.05', '--shared-negatives', '8'];
    const [batched] = await runAll(
      parseEvalArgs([...common, ...oneStep, '--clip', '5', '--sigma', '0', '--client-batch', '16']),
      data,
      quiet,
    );
    expect(tf.memory().numTensors).toBe(tensors);
    const p = pop!.final.metrics.ndcg10;
    for (const r of [fast!, exact!, batched!]) {
      expect(r.final.metrics.users).toBe(USERS);
      expect(r.final.metrics.ndcg10).toBeGreaterThan(Math.max(0.5, 2 * p));
      expect(r.rounds!.length).toBe(10);
      expect(r.points.map((p) => p.step)).toEqual([3, 6, 9, 10]); // at least four points per run
    }
    // Noise was really added (and accounted) on the exact path.
    expect(exact!.privacy!.sigma).toBe(0.05);
    expect(exact!.privacy!.epsilon).toBeGreaterThan(0);
    expect(exact!.rounds!.every((s) => s.sumNoiseStd > 0 || s.clients === 0)).toBe(true);
    expect(fast!.privacy!.epsilon).toBeNull();
  });
});

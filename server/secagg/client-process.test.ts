import { afterAll, describe, expect, it } from 'vitest';
import { ClientProcess } from './client-process.ts';
import { defaultSecAggConfig } from './config.ts';
import { simulateRound } from './simulate.ts';

const D = 3000;
const update = (slot: number): Float32Array =>
  Float32Array.from({ length: D }, (_, i) => Math.sin(slot + i * 0.01) * 0.01);

describe('a simulated client in a process of its own', () => {
  const procs = [ClientProcess.start(), ClientProcess.start()];
  afterAll(() => Promise.all(procs.map((p) => p.close())));

  it('takes part in the round like an in-process one: the server gets exactly the survivors sum', async () => {
    const elsewhere = new Map([
      [2, procs[0]!],
      [5, procs[1]!],
    ]);
    const rep = await simulateRound({
      config: { ...defaultSecAggConfig(), neighbours: 6 },
      cohort: 10,
      minSurvivors: 7,
      denominator: 10,
      d: D,
      clipNorm: 1,
      noiseMultiplier: 1,
      dropAfterShareKeys: [7],
      dropAfterMaskedInput: [9],
      update,
      beginElsewhere: (round, slot) => elsewhere.get(slot)?.begin(round, slot),
    });
    expect(rep.record.phase).toBe('done');
    expect(rep.record.unmasked).toEqual(expect.arrayContaining([2, 5]));
    expect(rep.result!.ringSum).toEqual(rep.expectedRingSum);
    // Each step ran in the child, which timed it there.
    for (const p of procs)
      for (const step of ['advertise', 'share', 'mask', 'unmask'] as const)
        expect(p.stepMs[step]).toBeGreaterThan(0);
  });

  it("keeps a refusal's code: a child left below its threshold sends nothing, as an in-process client", async () => {
    // Complete graph of 5 (k = 4, t = 3): with 1 and 2 gone after share keys, slot 3 (in the child) must
    // refuse to unmask; the simulation treats that as a client leaving, not as an error.
    const rep = await simulateRound({
      config: { ...defaultSecAggConfig(), neighbours: 4 },
      cohort: 5,
      minSurvivors: 3,
      denominator: 5,
      d: 64,
      clipNorm: 1,
      noiseMultiplier: 1,
      dropAfterShareKeys: [1, 2],
      update: () => new Float32Array(64),
      round: 7,
      beginElsewhere: (round, slot) => (slot === 3 ? procs[1]!.begin(round, slot) : undefined),
    });
    expect(rep.record.phase).toBe('failed');
    expect(rep.record.unmasked).toEqual([]);
  });

  it("reports a step's failure in the child as a rejection", async () => {
    const p = procs[0]!;
    const { client } = await p.begin(1, 3);
    await expect(
      client.onUnmaskRequest({ type: 'unmask-request', round: 1, slot: 3, survivors: [], dropped: [] }),
    ).rejects.toThrow(/phase advertised/);
  });
});

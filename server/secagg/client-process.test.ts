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

  it("reports a step's failure in the child as a rejection", async () => {
    const p = procs[0]!;
    const { client } = await p.begin(1, 3);
    await expect(
      client.onUnmaskRequest({ type: 'unmask-request', round: 1, slot: 3, survivors: [], dropped: [] }),
    ).rejects.toThrow(/phase advertised/);
  });
});

/** The popularity baseline: every shopper gets the catalog ordered by training-interaction counts. */
import type { ChunkScorer } from './ranking.ts';
import type { Workbench } from './workbench.ts';

/** Interaction counts per item over the training sequences only (no validation or test item leaks in). */
export function popularityCounts(wb: Workbench): Float32Array {
  const counts = new Float32Array(wb.encoded.length);
  for (const seq of wb.train) for (let i = 0; i < seq.length; i++) counts[seq[i]!]!++;
  return counts;
}

/** A scorer giving every shopper the same popularity scores. */
export function popularityScorer(wb: Workbench): ChunkScorer {
  const counts = popularityCounts(wb);
  const N = counts.length;
  return (cases) => {
    const out = new Float32Array(cases.length * N);
    for (let i = 0; i < cases.length; i++) out.set(counts, i * N);
    return out;
  };
}

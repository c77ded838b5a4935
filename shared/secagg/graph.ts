/**
 * The SecAgg+ communication graph (Bell, Bonawitz, Gascon, Lepoint & Raykova, CCS 2020): a random Harary
 * graph. The cohort's slots 1..n are placed on a ring in an order drawn from the server's round seed, and
 * each slot's neighbours are the k/2 slots on either side. Every client computes the same graph from the
 * seed, so the server cannot give two clients inconsistent neighbourhoods without them noticing.
 */
import { expandWords, WordStream } from './prg.ts';

/** A neighbour graph over slots 1..n. */
export interface NeighbourGraph {
  n: number;
  k: number;
  /** The sorted neighbours of `slot` (never the slot itself). */
  neighbours(slot: number): number[];
}

/** True when `k` is a valid neighbour count for a cohort of n: even, >= 2 (or n - 1 when the graph is complete). */
export function isValidDegree(n: number, k: number): boolean {
  return (
    Number.isInteger(k) && Number.isInteger(n) && n >= 2 && k >= 1 && (k >= n - 1 || (k % 2 === 0 && k >= 2))
  );
}

/** The random Harary graph of degree min(k, n - 1) over slots 1..n, drawn from the 32-byte `seed`. */
export async function neighbourGraph(seed: Uint8Array, n: number, k: number): Promise<NeighbourGraph> {
  if (!isValidDegree(n, k)) throw new RangeError(`invalid neighbour count ${k} for a cohort of ${n}`);
  if (k >= n - 1) {
    const all = Array.from({ length: n }, (_, i) => i + 1);
    return { n, k: n - 1, neighbours: (s) => all.filter((x) => x !== s) };
  }
  // Fisher-Yates from the seed's AES-CTR stream; 4n words leave ample room for rejections.
  const stream = new WordStream(await expandWords(seed, 4 * n + 64));
  const order = Array.from({ length: n }, (_, i) => i + 1);
  for (let i = n - 1; i > 0; i--) {
    const j = stream.below(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const pos = new Int32Array(n + 1);
  order.forEach((slot, p) => (pos[slot] = p));
  const half = k / 2;
  return {
    n,
    k,
    neighbours(slot) {
      if (!(slot >= 1 && slot <= n)) return [];
      const p = pos[slot]!;
      const out: number[] = [];
      for (let d = 1; d <= half; d++) out.push(order[(p + d) % n]!, order[(p - d + n) % n]!);
      return out.sort((a, b) => a - b);
    },
  };
}

/** The sampled participation of runs without noise: Poisson sampling and shuffled cycles. */
/**
 * Who joins a round: 'honest' is what ships: devices that are online when they browse, admitted by their
 * own rules (arrivals.ts; the only choice with noise); 'poisson' samples each shopper independently at rate
 * q = M/N and 'shuffle' takes every shopper once per cycle, M per round in a fresh random order each cycle
 * (random reshuffling): both without noise only, since the product samples nobody.
 */
export type Sampling = 'poisson' | 'shuffle' | 'honest';

/** The Poisson sampling rate of a run: each shopper joins a round independently with probability q. */
export function samplingRate(clientsPerRound: number, population: number): number {
  return Math.min(1, clientsPerRound / population);
}

/**
 * Draws the shoppers (indices 0..N-1, ascending) of each successive round; M is the expected number per
 * round (see Sampling).
 */
export function roundSampler(N: number, M: number, sampling: Sampling, random: () => number): () => number[] {
  const q = samplingRate(M, N);
  const order = Int32Array.from({ length: N }, (_, u) => u);
  let next = N;
  return () => {
    const selected: number[] = [];
    if (sampling === 'poisson') {
      for (let u = 0; u < N; u++) if (random() < q) selected.push(u);
      return selected;
    }
    if (next >= N) {
      for (let i = N - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      next = 0;
    }
    // The last round of a cycle takes what is left, so nobody joins twice in a cycle.
    const end = Math.min(N, next + Math.max(1, Math.round(M)));
    for (; next < end; next++) selected.push(order[next]!);
    return selected.sort((a, b) => a - b);
  };
}

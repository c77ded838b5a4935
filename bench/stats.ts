/** Small summaries the secure-aggregation benchmarks share. */

/** The upper middle of `xs` (the middle for an odd count), as every median in bench/results/secagg.json. */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** `x` rounded to one decimal, as the benchmark files print milliseconds. */
export const r1 = (x: number): number => Math.round(x * 10) / 10;

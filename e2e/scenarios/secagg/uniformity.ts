/** Pearson's chi-square test of a byte string against the uniform distribution on 0..255. */

/** Upper 1e-6 quantile of the standard normal: a family of a few dozen bodies still never fails by chance. */
const Z_1E6 = 4.753424;

/** The chi-square statistic of the byte counts of `bytes` (255 degrees of freedom). */
export function byteChiSquare(bytes: Uint8Array): number {
  const counts = new Float64Array(256);
  for (const b of bytes) counts[b]! += 1;
  const expected = bytes.length / 256;
  let x = 0;
  for (const c of counts) x += ((c - expected) * (c - expected)) / expected;
  return x;
}

/** Critical value of chi-square with `df` degrees of freedom at p = 1e-6 (Wilson-Hilferty). */
export function chiSquareCritical(df = 255, z = Z_1E6): number {
  const v = 2 / (9 * df);
  return df * (1 - v + z * Math.sqrt(v)) ** 3;
}

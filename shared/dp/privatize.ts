/** The one privatization step every client update goes through: clip to C, then add Gaussian noise. */
import type { TrainingConfig } from '../protocol.ts';
import { clipL2 } from './clip.ts';
import { addGaussianNoise, noiseStdPerClient } from './noise.ts';

/**
 * Clips `delta` to L2 norm t.clipNorm and adds Gaussian noise of std noiseStdPerClient(t). Returns a new
 * array; preClipNorm is the norm before clipping (for local diagnostics only: it is not private).
 */
export function privatizeDelta(
  delta: Float32Array,
  t: TrainingConfig,
): { noised: Float32Array; preClipNorm: number; noiseStd: number } {
  const noiseStd = noiseStdPerClient(t);
  const { clipped, norm } = clipL2(delta, t.clipNorm);
  addGaussianNoise(clipped, noiseStd);
  return { noised: clipped, preClipNorm: norm, noiseStd };
}

/**
 * Model weights as distributed to browsers: compact int8 with per-block float32 scales in the tensor codec,
 * rounded to nearest (not stochastically, as updates are), so every server process encodes a version to the
 * same bytes and one immutable, strongly validated URL per version can be cached by a CDN. The decoder is
 * the codec's, so the browser, the simulated shoppers and the tests read weights through one function.
 */
import { FedrankError } from '../errors.ts';
import { decodeTensor, encodeTensor, type TensorHeader } from './tensor-codec.ts';

/** Values per scale in compact weights (bench/weights-quant.ts measured the ranking effect). */
export const WEIGHTS_BLOCK_SIZE = 64;

/** Uniforms of 2^31 make the codec's floor(x/s + u) round half up: deterministic, at most s/2 off. */
const roundToNearest = (a: Uint32Array): void => {
  a.fill(0x80000000);
};

/** Compact weights of model `modelId` at `version`; `round` is the open round's id (0 when none). */
export function encodeCompactWeights(
  modelId: string,
  version: number,
  round: number,
  params: Float32Array,
): Uint8Array {
  return encodeTensor({ kind: 'weights', modelId, baseVersion: version, round, encoding: 'i8' }, params, {
    blockSize: WEIGHTS_BLOCK_SIZE,
    random: roundToNearest,
  });
}

/**
 * Decodes weights in any codec encoding (f32 from /v1/model/weights, i8 from the versioned URL), checking
 * that they are weights of the expected model and size; throws FedrankError (CODEC_*) otherwise.
 */
export function decodeWeights(
  buf: Uint8Array,
  expect: { modelId: string; paramCount: number },
): { header: TensorHeader; values: Float32Array } {
  const { header, values } = decodeTensor(buf, { maxCount: expect.paramCount });
  if (header.kind !== 'weights') throw new FedrankError('CODEC_BAD_HEADER', 'expected weights, got a delta');
  if (header.modelId !== expect.modelId || header.count !== expect.paramCount)
    throw new FedrankError(
      'CODEC_BAD_HEADER',
      `weights of ${header.modelId} (${header.count}), expected ${expect.modelId} (${expect.paramCount})`,
    );
  return { header, values };
}

/** Path of the immutable weights of one model version (relative to the server's base URL). */
export function weightsPath(modelId: string, version: number): string {
  return `/v1/model/${encodeURIComponent(modelId)}/${version}/weights`;
}

/**
 * The immutable weights file of each model version as served at /v1/model/<modelId>/<version>/weights:
 * compact int8 (shared/codec/weights.ts), its strong ETag, and its gzip and brotli encodings, computed
 * once per version. Every process computes the same bytes for a version, so a CDN may fetch from any.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import { encodeCompactWeights } from '../shared/codec/weights.ts';

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

/** One version's weights in each content coding. */
export interface WeightsFile {
  version: number;
  /** Strong ETag of the identity bytes (quoted); codings append -gz / -br. */
  etag: string;
  identity: Buffer;
  gzip: Buffer;
  br: Buffer;
}

/** Encodes and compresses a version's weights (a few hundred ms at 320k parameters; once per version). */
export async function buildWeightsFile(
  modelId: string,
  version: number,
  params: Float32Array,
): Promise<WeightsFile> {
  const bytes = encodeCompactWeights(modelId, version, 0, params);
  const identity = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hash = createHash('sha256').update(identity).digest('hex').slice(0, 32);
  const [gz, br] = await Promise.all([
    gzipAsync(identity, { level: 9 }),
    brotliAsync(identity, { params: { [constants.BROTLI_PARAM_QUALITY]: 9 } }),
  ]);
  return { version, etag: `"${hash}"`, identity, gzip: gz, br };
}

/** The coding to send for an Accept-Encoding header: br, then gzip, else identity (q=0 refuses one). */
export function pickCoding(accept: string | undefined): 'br' | 'gzip' | 'identity' {
  const offered = new Map<string, number>();
  for (const part of (accept ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)).find(Boolean);
    offered.set(name, q ? Number(q[1]) : 1);
  }
  const ok = (c: string): boolean => (offered.get(c) ?? offered.get('*') ?? 0) > 0;
  if (ok('br')) return 'br';
  if (ok('gzip')) return 'gzip';
  return 'identity';
}

/** Caches the current version's file; a new version replaces it. */
export class WeightsFiles {
  private current: Promise<WeightsFile> | null = null;
  private version = -1;

  constructor(private readonly modelId: string) {}

  /** The file of `version` (whose parameters are `params`), built on first use. */
  get(version: number, params: Float32Array): Promise<WeightsFile> {
    if (this.version !== version || !this.current) {
      this.version = version;
      this.current = buildWeightsFile(this.modelId, version, params);
    }
    return this.current;
  }
}

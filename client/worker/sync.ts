/**
 * Fetching the global model: the manifest with If-None-Match, then the weights only when the model id or
 * version changed. Everything received is validated (manifest parser, tensor codec, header vs manifest).
 */
import { decodeTensor } from '../../shared/codec/tensor-codec.ts';
import { FedrankError } from '../../shared/errors.ts';
import { paramCount } from '../../shared/model/spec.ts';
import { parseManifest } from '../../shared/protocol-parse.ts';
import type { ModelRecord } from './records.ts';
import { fetchWithTimeout } from './http.ts';

const MANIFEST_TIMEOUT_MS = 8000;
const WEIGHTS_TIMEOUT_MS = 20_000;

/** Outcome of one sync: the (possibly unchanged) model record and whether the weights changed. */
export interface SyncResult {
  model: ModelRecord;
  weightsChanged: boolean;
}

/**
 * Brings `cached` up to date with the server. Throws FedrankError: SDK_SERVER_UNREACHABLE on network or
 * HTTP failure, BAD_REQUEST / CODEC_* when the server sent something malformed.
 */
export async function syncModel(server: string, cached: ModelRecord | null): Promise<SyncResult> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (cached?.manifestEtag) headers['if-none-match'] = cached.manifestEtag;
  const res = await get(`${server}/v1/model`, headers, MANIFEST_TIMEOUT_MS);
  if (res.status === 304 && cached) return { model: cached, weightsChanged: false };
  if (!res.ok) throw new FedrankError('SDK_SERVER_UNREACHABLE', `GET /v1/model answered ${res.status}`);
  const manifest = parseManifest(await res.json());
  if (paramCount(manifest.spec) !== manifest.paramCount) {
    throw new FedrankError('BAD_REQUEST', 'manifest paramCount does not match its spec');
  }
  const manifestEtag = res.headers.get('etag');
  if (
    cached &&
    cached.manifest.modelId === manifest.modelId &&
    cached.manifest.version === manifest.version
  ) {
    return { model: { ...cached, manifest, manifestEtag }, weightsChanged: false };
  }
  const wres = await get(`${server}/v1/model/weights`, {}, WEIGHTS_TIMEOUT_MS);
  if (!wres.ok)
    throw new FedrankError('SDK_SERVER_UNREACHABLE', `GET /v1/model/weights answered ${wres.status}`);
  const buf = new Uint8Array(await wres.arrayBuffer());
  const { header, values } = decodeTensor(buf, { maxCount: manifest.paramCount });
  if (
    header.kind !== 'weights' ||
    header.modelId !== manifest.modelId ||
    header.count !== manifest.paramCount
  ) {
    throw new FedrankError('CODEC_BAD_HEADER', 'weights do not match the manifest');
  }
  if (header.baseVersion !== manifest.version) {
    // A round closed between the two requests: the next sync picks up the newer pair.
    throw new FedrankError('SDK_SERVER_UNREACHABLE', 'model version changed during download');
  }
  return {
    model: { key: 'global', manifest, manifestEtag, weightsEtag: wres.headers.get('etag'), params: values },
    weightsChanged: true,
  };
}

async function get(url: string, headers: Record<string, string>, ms: number): Promise<Response> {
  try {
    return await fetchWithTimeout(url, { method: 'GET', headers }, ms);
  } catch {
    throw new FedrankError('SDK_SERVER_UNREACHABLE', `GET ${new URL(url).pathname} failed`);
  }
}

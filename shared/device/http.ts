/**
 * The device's HTTP transport, over an injected fetch (the browser's, Node's): the model source (manifest
 * with If-None-Match, weights only when changed), the plain-upload Submitter and the eval sink. Everything
 * received is validated here, at the boundary, by the shared parsers.
 */
import { decodeWeights } from '../codec/weights.ts';
import { FedrankError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { paramCount } from '../model/spec.ts';
import { parseErrorReply, parseManifest, parseUpdateAck } from '../protocol-parse.ts';
import type { EvalReport } from '../protocol.ts';
import { HEADER_TOKEN } from '../tokens/types.ts';
import { HEADER_CLIENT_ID, HEADER_IDEMPOTENCY_KEY, ROUTES, TENSOR_CONTENT_TYPE } from '../routes.ts';
import type { Contribution, EvalSink, ModelSource, SubmitOutcome, Submitter, SyncResult } from './ports.ts';
import type { ModelRecord } from './records.ts';
import { isRetryable } from './rules.ts';

/** The part of a fetch Response the transport reads. */
export interface HttpResponse {
  status: number;
  ok: boolean;
  headers: { get(name: string): string | null };
  json(): Promise<unknown>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** A request as the transport makes it. */
export interface HttpRequest {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: Uint8Array | string;
  /** The adapter aborts the request after this many milliseconds (rejecting like a network error). */
  timeoutMs: number;
}

/** fetch, as each runtime provides it (credentials omitted, no HTTP cache: the adapter's business). */
export type FetchLike = (url: string, req: HttpRequest) => Promise<HttpResponse>;

const MANIFEST_TIMEOUT_MS = 8000;
const WEIGHTS_TIMEOUT_MS = 20_000;
const UPLOAD_TIMEOUT_MS = 15_000;
const EVAL_TIMEOUT_MS = 10_000;

/** The HTTP transport of one server base URL. */
export class HttpTransport implements ModelSource, Submitter, EvalSink {
  private readonly base: string;
  constructor(
    server: string,
    private readonly fetch: FetchLike,
  ) {
    this.base = server.replace(/\/$/, '');
  }

  /**
   * Brings `cached` up to date. Throws FedrankError: SDK_ORIGIN_REFUSED when the server refuses this
   * origin, SDK_SERVER_UNREACHABLE on other network or HTTP failures, BAD_REQUEST / CODEC_* when the
   * server sent something malformed.
   */
  async fetchModel(cached: ModelRecord | null): Promise<SyncResult> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (cached?.manifestEtag) headers['if-none-match'] = cached.manifestEtag;
    const res = await this.get(ROUTES.model, headers, MANIFEST_TIMEOUT_MS);
    if (res.status === 304 && cached) return { model: cached, weightsChanged: false };
    if (!res.ok) throw await failure(res, ROUTES.model);
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
    // The version's immutable compact weights (CDN-cacheable) when the server names them, else the f32 route.
    const path = manifest.weightsUrl ?? ROUTES.weights;
    const wres = await this.get(path, {}, WEIGHTS_TIMEOUT_MS);
    if (!wres.ok) throw await failure(wres, path);
    const buf = new Uint8Array(await wres.arrayBuffer());
    const { header, values } = decodeWeights(buf, {
      modelId: manifest.modelId,
      paramCount: manifest.paramCount,
    });
    if (header.baseVersion !== manifest.version) {
      // A round closed between the two requests: the next sync picks up the newer pair.
      throw new FedrankError('SDK_SERVER_UNREACHABLE', 'model version changed during download');
    }
    return {
      model: { key: 'global', manifest, manifestEtag, weightsEtag: wres.headers.get('etag'), params: values },
      weightsChanged: true,
    };
  }

  /** The plain upload: one POST of the encoded, privatized delta. */
  async submit(c: Contribution): Promise<SubmitOutcome> {
    // An un-noised secure contribution must never go out as a plain upload.
    if (c.record.secure) return { kind: 'rejected', code: 'SECURE_ROUND_ONLY' };
    let res: HttpResponse;
    try {
      res = await this.fetch(this.base + ROUTES.updates, {
        method: 'POST',
        headers: {
          'content-type': TENSOR_CONTENT_TYPE,
          [HEADER_CLIENT_ID]: c.clientId,
          [HEADER_IDEMPOTENCY_KEY]: c.record.key,
          ...(c.token ? { [HEADER_TOKEN]: c.token } : {}),
        },
        body: c.record.body,
        timeoutMs: UPLOAD_TIMEOUT_MS,
      });
    } catch {
      return { kind: 'retry', code: 'SDK_SERVER_UNREACHABLE' };
    }
    const body = await res.json().catch(() => null);
    if (res.ok) {
      try {
        return { kind: 'accepted', ack: parseUpdateAck(body) };
      } catch {
        return { kind: 'retry', code: 'SDK_BAD_MESSAGE' };
      }
    }
    const code = errorCode(res.status, body);
    return { kind: isRetryable(res.status) ? 'retry' : 'rejected', code };
  }

  async sendEval(report: EvalReport, clientId: string, token: string | null = null): Promise<void> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      [HEADER_CLIENT_ID]: clientId,
    };
    if (token) headers[HEADER_TOKEN] = token;
    try {
      await this.fetch(this.base + ROUTES.eval, {
        method: 'POST',
        headers,
        body: JSON.stringify(report),
        timeoutMs: EVAL_TIMEOUT_MS,
      });
    } catch {
      // best effort: an evaluation report is never retried
    }
  }

  private async get(path: string, headers: Record<string, string>, ms: number): Promise<HttpResponse> {
    try {
      return await this.fetch(this.base + path, { method: 'GET', headers, timeoutMs: ms });
    } catch {
      throw new FedrankError('SDK_SERVER_UNREACHABLE', `GET ${path} failed`);
    }
  }
}

/** The catalogue code of an error reply (the server's own code when it sent a valid one). */
function errorCode(status: number, body: unknown): ErrorCode {
  try {
    return parseErrorReply(body).error.code;
  } catch {
    return isRetryable(status) ? 'SDK_SERVER_UNREACHABLE' : 'BAD_REQUEST';
  }
}

/** The error a failed model GET becomes: a refused origin keeps its own code. */
async function failure(res: HttpResponse, path: string): Promise<FedrankError> {
  const body = await res.json().catch(() => null);
  if (res.status === 403 && errorCode(res.status, body) === 'FORBIDDEN_ORIGIN') {
    return new FedrankError('SDK_ORIGIN_REFUSED', `GET ${path}: this origin is not an allowed storefront`);
  }
  return new FedrankError('SDK_SERVER_UNREACHABLE', `GET ${path} answered ${res.status}`);
}

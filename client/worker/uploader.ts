/**
 * The outbox: privatized updates wait here (persisted) until the server acknowledges them, retried with
 * exponential backoff and jitter. Each keeps its idempotency key, so a retry is never counted twice.
 */
import { HEADER_CLIENT_ID, HEADER_IDEMPOTENCY_KEY, TENSOR_CONTENT_TYPE } from '../../shared/protocol.ts';
import { parseErrorReply, parseUpdateAck } from '../../shared/protocol-parse.ts';
import { isFedrankError } from '../../shared/errors.ts';
import type { OutboxRecord } from './records.ts';
import type { Store } from './storage.ts';
import { backoffDelay, fetchWithTimeout, isRetryable } from './http.ts';

const UPLOAD_TIMEOUT_MS = 15_000;
/** Updates older than this are dropped: the server would reject them as stale anyway. */
export const OUTBOX_MAX_AGE_MS = 24 * 3600_000;

/** What one flush did. */
export interface FlushResult {
  sent: number;
  dropped: number;
  /** Milliseconds until the next retry is due, or null when the outbox is empty. */
  nextInMs: number | null;
  /** Catalogue code of the latest failure, if any. */
  error: string | null;
  bytes: number | null;
}

/** Tries every due update once. */
export async function flushOutbox(
  store: Store,
  server: string,
  clientId: string,
  now: () => number = Date.now,
): Promise<FlushResult> {
  const out: FlushResult = { sent: 0, dropped: 0, nextInMs: null, error: null, bytes: null };
  const pending = (await store.outbox()).sort((a, b) => a.createdAt - b.createdAt);
  for (const rec of pending) {
    if (now() - rec.createdAt > OUTBOX_MAX_AGE_MS) {
      await store.deleteOutbox(rec.key);
      out.dropped++;
      continue;
    }
    if (rec.nextAttemptAt > now()) {
      out.nextInMs = Math.min(out.nextInMs ?? Infinity, rec.nextAttemptAt - now());
      continue;
    }
    const r = await uploadOne(server, clientId, rec);
    if (r.kind === 'sent') {
      await store.deleteOutbox(rec.key);
      out.sent++;
      out.bytes = rec.body.byteLength;
    } else if (r.kind === 'rejected') {
      await store.deleteOutbox(rec.key);
      out.dropped++;
      out.error = r.code;
    } else {
      const attempts = rec.attempts + 1;
      const delay = backoffDelay(attempts, Math.random());
      await store.putOutbox({ ...rec, attempts, nextAttemptAt: now() + delay });
      out.nextInMs = Math.min(out.nextInMs ?? Infinity, delay);
      out.error = r.code;
    }
  }
  return out;
}

type UploadOutcome = { kind: 'sent' } | { kind: 'rejected' | 'retry'; code: string };

async function uploadOne(server: string, clientId: string, rec: OutboxRecord): Promise<UploadOutcome> {
  let res: Response;
  try {
    res = await fetchWithTimeout(
      `${server}/v1/updates`,
      {
        method: 'POST',
        headers: {
          'content-type': TENSOR_CONTENT_TYPE,
          [HEADER_CLIENT_ID]: clientId,
          [HEADER_IDEMPOTENCY_KEY]: rec.key,
        },
        body: rec.body as Uint8Array<ArrayBuffer>,
      },
      UPLOAD_TIMEOUT_MS,
    );
  } catch {
    return { kind: 'retry', code: 'SDK_SERVER_UNREACHABLE' };
  }
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (res.ok) {
    try {
      parseUpdateAck(body);
      return { kind: 'sent' };
    } catch {
      return { kind: 'retry', code: 'SDK_BAD_MESSAGE' };
    }
  }
  let code = isRetryable(res.status) ? 'SDK_SERVER_UNREACHABLE' : 'BAD_REQUEST';
  try {
    code = parseErrorReply(body).error.code;
  } catch (e) {
    if (isFedrankError(e) && !isRetryable(res.status)) code = 'BAD_REQUEST';
  }
  return { kind: isRetryable(res.status) ? 'retry' : 'rejected', code };
}

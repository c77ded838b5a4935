/** Maps anything thrown in a request to a catalogued FedrankError (fastify's own errors included). */
import { FedrankError, isFedrankError, type ErrorCode } from '../shared/errors.ts';

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_INSTANCE_ALREADY_STARTED: 'INTERNAL',
  FST_ERR_VALIDATION: 'BAD_REQUEST',
  FST_ERR_NOT_FOUND: 'NOT_FOUND',
};

const BY_STATUS: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN_ORIGIN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  503: 'UNAVAILABLE',
};

/** The catalogued error for `err`; unknown errors become INTERNAL (their text is not leaked). */
export function toFedrankError(err: unknown): FedrankError {
  if (isFedrankError(err)) return err;
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? FASTIFY_CODES[e.code] : undefined;
  if (code) return new FedrankError(code, code === 'INTERNAL' ? undefined : String(e.message ?? ''));
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500;
  const byStatus = BY_STATUS[status] ?? (status >= 400 && status < 500 ? 'BAD_REQUEST' : undefined);
  if (byStatus) return new FedrankError(byStatus);
  return new FedrankError('INTERNAL');
}

/** The JSON body of an error reply. */
export function errorBody(e: FedrankError): { error: { code: ErrorCode; message: string } } {
  return { error: { code: e.code, message: e.message } };
}

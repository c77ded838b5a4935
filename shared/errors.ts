/**
 * The one catalogue of fedrank error codes. Every error a user can see (HTTP reply, CLI line, SDK status)
 * carries one of these codes; the README's error table is generated from this object.
 */
export const ERRORS = {
  // --- generic request errors ---
  BAD_REQUEST: { status: 400, message: 'The request is malformed.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body has an unsupported content type.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body exceeds the size limit.' },
  NOT_FOUND: { status: 404, message: 'No such resource.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'This method is not allowed on this resource.' },
  UNAUTHORIZED: { status: 401, message: 'A valid operator bearer token is required.' },
  FORBIDDEN_ORIGIN: { status: 403, message: 'This origin is not an allowed storefront.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; retry later.' },
  INTERNAL: { status: 500, message: 'Internal server error.' },
  UNAVAILABLE: { status: 503, message: 'The service is temporarily unavailable.' },

  // --- binary codec (model weights and updates) ---
  CODEC_BAD_MAGIC: { status: 400, message: 'Not a fedrank tensor payload (bad magic bytes).' },
  CODEC_UNSUPPORTED_VERSION: { status: 400, message: 'Unsupported payload format version.' },
  CODEC_BAD_HEADER: { status: 400, message: 'The payload header is invalid.' },
  CODEC_TRUNCATED: { status: 400, message: 'The payload is truncated.' },
  CODEC_OVERSIZED: { status: 400, message: 'The payload has trailing bytes or exceeds its declared size.' },
  CODEC_NON_FINITE: { status: 400, message: 'The payload contains NaN or Infinity.' },
  CODEC_COUNT_MISMATCH: { status: 400, message: 'The parameter count does not match the payload.' },
  CODEC_BAD_VALUE: { status: 400, message: 'The payload contains a value outside its encoding range.' },

  // --- update validation ---
  UPDATE_MISSING_CLIENT_ID: { status: 400, message: 'The update lacks a valid client id.' },
  UPDATE_MISSING_IDEMPOTENCY_KEY: { status: 400, message: 'The update lacks a valid idempotency key.' },
  UPDATE_WRONG_MODEL: { status: 409, message: 'The update is for a different model.' },
  UPDATE_WRONG_SHAPE: { status: 409, message: 'The update has the wrong parameter count for this model.' },
  UPDATE_STALE: { status: 409, message: 'The update is based on a model version that is too old.' },
  UPDATE_FUTURE_VERSION: {
    status: 409,
    message: 'The update is based on a model version that does not exist yet.',
  },
  UPDATE_WRONG_ROUND: { status: 409, message: 'The update names a round that is not open.' },
  UPDATE_NORM_TOO_LARGE: {
    status: 422,
    message: 'The update norm is impossible for a clipped and noised delta at the configured bound.',
  },
  UPDATE_BAD_ENCODING: {
    status: 400,
    message: "The update's encoding or int8 block size is not the one the server asks for.",
  },
  UPDATE_OUT_OF_SHAPE: {
    status: 422,
    message: 'The update has coordinates far outside what a clipped, noised update can have.',
  },
  UPDATE_ALREADY_CONTRIBUTED: { status: 409, message: 'This client already contributed to the open round.' },
  UPDATE_IDEMPOTENCY_CONFLICT: {
    status: 409,
    message: 'This idempotency key was already used with a different payload.',
  },
  ROUND_NOT_OPEN: { status: 409, message: 'No round is open for updates.' },
  BUDGET_EXHAUSTED: { status: 409, message: 'The privacy budget is spent: no further round may open.' },

  // --- contribution tokens (RFC 9474 blind RSA) ---
  TOKEN_REQUIRED: {
    status: 401,
    message: 'A contribution token is required (header x-fedrank-token).',
  },
  TOKEN_INVALID: {
    status: 403,
    message: 'The contribution token is malformed, forged, for another purpose, or its key expired.',
  },
  TOKEN_SPENT: { status: 409, message: 'This contribution token was already redeemed.' },
  TOKEN_QUOTA_EXCEEDED: {
    status: 429,
    message: 'The token issuance quota of this session or address is used up for today.',
  },
  TOKEN_POW_INVALID: {
    status: 403,
    message: 'The proof of work is missing, wrong, expired, or its challenge was already used.',
  },
  SHOP_UNAUTHORIZED: { status: 401, message: 'A valid shop issuer secret is required.' },
  // --- secure aggregation (SecAgg+) ---
  SECAGG_BAD_MESSAGE: { status: 400, message: 'The secure-aggregation message is malformed.' },
  SECAGG_WRONG_PHASE: {
    status: 409,
    message: 'The secure-aggregation round is not in the phase for this message.',
  },
  SECAGG_NOT_PARTICIPANT: {
    status: 409,
    message: 'This slot is not a participant of the current secure-aggregation phase.',
  },
  SECAGG_INCONSISTENT: {
    status: 422,
    message: 'The secure-aggregation message contradicts the round (wrong peers, parameters or shares).',
  },
  SECURE_ROUND_ONLY: {
    status: 409,
    message: 'Rounds run secure aggregation: plain updates are refused; contribute through /v1/secagg.',
  },
  SECAGG_BELOW_THRESHOLD: {
    status: 409,
    message: 'Too few participants survive: the round will not be unmasked below its threshold.',
  },

  // --- configuration and command line ---
  CONFIG_INVALID: { status: 500, message: 'The configuration is invalid.' },
  CLI_BAD_ARGUMENT: { status: 400, message: 'Invalid command-line argument.' },
  STORE_CORRUPT: { status: 500, message: 'The persistent store is inconsistent.' },
  DATASET_INVALID: { status: 400, message: 'The evaluation dataset is missing or malformed.' },
  STORE_UNAVAILABLE: { status: 503, message: 'The persistent store cannot be opened.' },
  LISTEN_FAILED: { status: 500, message: 'The server cannot listen on the configured address.' },

  // --- browser SDK (reported through status(), never thrown into the page) ---
  SDK_WORKER_UNAVAILABLE: { status: 0, message: 'The learning worker could not start.' },
  SDK_STORAGE_UNAVAILABLE: {
    status: 0,
    message: 'Persistent storage is unavailable; learning in memory only.',
  },
  SDK_SERVER_UNREACHABLE: { status: 0, message: 'The aggregation server could not be reached.' },
  SDK_ORIGIN_REFUSED: {
    status: 0,
    message: 'The aggregation server refused this origin; personalizing locally only.',
  },
  SDK_RANK_TIMEOUT: { status: 0, message: 'Ranking took too long; the original order was kept.' },
  SDK_BAD_MESSAGE: { status: 0, message: 'A malformed message or record was ignored.' },
} as const satisfies Record<string, { status: number; message: string }>;

/** Every catalogued error code. */
export type ErrorCode = keyof typeof ERRORS;

/** An error carrying a catalogued code; `detail` says what exactly was wrong. */
export class FedrankError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, detail?: string) {
    super(detail ? `${ERRORS[code].message} ${detail}` : ERRORS[code].message);
    this.name = 'FedrankError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.detail = detail;
  }
}

/** True when `value` is a FedrankError (also across realms, by shape). */
export function isFedrankError(value: unknown): value is FedrankError {
  return (
    value instanceof FedrankError ||
    (typeof value === 'object' &&
      value !== null &&
      (value as { name?: unknown }).name === 'FedrankError' &&
      typeof (value as { code?: unknown }).code === 'string' &&
      (value as { code: string }).code in ERRORS)
  );
}

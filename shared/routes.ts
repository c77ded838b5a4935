/**
 * The HTTP contract's names in one place, used by the server's routes and by every client (browser
 * worker, simulated shoppers): route paths, request headers, the id pattern and the device database name.
 */
export { HEADER_CLIENT_ID, HEADER_IDEMPOTENCY_KEY, TENSOR_CONTENT_TYPE } from './protocol.ts';

/** Public routes of the aggregation server. */
export const ROUTES = {
  model: '/v1/model',
  weights: '/v1/model/weights',
  /** Immutable compact weights of one version (shared/codec/weights.ts weightsPath fills it in). */
  versionWeights: '/v1/model/:modelId/:version/weights',
  updates: '/v1/updates',
  eval: '/v1/eval',
  adminPrefix: '/v1/admin',
} as const;

/** Client ids and idempotency keys: 16 to 64 URL-safe characters. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

/** Name of the device's IndexedDB database (the worker opens it, the page deletes it on forget()). */
export const DEVICE_DB_NAME = 'fedrank';

/**
 * JSON has no Infinity: an infinite epsilon (a noiseless contribution) travels as the largest finite
 * double, and is read back as Infinity.
 */
export function encodeEpsilon(eps: number): number {
  return Math.min(eps, Number.MAX_VALUE);
}

/** The inverse of encodeEpsilon. */
export function decodeEpsilon(wire: number): number {
  return wire >= Number.MAX_VALUE ? Number.POSITIVE_INFINITY : wire;
}

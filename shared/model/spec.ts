/**
 * PLACEHOLDER owned by the model work: the ModelSpec type and pure (tfjs-free) helpers. The model helper
 * replaces this file; the names below are the agreed interface.
 */
export interface ModelSpec {
  /** Architecture id; a different id means a different parameter layout. */
  arch: string;
  [key: string]: number | string;
}

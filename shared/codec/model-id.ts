/**
 * Model id rules shared by the tensor codec header and the JSON manifest: 1 to 64 visible ASCII characters
 * (0x21..0x7E), so an id is one byte per character, safe in logs, headers and file names.
 */

/** Longest model id in bytes (= characters, since only ASCII is allowed). */
export const MODEL_ID_MAX_BYTES = 64;

/** True when `id` is a string of 1..64 visible ASCII characters (no spaces, no control characters). */
export function isValidModelId(id: unknown): id is string {
  if (typeof id !== 'string' || id.length < 1 || id.length > MODEL_ID_MAX_BYTES) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

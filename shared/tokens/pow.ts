/**
 * Proof of work for shops without sessions (hashcash over SHA-256 via WebCrypto). The work covers the
 * server's single-use challenge and the blinded messages, so one solution buys exactly one issuance.
 * The device solves (solvePow), the server checks (checkPow): one implementation for both.
 */
import { FedrankError } from '../errors.ts';
import { fromBase64Url, toBase64Url } from './codec.ts';
import { concat, sha256 } from './webcrypto.ts';

const POW_DOMAIN = new TextEncoder().encode('fedrank-pow-v1');
/** Highest difficulty a device will attempt (2^30 hashes is minutes to hours in a browser). */
export const MAX_POW_DIFFICULTY = 30;

/** Leading zero bits of `h`. */
export function leadingZeroBits(h: Uint8Array): number {
  let n = 0;
  for (const b of h) {
    if (b === 0) {
      n += 8;
      continue;
    }
    return n + Math.clz32(b) - 24;
  }
  return n;
}

/** The bytes hashed for counter `counter`, without the counter: domain, challenge, digest of the messages. */
async function powPrefix(challenge: string, blindedMessages: string[]): Promise<Uint8Array> {
  const c = fromBase64Url(challenge);
  const msgs = blindedMessages.map((m) => fromBase64Url(m));
  if (!c || msgs.some((m) => m === null)) throw new FedrankError('BAD_REQUEST', 'proof of work input');
  return concat(POW_DOMAIN, c, await sha256(concat(...(msgs as Uint8Array[]))));
}

function counterBytes(i: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(i));
  return b;
}

/** The base64url 8-byte counter whose hash has `difficulty` leading zero bits (about 2^difficulty tries). */
export async function solvePow(
  challenge: string,
  difficulty: number,
  blindedMessages: string[],
): Promise<string> {
  if (!Number.isInteger(difficulty) || difficulty < 0 || difficulty > MAX_POW_DIFFICULTY)
    throw new FedrankError('BAD_REQUEST', `proof-of-work difficulty ${difficulty} is out of range`);
  const prefix = await powPrefix(challenge, blindedMessages);
  // Give up far past the expected work: the chance of needing 64x the mean is e^-64.
  const limit = 2 ** difficulty * 64;
  // Hashes in batches: one await per digest would cost more than the digest itself.
  const BATCH = 256;
  for (let start = 0; start < limit; start += BATCH) {
    const hashes = await Promise.all(
      Array.from({ length: BATCH }, (_, j) => sha256(concat(prefix, counterBytes(start + j)))),
    );
    const j = hashes.findIndex((h) => leadingZeroBits(h) >= difficulty);
    if (j >= 0) return toBase64Url(counterBytes(start + j));
  }
  throw new FedrankError('TOKEN_POW_INVALID', 'no solution found');
}

/** True when `solution` solves `challenge` at `difficulty` for exactly these blinded messages. */
export async function checkPow(
  challenge: string,
  difficulty: number,
  blindedMessages: string[],
  solution: string,
): Promise<boolean> {
  const counter = fromBase64Url(solution);
  if (!counter || counter.length !== 8) return false;
  const h = await sha256(concat(await powPrefix(challenge, blindedMessages), counter));
  return leadingZeroBits(h) >= difficulty;
}

/**
 * Shamir t-of-n secret sharing of 32-byte secrets (the self-mask seed and the masking secret key).
 * The secret is cut into 16 chunks of 16 bits and each chunk is shared on its own polynomial over the prime
 * field F_p, p = 65537: every product of two field elements is below 2^34, so the arithmetic is exact in
 * JavaScript numbers (no BigInt), which keeps the server's ~1,000 reconstructions per round cheap.
 * Each chunk is perfectly hidden from any t-1 shares (fresh uniform coefficients per chunk).
 */

/** The field modulus. */
export const SHAMIR_PRIME = 65537;
/** Bytes of a shared secret. */
export const SECRET_BYTES = 32;
/** Field elements per share (one per 16-bit chunk). */
export const SHARE_WORDS = SECRET_BYTES / 2;
/** Encoded share length: SHARE_WORDS little-endian u32 values, each below SHAMIR_PRIME. */
export const SHARE_BYTES = SHARE_WORDS * 4;
/** Largest x-coordinate (a participant's slot); x = 0 is the secret itself. */
export const MAX_SHARE_X = SHAMIR_PRIME - 1;

const P = SHAMIR_PRIME;

/** One share: its x-coordinate and SHARE_WORDS field elements. */
export interface Share {
  x: number;
  y: Uint32Array;
}

function mulMod(a: number, b: number): number {
  return (a * b) % P;
}

function powMod(a: number, e: number): number {
  let r = 1;
  let base = a % P;
  while (e > 0) {
    if (e & 1) r = mulMod(r, base);
    base = mulMod(base, base);
    e >>>= 1;
  }
  return r;
}

/** Multiplicative inverse in F_p (Fermat). */
function invMod(a: number): number {
  return powMod(((a % P) + P) % P, P - 2);
}

/** `n` uniform field elements from crypto.getRandomValues (17-bit draws, rejection above p - 1). */
function randomField(n: number): Uint32Array {
  const out = new Uint32Array(n);
  const words = new Uint32Array(Math.max(16, n * 2 + 8));
  let i = 0;
  while (i < n) {
    crypto.getRandomValues(words);
    for (let w = 0; w < words.length && i < n; w++) {
      const v = words[w]! & 0x1ffff;
      if (v < P) out[i++] = v;
    }
  }
  return out;
}

function checkXs(xs: readonly number[]): void {
  const seen = new Set<number>();
  for (const x of xs) {
    if (!(Number.isInteger(x) && x >= 1 && x <= MAX_SHARE_X))
      throw new RangeError(`share x out of range: ${x}`);
    if (seen.has(x)) throw new RangeError(`duplicate share x: ${x}`);
    seen.add(x);
  }
}

/**
 * Splits a 32-byte secret into one share per x in `xs` (distinct, 1..65536); any `t` of them recover it,
 * any t-1 reveal nothing.
 */
export function splitSecret(secret: Uint8Array, t: number, xs: readonly number[]): Share[] {
  if (secret.length !== SECRET_BYTES) throw new RangeError(`secret must be ${SECRET_BYTES} bytes`);
  if (!(Number.isInteger(t) && t >= 1 && t <= xs.length))
    throw new RangeError(`threshold ${t} must be in 1..${xs.length}`);
  checkXs(xs);
  // coeffs[c * t + j]: coefficient j of chunk c's polynomial; j = 0 is the chunk itself.
  const coeffs = randomField(SHARE_WORDS * t);
  for (let c = 0; c < SHARE_WORDS; c++) coeffs[c * t] = secret[2 * c]! | (secret[2 * c + 1]! << 8);
  const shares = xs.map((x) => {
    const y = new Uint32Array(SHARE_WORDS);
    for (let c = 0; c < SHARE_WORDS; c++) {
      let acc = 0; // Horner from the highest coefficient
      for (let j = t - 1; j >= 0; j--) acc = (mulMod(acc, x) + coeffs[c * t + j]!) % P;
      y[c] = acc;
    }
    return { x, y };
  });
  coeffs.fill(0);
  return shares;
}

/** Lagrange coefficients at 0 for the given x-coordinates. */
export function lagrangeAtZero(xs: readonly number[]): number[] {
  checkXs(xs);
  return xs.map((xi, i) => {
    let num = 1;
    let den = 1;
    xs.forEach((xj, j) => {
      if (j === i) return;
      num = mulMod(num, xj);
      den = mulMod(den, (xj - xi + P) % P);
    });
    return mulMod(num, invMod(den));
  });
}

/**
 * Recovers the secret from exactly the shares given (use `t` of them). With fewer than t shares the result
 * is a uniformly random-looking value unrelated to the secret; callers enforce the threshold. Returns null
 * when the interpolated value is not a valid secret (a chunk above 16 bits: wrong or too few shares).
 */
export function combineShares(shares: readonly Share[]): Uint8Array | null {
  if (shares.length === 0) return null;
  const lambdas = lagrangeAtZero(shares.map((s) => s.x));
  const out = new Uint8Array(SECRET_BYTES);
  for (let c = 0; c < SHARE_WORDS; c++) {
    let acc = 0;
    for (let i = 0; i < shares.length; i++) acc = (acc + mulMod(lambdas[i]!, shares[i]!.y[c]!)) % P;
    if (acc > 0xffff) return null;
    out[2 * c] = acc & 0xff;
    out[2 * c + 1] = acc >>> 8;
  }
  return out;
}

/** Encodes a share's y values (the x-coordinate travels in the message that carries it). */
export function encodeShareY(y: Uint32Array): Uint8Array {
  const out = new Uint8Array(SHARE_BYTES);
  const v = new DataView(out.buffer);
  for (let c = 0; c < SHARE_WORDS; c++) v.setUint32(c * 4, y[c]!, true);
  return out;
}

/** Decodes share y values; null unless every value is a field element. */
export function decodeShareY(bytes: Uint8Array): Uint32Array | null {
  if (bytes.length !== SHARE_BYTES) return null;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const y = new Uint32Array(SHARE_WORDS);
  for (let c = 0; c < SHARE_WORDS; c++) {
    const w = v.getUint32(c * 4, true);
    if (w >= P) return null;
    y[c] = w;
  }
  return y;
}

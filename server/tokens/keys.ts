/**
 * Issuer keys: one RSA key per epoch of keyRotationDays, aligned to the Unix epoch so that every device
 * in an epoch gets the same key (a key per device would link issuance to redemption). A key issues
 * during its epoch and its tokens stay redeemable for one more epoch; then the key and its spent nonces
 * are deleted. Keys are generated here, stored in the TokenStore, and published at GET /v1/tokens/keys.
 */
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  privateDecrypt,
  publicEncrypt,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { FedrankError } from '../../shared/errors.ts';
import { importTokenKey, type TokenKey } from '../../shared/tokens/blind.ts';
import { toBase64Url } from '../../shared/tokens/codec.ts';
import { TOKEN_SUITE, type TokenKeyInfo, type TokenKeys } from '../../shared/tokens/types.ts';
import type { StoredTokenKey, TokenStore } from './store.ts';

const DAY_MS = 86_400_000;
/** How often the ring re-reads the store and prunes (keys change once per epoch). */
const REFRESH_MS = 60_000;
/** Least time between two reloads for key ids this process does not know (redeemableShared). */
const MISS_RELOAD_MS = 1000;

/** A key ready to sign (server) and verify (shared verifier). */
export interface LoadedKey {
  stored: StoredTokenKey;
  info: TokenKeyInfo;
  verifier: TokenKey;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Generates an RSA key for the epoch starting at `notBefore` (OpenSSL via node:crypto). */
export async function generateTokenKey(
  bits: number,
  notBefore: number,
  epochMs: number,
): Promise<StoredTokenKey> {
  const { publicKey, privateKey } = await promisify(generateKeyPair)('rsa', {
    modulusLength: bits,
    publicExponent: 65537,
  });
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  const pkcs8 = new Uint8Array(privateKey.export({ type: 'pkcs8', format: 'der' }));
  return {
    keyId: toBase64Url(createHash('sha256').update(spki).digest()),
    publicKey: spki,
    privateKey: pkcs8,
    notBefore,
    issueUntil: notBefore + epochMs,
    redeemUntil: notBefore + 2 * epochMs,
  };
}

/** A stored key, imported for signing and verifying. */
export async function loadTokenKey(stored: StoredTokenKey): Promise<LoadedKey> {
  const info: TokenKeyInfo = {
    keyId: stored.keyId,
    publicKey: toBase64Url(stored.publicKey),
    notBefore: iso(stored.notBefore),
    issueUntil: iso(stored.issueUntil),
    redeemUntil: iso(stored.redeemUntil),
  };
  return {
    stored,
    info,
    verifier: await importTokenKey(info),
    privateKey: createPrivateKey({ key: Buffer.from(stored.privateKey), format: 'der', type: 'pkcs8' }),
    publicKey: createPublicKey({ key: Buffer.from(stored.publicKey), format: 'der', type: 'spki' }),
  };
}

/**
 * RFC 9474 BlindSign: s = RSASP1(sk, m) for the blinded message m, then the check m == RSAVP1(pk, s)
 * that keeps a faulty computation from leaking the key. The raw RSA operation is OpenSSL's (CRT, with
 * its blinding against timing attacks); @cloudflare/blindrsa-ts's own blindSign is a non-CRT bignum
 * in JavaScript, three orders of magnitude slower (bench/results/tokens.json): issuance would be a DoS vector.
 */
export function blindSign(key: LoadedKey, blinded: Uint8Array): Uint8Array {
  const kLen = key.verifier.modulusBytes;
  // OpenSSL left-pads short input, so the length check of RFC 9474 step 1 is ours.
  if (blinded.length !== kLen)
    throw new FedrankError('BAD_REQUEST', `a blinded message must have ${kLen} bytes`);
  let s: Buffer;
  try {
    s = privateDecrypt({ key: key.privateKey, padding: constants.RSA_NO_PADDING }, blinded);
  } catch {
    throw new FedrankError('BAD_REQUEST', 'a blinded message is not below the modulus');
  }
  const back = publicEncrypt({ key: key.publicKey, padding: constants.RSA_NO_PADDING }, s);
  if (!timingSafeEqual(back, blinded)) throw new FedrankError('INTERNAL', 'signing failure');
  return new Uint8Array(s);
}

/** The keys of the issuer, kept current for a clock. */
export class TokenKeyRing {
  private loaded: LoadedKey[] = [];
  private refreshedAt = -Infinity;
  private missReloadAt = -Infinity;
  private pending: Promise<void> | null = null;
  readonly epochMs: number;

  constructor(
    private readonly store: TokenStore,
    private readonly opts: { rotationDays: number; bits: number },
    private readonly now: () => number,
  ) {
    this.epochMs = opts.rotationDays * DAY_MS;
  }

  /**
   * Re-reads the keys and prunes what expired, at most once a minute; with `issue`, also makes sure this
   * epoch's key exists (generated on first need, so a server that never issues never makes one).
   */
  async refresh(issue = false): Promise<void> {
    for (;;) {
      const t = this.now();
      const issuing = this.loaded.some((k) => k.stored.notBefore <= t && t < k.stored.issueUntil);
      if (t - this.refreshedAt < REFRESH_MS && (issuing || !issue)) return;
      if (this.pending) {
        // Another request is reloading: wait for it, then look again.
        await this.pending.catch(() => undefined);
        continue;
      }
      this.pending = this.reload(t, issue);
      try {
        return await this.pending;
      } finally {
        this.pending = null;
      }
    }
  }

  private async reload(t: number, issue: boolean): Promise<void> {
    await this.store.prune(t, Math.floor(t / DAY_MS));
    let stored = await this.store.keys();
    const start = Math.floor(t / this.epochMs) * this.epochMs;
    if (issue && !stored.some((k) => k.notBefore === start)) {
      await this.store.addKey(await generateTokenKey(this.opts.bits, start, this.epochMs));
      stored = await this.store.keys();
    }
    const have = new Map(this.loaded.map((k) => [k.stored.keyId, k]));
    this.loaded = await Promise.all(
      stored.filter((k) => k.redeemUntil > t).map((k) => have.get(k.keyId) ?? loadTokenKey(k)),
    );
    this.refreshedAt = t;
  }

  /** The key that issues now (refresh(true) first). */
  issuing(): LoadedKey {
    const t = this.now();
    const k = this.loaded.find((x) => x.stored.notBefore <= t && t < x.stored.issueUntil);
    if (!k) throw new FedrankError('UNAVAILABLE', 'no token key for this epoch yet');
    return k;
  }

  /**
   * redeemable(), but a key id this process has not loaded yet sends it to the store first: with several
   * processes on one database another one may have created this epoch's key since the last refresh.
   * At most one such reload per MISS_RELOAD_MS, so made-up key ids cannot turn into a query each.
   */
  async redeemableShared(keyId: string): Promise<LoadedKey | null> {
    const k = this.redeemable(keyId);
    const t = this.now();
    if (k || this.loaded.some((x) => x.stored.keyId === keyId) || t - this.missReloadAt < MISS_RELOAD_MS)
      return k;
    this.missReloadAt = t;
    this.refreshedAt = -Infinity;
    await this.refresh();
    return this.redeemable(keyId);
  }

  /** The key `keyId` if its tokens are redeemable now, else null. */
  redeemable(keyId: string): LoadedKey | null {
    const t = this.now();
    const k = this.loaded.find((x) => x.stored.keyId === keyId);
    return k && k.stored.notBefore <= t && t < k.stored.redeemUntil ? k : null;
  }

  /** What GET /v1/tokens/keys publishes: every key still redeemable, oldest first. */
  published(): TokenKeys {
    const t = this.now();
    return {
      suite: TOKEN_SUITE,
      keys: this.loaded.filter((k) => k.stored.redeemUntil > t).map((k) => k.info),
    };
  }
}

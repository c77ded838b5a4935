/**
 * Persistence for contribution tokens, apart from the aggregation Store (its own interface, its own
 * file): issuer keys, spent nonces, issuance quotas and used proof-of-work challenges. Every method is
 * atomic. Nothing here names a shopper: quota buckets are keyed hashes, and each row is deleted once
 * it can no longer matter (prune).
 */

/** An issuer key as stored; times are milliseconds since the epoch. */
export interface StoredTokenKey {
  /** base64url SHA-256 of publicKey. */
  keyId: string;
  /** DER SubjectPublicKeyInfo. */
  publicKey: Uint8Array;
  /** DER PKCS#8 private key (the file is mode 0600). */
  privateKey: Uint8Array;
  notBefore: number;
  issueUntil: number;
  redeemUntil: number;
}

/** Outcome of recording a redemption. */
export type SpendResult =
  /** First redemption of this nonce. */
  | 'spent'
  /** Spent before under the same binding (a retried request): not a second contribution. */
  | 'replay'
  /** Spent before under another binding, or with none. */
  | 'already-spent';

/** Token persistence. */
export interface TokenStore {
  /** All stored keys, oldest first. */
  keys(): Promise<StoredTokenKey[]>;
  /** Stores a key unless one with the same notBefore exists (the first writer of an epoch wins). */
  addKey(key: StoredTokenKey): Promise<void>;
  /** The server's random 32-byte secret for keyed hashes and challenges, created on first use. */
  secret(): Promise<Uint8Array>;
  /**
   * Adds `n` to `bucket`'s count for `day` if the total stays within `max`; false (and nothing added)
   * when it would not.
   */
  takeQuota(bucket: string, day: number, n: number, max: number): Promise<boolean>;
  /**
   * Records nonce `nonce` of key `keyId` as spent until `keepUntil`. `binding` (or null) identifies the
   * request it paid for, so that a retry of the same request is a replay and not a second spend.
   */
  spend(keyId: string, nonce: string, binding: string | null, keepUntil: number): Promise<SpendResult>;
  /** Marks a proof-of-work challenge used until `keepUntil`; false when it was used already. */
  useChallenge(id: string, keepUntil: number): Promise<boolean>;
  /** Deletes keys (and their spent nonces) past redeemUntil, quota days before `today`, expired challenges. */
  prune(nowMs: number, today: number): Promise<void>;
  close(): Promise<void>;
}

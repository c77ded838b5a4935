/**
 * Issuance rules: blind-sign a device's messages with this epoch's key, against evidence the shop
 * controls (its backend's secret plus a session, counted per UTC day) or a proof of work (single-use
 * challenge, counted per IP address and day). The signer sees only blinded messages, and everyone in
 * an epoch gets the same key, so nothing recorded here can be matched to a later redemption. Quota
 * buckets are HMACs of the session id or address under the store's secret, kept for the day only.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { FedrankError } from '../../shared/errors.ts';
import { fromBase64Url, toBase64Url } from '../../shared/tokens/codec.ts';
import { checkPow } from '../../shared/tokens/pow.ts';
import type {
  IssueRequest,
  IssueResponse,
  PowChallenge,
  PowIssueRequest,
  ShopIssueRequest,
} from '../../shared/tokens/types.ts';
import type { TokensConfig } from './config.ts';
import { blindSign, type TokenKeyRing } from './keys.ts';
import type { TokenStore } from './store.ts';

const DAY_MS = 86_400_000;
/** How long a proof-of-work challenge may be solved. */
export const CHALLENGE_TTL_MS = 15 * 60_000;
const CHALLENGE_RANDOM = 16;
const CHALLENGE_MAC = 16;
const CHALLENGE_BYTES = 8 + CHALLENGE_RANDOM + CHALLENGE_MAC;

/** Issues tokens; see the module comment for what is counted and kept. */
export class TokenIssuer {
  private secretBytes: Uint8Array | null = null;

  constructor(
    private readonly store: TokenStore,
    private readonly ring: TokenKeyRing,
    private readonly cfg: TokensConfig,
    private readonly now: () => number,
  ) {}

  private async secret(): Promise<Uint8Array> {
    this.secretBytes ??= await this.store.secret();
    return this.secretBytes;
  }

  private async mac(label: string, data: Uint8Array | string): Promise<Buffer> {
    return createHmac('sha256', await this.secret())
      .update(label)
      .update(data)
      .digest();
  }

  /** Signs every blinded message of `req` with the current key, after `charge` accepted the count. */
  private async sign(req: IssueRequest, charge: () => Promise<void>): Promise<IssueResponse> {
    await this.ring.refresh(true);
    const key = this.ring.issuing();
    if (req.keyId !== key.info.keyId)
      throw new FedrankError('TOKEN_INVALID', `issuance uses key ${key.info.keyId}; fetch /v1/tokens/keys`);
    const blinded = req.blindedMessages.map((m) => fromBase64Url(m)!);
    for (const b of blinded)
      if (b.length !== key.verifier.modulusBytes)
        throw new FedrankError(
          'BAD_REQUEST',
          `a blinded message must have ${key.verifier.modulusBytes} bytes`,
        );
    await charge();
    return { keyId: key.info.keyId, blindSignatures: blinded.map((b) => toBase64Url(blindSign(key, b))) };
  }

  private async take(bucket: string, n: number, max: number, what: string): Promise<void> {
    const day = Math.floor(this.now() / DAY_MS);
    if (!(await this.store.takeQuota(bucket, day, n, max)))
      throw new FedrankError('TOKEN_QUOTA_EXCEEDED', `${what}: at most ${max} tokens a day`);
  }

  /** POST /v1/tokens/issue: the shop's backend (already authenticated) asks for its session. */
  async issueForSession(req: ShopIssueRequest): Promise<IssueResponse> {
    const bucket = `s:${(await this.mac('session', req.sessionId)).toString('base64url')}`;
    const max = this.cfg.perSessionPerDay;
    return this.sign(req, () => this.take(bucket, req.blindedMessages.length, max, 'this session'));
  }

  /** GET /v1/tokens/challenge: expiry, randomness and a MAC, so the server keeps nothing until it is used. */
  async challenge(): Promise<PowChallenge> {
    if (this.cfg.powPerIpPerDay === 0)
      throw new FedrankError('NOT_FOUND', 'proof-of-work issuance is off (tokens.powPerIpPerDay = 0)');
    const expires = this.now() + CHALLENGE_TTL_MS;
    const head = Buffer.alloc(8 + CHALLENGE_RANDOM);
    head.writeBigUInt64BE(BigInt(expires));
    randomBytes(CHALLENGE_RANDOM).copy(head, 8);
    const mac = (await this.mac('challenge', head)).subarray(0, CHALLENGE_MAC);
    return {
      challenge: toBase64Url(Buffer.concat([head, mac])),
      difficulty: this.cfg.powDifficulty,
      expiresAt: new Date(expires).toISOString(),
    };
  }

  /** POST /v1/tokens/pow: a solved, unexpired, unused challenge from an address within its quota. */
  async issueForPow(req: PowIssueRequest, ip: string): Promise<IssueResponse> {
    if (this.cfg.powPerIpPerDay === 0)
      throw new FedrankError('NOT_FOUND', 'proof-of-work issuance is off (tokens.powPerIpPerDay = 0)');
    const bytes = fromBase64Url(req.challenge);
    if (!bytes || bytes.length !== CHALLENGE_BYTES)
      throw new FedrankError('TOKEN_POW_INVALID', 'not a challenge of this server');
    const head = bytes.subarray(0, 8 + CHALLENGE_RANDOM);
    const mac = (await this.mac('challenge', head)).subarray(0, CHALLENGE_MAC);
    if (!timingSafeEqual(mac, bytes.subarray(8 + CHALLENGE_RANDOM)))
      throw new FedrankError('TOKEN_POW_INVALID', 'not a challenge of this server');
    const expires = Number(Buffer.from(head).readBigUInt64BE(0));
    if (!(this.now() < expires)) throw new FedrankError('TOKEN_POW_INVALID', 'the challenge expired');
    const ok = await checkPow(req.challenge, this.cfg.powDifficulty, req.blindedMessages, req.solution);
    if (!ok) throw new FedrankError('TOKEN_POW_INVALID', 'the solution does not solve the challenge');
    const bucket = `ip:${(await this.mac('ip', ip)).toString('base64url')}`;
    const max = this.cfg.powPerIpPerDay;
    return this.sign(req, async () => {
      if (!(await this.store.useChallenge(toBase64Url(head), expires)))
        throw new FedrankError('TOKEN_POW_INVALID', 'the challenge was already used');
      await this.take(bucket, req.blindedMessages.length, max, 'this address');
    });
  }
}

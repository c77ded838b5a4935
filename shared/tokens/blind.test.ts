import { RSABSSA } from '@cloudflare/blindrsa-ts';
import { describe, expect, it } from 'vitest';
import { finalizeTokens, importTokenKey, prepareTokens, verifyToken } from './blind.ts';
import { fromBase64Url, toBase64Url } from './codec.ts';
import type { TokenKeyInfo } from './types.ts';

const suite = RSABSSA.SHA384.PSS.Randomized();

/** A key made and used with the library alone (WebCrypto keys, the library's own BlindSign). */
async function libraryIssuer(bits = 2048) {
  const pair = await suite.generateKey({ modulusLength: bits, publicExponent: Uint8Array.of(1, 0, 1) });
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
  const info: TokenKeyInfo = {
    keyId: toBase64Url(new Uint8Array(await crypto.subtle.digest('SHA-256', spki))),
    publicKey: toBase64Url(spki),
    notBefore: '2026-01-01T00:00:00.000Z',
    issueUntil: '2026-01-08T00:00:00.000Z',
    redeemUntil: '2026-01-15T00:00:00.000Z',
  };
  const sign = async (blinded: string[]) => ({
    keyId: info.keyId,
    blindSignatures: await Promise.all(
      blinded.map(async (b) => toBase64Url(await suite.blindSign(pair.privateKey, fromBase64Url(b)!))),
    ),
  });
  return { info, sign };
}

describe('client token functions', () => {
  it('prepare, sign (by the library), finalize and verify; any change to the token breaks it', async () => {
    const issuer = await libraryIssuer();
    const key = await importTokenKey(issuer.info);
    expect(key.modulusBytes).toBe(256);
    const { request, pending } = await prepareTokens(key, 'update', 2);
    expect(request.blindedMessages).toHaveLength(2);
    // The issuer sees neither nonce: each blinded message is a uniformly random-looking residue.
    for (const [i, p] of pending.entries()) {
      const blinded = fromBase64Url(request.blindedMessages[i]!)!;
      expect(Buffer.from(blinded).includes(Buffer.from(p.nonce))).toBe(false);
    }
    const tokens = await finalizeTokens(key, pending, await issuer.sign(request.blindedMessages));
    for (const t of tokens) expect(await verifyToken(key, t)).toBe(true);
    const t = tokens[0]!;
    const flip = (b: Uint8Array, i: number) => Uint8Array.from(b, (x, j) => (j === i ? x ^ 1 : x));
    expect(await verifyToken(key, { ...t, nonce: flip(t.nonce, 3) })).toBe(false);
    expect(await verifyToken(key, { ...t, prefix: flip(t.prefix, 0) })).toBe(false);
    expect(await verifyToken(key, { ...t, signature: flip(t.signature, 100) })).toBe(false);
    expect(await verifyToken(key, { ...t, purpose: 'eval' })).toBe(false);
    expect(await verifyToken(key, { ...t, keyId: flip(t.keyId, 0) })).toBe(false);
  });

  it('finalize refuses a reply from another key or with a bad signature', async () => {
    const issuer = await libraryIssuer();
    const other = await libraryIssuer();
    const key = await importTokenKey(issuer.info);
    const { pending } = await prepareTokens(key, 'eval', 1);
    // The other issuer signs a message blinded for its own key: a residue below the issuer's modulus may not be
    // below the other's, which the library refuses to sign (that made this test fail at random).
    const forOther = await prepareTokens(await importTokenKey(other.info), 'eval', 1);
    const wrong = await other.sign(forOther.request.blindedMessages);
    await expect(finalizeTokens(key, pending, wrong)).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    await expect(finalizeTokens(key, pending, { ...wrong, keyId: issuer.info.keyId })).rejects.toMatchObject({
      code: 'TOKEN_INVALID',
      message: expect.stringMatching(/does not verify/),
    });
  });

  it('a published key must hash to its id and be large enough', async () => {
    const issuer = await libraryIssuer();
    await expect(
      importTokenKey({ ...issuer.info, keyId: toBase64Url(new Uint8Array(32)) }),
    ).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
    const small = await libraryIssuer(1024);
    await expect(importTokenKey(small.info)).rejects.toThrow(/1024 bits/);
  });
});

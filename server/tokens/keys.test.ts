import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RSABSSA } from '@cloudflare/blindrsa-ts';
import { afterEach, describe, expect, it } from 'vitest';
import { blindSign, generateTokenKey, loadTokenKey, TokenKeyRing } from './keys.ts';
import { SqliteTokenStore } from './sqlite.ts';

const vector = JSON.parse(
  readFileSync(new URL('./testdata/rfc9474-vector.json', import.meta.url), 'utf8'),
) as Record<string, string>;

const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const b64u = (n: bigint): string => {
  let h = n.toString(16);
  if (h.length % 2) h = `0${h}`;
  return Buffer.from(h, 'hex').toString('base64url');
};
const mod = (a: bigint, m: bigint): bigint => ((a % m) + m) % m;
function inverse(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [a, m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1];
  }
  return mod(s0, m);
}

/** The published test key, as a stored token key. */
async function vectorKey() {
  const [n, e, d, p, q] = ['n', 'e', 'd', 'p', 'q'].map((k) => BigInt(`0x${vector[k]}`)) as bigint[];
  const jwk = {
    kty: 'RSA',
    n: b64u(n!),
    e: b64u(e!),
    d: b64u(d!),
    p: b64u(p!),
    q: b64u(q!),
    dp: b64u(d! % (p! - 1n)),
    dq: b64u(d! % (q! - 1n)),
    qi: b64u(inverse(q!, p!)),
  };
  const priv = createPrivateKey({ key: jwk, format: 'jwk' });
  const spki = new Uint8Array(createPublicKey(priv).export({ type: 'spki', format: 'der' }));
  const pkcs8 = new Uint8Array(priv.export({ type: 'pkcs8', format: 'der' }));
  return loadTokenKey({
    keyId: Buffer.from(await crypto.subtle.digest('SHA-256', spki)).toString('base64url'),
    publicKey: spki,
    privateKey: pkcs8,
    notBefore: 0,
    issueUntil: 1,
    redeemUntil: 2,
  });
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('blindSign (RFC 9474 BlindSign over OpenSSL)', () => {
  it('reproduces the published blind signature, which finalizes to the published signature', async () => {
    const key = await vectorKey();
    const blindSig = blindSign(key, hex(vector.blinded_msg!));
    expect(Buffer.from(blindSig).toString('hex')).toBe(vector.blind_sig);
    // The library's Finalize (unblind, then RSASSA-PSS-VERIFY) accepts it and gives the published sig.
    const suite = RSABSSA.SHA384.PSS.Deterministic();
    const sig = await suite.finalize(key.verifier.key as never, hex(vector.msg!), blindSig, hex(vector.inv!));
    expect(Buffer.from(sig).toString('hex')).toBe(vector.sig);
  });

  it("agrees with @cloudflare/blindrsa-ts's own blindSign on a fresh key", async () => {
    const stored = await generateTokenKey(2048, 0, 1);
    const key = await loadTokenKey(stored);
    const suite = RSABSSA.SHA384.PSS.Randomized();
    const libKey = await crypto.subtle.importKey(
      'pkcs8',
      stored.privateKey.slice(),
      { name: 'RSA-PSS', hash: 'SHA-384' },
      true,
      ['sign'],
    );
    const input = suite.prepare(crypto.getRandomValues(new Uint8Array(32)));
    const { blindedMsg } = await suite.blind(key.verifier.key as never, input);
    const ours = blindSign(key, blindedMsg);
    expect(Buffer.from(ours)).toEqual(Buffer.from(await suite.blindSign(libKey, blindedMsg)));
  });

  it('refuses a blinded message of the wrong length or not below the modulus', async () => {
    const key = await vectorKey();
    const kLen = key.verifier.modulusBytes;
    expect(kLen).toBe(512);
    expect(() => blindSign(key, new Uint8Array(kLen - 1).fill(1))).toThrow(/must have 512 bytes/);
    expect(() => blindSign(key, new Uint8Array(kLen).fill(0xff))).toThrow(/not below the modulus/);
  });
});

describe('token key ring', () => {
  it('stores keys in a file only its owner can read, and keeps one key per epoch across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedrank-tokens-'));
    dirs.push(dir);
    const path = join(dir, 'fedrank.tokens.db');
    let now = Date.parse('2026-05-05T12:00:00Z');
    const store = new SqliteTokenStore({ path });
    const ring = new TokenKeyRing(store, { rotationDays: 7, bits: 2048 }, () => now);
    await ring.refresh(true);
    const first = ring.issuing().info;
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await store.close();
    const again = new SqliteTokenStore({ path });
    const ring2 = new TokenKeyRing(again, { rotationDays: 7, bits: 2048 }, () => now);
    await ring2.refresh(true);
    expect(ring2.issuing().info).toEqual(first);
    // Epochs are aligned to the Unix epoch, so every server process agrees on them.
    expect(Date.parse(first.notBefore) % (7 * 86_400_000)).toBe(0);
    now = Date.parse(first.issueUntil);
    await ring2.refresh(true);
    expect(ring2.issuing().info.keyId).not.toBe(first.keyId);
    expect(ring2.redeemable(first.keyId)).not.toBeNull();
    expect(ring2.published().keys.map((k) => k.keyId)).toEqual([first.keyId, ring2.issuing().info.keyId]);
    await again.close();
  });
});

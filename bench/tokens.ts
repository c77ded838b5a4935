/**
 * `npm run bench:tokens`: the cost of contribution tokens (RFC 9474 blind RSA, 2048-bit keys) on each side:
 * the device's blinding and finalizing, the server's blind signing (OpenSSL, and the library's JavaScript
 * signer for comparison), verification, a full redemption (parse, verify, durable spend in SQLite with
 * synchronous=FULL), issuance through the shop route, and the proof of work at two difficulties.
 * Writes bench/results/tokens.json. Medians over repeated runs; the machine is shared, so compare ratios.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { RSABSSA } from '@cloudflare/blindrsa-ts';
import { buildServer } from '../server/app.ts';
import { admitToken } from '../server/tokens/admit.ts';
import { blindSign, generateTokenKey, loadTokenKey } from '../server/tokens/keys.ts';
import { SqliteTokenStore } from '../server/tokens/sqlite.ts';
import { shopTokens, TEST_SHOP_SECRET } from '../server/tokens/testing.ts';
import { testConfig } from '../server/testing.ts';
import { finalizeTokens, prepareTokens, verifyToken } from '../shared/tokens/blind.ts';
import { encodeToken, fromBase64Url, toBase64Url } from '../shared/tokens/codec.ts';
import { solvePow } from '../shared/tokens/pow.ts';
import type { Token } from '../shared/tokens/types.ts';

const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** Median milliseconds of `fn` over `n` runs. */
async function time(n: number, fn: (i: number) => Promise<unknown> | unknown): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  return round(median(ms));
}

const dir = mkdtempSync(join(tmpdir(), 'fedrank-bench-tokens-'));
try {
  const keygenMs = await time(5, () => generateTokenKey(2048, 0, 86_400_000));
  const stored = await generateTokenKey(2048, 0, 86_400_000);
  const key = await loadTokenKey({ ...stored, notBefore: 0, redeemUntil: Date.now() + 86_400_000 });

  // Device: blind 1 token (RFC 9474 Prepare + Blind, @cloudflare/blindrsa-ts).
  const prepared: Awaited<ReturnType<typeof prepareTokens>>[] = [];
  const blindMs = await time(30, async () => prepared.push(await prepareTokens(key.verifier, 'update', 1)));

  // Server: BlindSign with OpenSSL (ours) and with the library's JavaScript signer.
  const blinded = prepared.map((p) => fromBase64Url(p.request.blindedMessages[0]!)!);
  const signOpensslMs = await time(300, (i) => blindSign(key, blinded[i % blinded.length]!));
  const suite = RSABSSA.SHA384.PSS.Randomized();
  const libKey = await crypto.subtle.importKey(
    'pkcs8',
    stored.privateKey.slice(),
    { name: 'RSA-PSS', hash: 'SHA-384' },
    true,
    ['sign'],
  );
  const signLibraryMs = await time(5, (i) => suite.blindSign(libKey, blinded[i]!));

  // Device: Finalize (unblind + verify).
  const tokens: Token[] = [];
  const finalizeMs = await time(prepared.length, async (i) => {
    const p = prepared[i]!;
    const sig = toBase64Url(blindSign(key, fromBase64Url(p.request.blindedMessages[0]!)!));
    tokens.push(
      ...(await finalizeTokens(key.verifier, p.pending, { keyId: key.info.keyId, blindSignatures: [sig] })),
    );
  });
  const verifyMs = await time(300, (i) => verifyToken(key.verifier, tokens[i % tokens.length]!));

  // Server: a full redemption against a file store with synchronous=FULL (the default durability).
  const store = new SqliteTokenStore({ path: join(dir, 'bench.tokens.db'), durability: 'full' });
  const many: Token[] = [];
  for (let i = 0; i < 200; i++) {
    const p = await prepareTokens(key.verifier, 'update', 1);
    const sig = toBase64Url(blindSign(key, fromBase64Url(p.request.blindedMessages[0]!)!));
    many.push(
      ...(await finalizeTokens(key.verifier, p.pending, { keyId: key.info.keyId, blindSignatures: [sig] })),
    );
  }
  const deps = {
    redeemable: (id: string) => (id === key.info.keyId ? key : null),
    spend: store.spend.bind(store),
  };
  const headers = many.map((t) => encodeToken(t));
  const redeemMs = await time(headers.length, (i) =>
    admitToken({ header: headers[i], purpose: 'update', required: true, binding: null }, deps),
  );
  const spentRows = store.counts().spent;
  await store.close();
  const dbBytes = statSync(join(dir, 'bench.tokens.db')).size; // the WAL is checkpointed at close

  // Issuance through POST /v1/tokens/issue (8 tokens per request), server and device together, in process.
  const s = await buildServer(
    testConfig({ tokens: { required: true, shopSecret: TEST_SHOP_SECRET, perSessionPerDay: 10_000 } }),
    { logger: false },
  );
  await shopTokens(s.app, 'update', 1); // the epoch's key is generated on first use
  const issue8Ms = await time(5, (i) => shopTokens(s.app, 'update', 8, `bench-session-${i}`));
  await s.close();

  // Proof of work (Node's WebCrypto SHA-256; a browser worker is slower per hash).
  const pow: Record<string, number> = {};
  for (const d of [12, 16]) {
    pow[`difficulty${d}Ms`] = await time(5, (i) =>
      solvePow(toBase64Url(new Uint8Array(40).fill(i)), d, prepared[0]!.request.blindedMessages),
    );
  }

  const result = {
    suite: 'RSABSSA-SHA384-PSS-Randomized',
    keyBits: 2048,
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
    device: { blindPerTokenMs: blindMs, finalizePerTokenMs: finalizeMs },
    server: {
      keygenMs,
      blindSignOpensslMs: signOpensslMs,
      blindSignLibraryJsMs: signLibraryMs,
      libraryToOpensslRatio: round(signLibraryMs / signOpensslMs, 0),
      verifyMs,
      redeemMs,
      issueViaShopRoute8TokensMs: issue8Ms,
      spentBytesPerToken: round(dbBytes / spentRows, 0),
    },
    proofOfWork: pow,
    notes: [
      'Medians. blindPerTokenMs and finalizePerTokenMs are @cloudflare/blindrsa-ts in Node (not measured in a browser here).',
      'blindSignOpensslMs: node:crypto raw RSA (CRT, OpenSSL blinding) plus the RFC 9474 m == s^e check; blindSignLibraryJsMs: the library blindSign (non-CRT bignum in JavaScript) on the same key.',
      'redeemMs: parse + RSASSA-PSS verify + INSERT of the nonce in its own transaction with synchronous=FULL (one fsync per redemption).',
      'issueViaShopRoute8TokensMs: device blinding, the shop route (HTTP inject, quota, 8 blind signatures) and finalizing, in one process.',
      'proofOfWork: expected 2^d SHA-256 evaluations through WebCrypto, hashed in batches of 256 (Node; not measured in a browser here).',
      'This 2-core machine was shared with other jobs during the run.',
    ],
  };
  const outDir = new URL('./results/', import.meta.url).pathname;
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'tokens.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

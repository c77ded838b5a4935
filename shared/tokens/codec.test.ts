import { describe, expect, it } from 'vitest';
import {
  encodeToken,
  fromBase64Url,
  parseIssueRequest,
  parseIssueResponse,
  parsePowIssueRequest,
  parseShopIssueRequest,
  parseToken,
  parseTokenKeys,
  toBase64Url,
} from './codec.ts';
import type { Token } from './types.ts';

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
const b64 = (n: number, fill = 7): string => toBase64Url(bytes(n, fill));

describe('base64url', () => {
  it('matches Node for every length and refuses non-canonical text', () => {
    for (let n = 0; n < 70; n++) {
      const b = crypto.getRandomValues(new Uint8Array(n));
      const text = toBase64Url(b);
      expect(text).toBe(Buffer.from(b).toString('base64url'));
      expect(fromBase64Url(text)).toEqual(b);
    }
    // 'AB' and 'AA' differ only in bits beyond the byte: one value, one text.
    expect(fromBase64Url('AA')).toEqual(new Uint8Array([0]));
    expect(fromBase64Url('AB')).toBeNull();
    for (const t of ['A', 'AA==', 'a+b/', 'ab cd', 'é']) expect(fromBase64Url(t)).toBeNull();
  });
});

describe('token header', () => {
  const token: Token = {
    purpose: 'eval',
    keyId: bytes(32, 1),
    nonce: bytes(32, 2),
    prefix: bytes(32, 3),
    signature: bytes(256, 4),
  };

  it('round-trips', () => {
    expect(parseToken(encodeToken(token))).toEqual(token);
  });

  it('refuses other versions, purposes and lengths with TOKEN_INVALID', () => {
    const raw = fromBase64Url(encodeToken(token))!;
    const variants = [
      Uint8Array.from(raw, (b, i) => (i === 0 ? 2 : b)),
      Uint8Array.from(raw, (b, i) => (i === 1 ? 3 : b)),
      Uint8Array.from(raw, (b, i) => (i === 1 ? 0 : b)),
      raw.slice(0, raw.length - 1),
      raw.slice(0, 98 + 255),
      new Uint8Array([...raw, ...bytes(300, 0)]),
    ];
    for (const v of variants)
      expect(() => parseToken(toBase64Url(v))).toThrow(expect.objectContaining({ code: 'TOKEN_INVALID' }));
    expect(() => parseToken('not base64!')).toThrow(expect.objectContaining({ code: 'TOKEN_INVALID' }));
  });
});

describe('message validators', () => {
  const req = { keyId: b64(32), blindedMessages: [b64(256), b64(256, 9)] };

  it('accept well-formed messages and drop unknown fields', () => {
    expect(parseIssueRequest({ ...req, extra: 1 })).toEqual(req);
    expect(parseShopIssueRequest({ ...req, sessionId: 'sess-12345' })).toEqual({
      ...req,
      sessionId: 'sess-12345',
    });
    const pow = { ...req, challenge: b64(40), solution: b64(8) };
    expect(parsePowIssueRequest(pow)).toEqual(pow);
    expect(parseIssueResponse({ keyId: req.keyId, blindSignatures: req.blindedMessages })).toEqual({
      keyId: req.keyId,
      blindSignatures: req.blindedMessages,
    });
  });

  it('refuse what is malformed with BAD_REQUEST naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [null, /issue must be an object/],
      [{ ...req, keyId: b64(31) }, /issue.keyId must hold 32 bytes/],
      [{ ...req, blindedMessages: [] }, /blindedMessages must be a list of 1-32/],
      [{ ...req, blindedMessages: Array(33).fill(b64(256)) }, /blindedMessages must be a list/],
      [{ ...req, blindedMessages: [b64(256), b64(384)] }, /must have the length of the others/],
      [{ ...req, blindedMessages: [b64(100)] }, /must hold 256-512 bytes/],
      [{ ...req, blindedMessages: ['%%%'] }, /must be unpadded base64url/],
      [JSON.parse('{"__proto__": 1}'), /__proto__ is not allowed/],
    ];
    for (const [x, re] of cases)
      expect(() => parseIssueRequest(x)).toThrow(
        expect.objectContaining({ code: 'BAD_REQUEST', message: expect.stringMatching(re) }),
      );
    expect(() => parseShopIssueRequest({ ...req, sessionId: 'short' })).toThrow(/sessionId/);
    expect(() => parsePowIssueRequest({ ...req, challenge: b64(40), solution: b64(9) })).toThrow(
      /issue.solution must/,
    );
  });

  it('key lists need the suite, ordered windows and a 32-byte id', () => {
    const key = {
      keyId: b64(32),
      publicKey: b64(294),
      notBefore: '2026-01-01T00:00:00.000Z',
      issueUntil: '2026-01-08T00:00:00.000Z',
      redeemUntil: '2026-01-15T00:00:00.000Z',
    };
    const suite = 'RSABSSA-SHA384-PSS-Randomized';
    expect(parseTokenKeys({ suite, keys: [key] }).keys).toEqual([key]);
    expect(() => parseTokenKeys({ suite: 'RSABSSA-SHA384-PSSZERO-Deterministic', keys: [] })).toThrow(
      /suite/,
    );
    expect(() => parseTokenKeys({ suite, keys: [{ ...key, redeemUntil: key.notBefore }] })).toThrow(
      /notBefore < issueUntil <= redeemUntil/,
    );
  });
});

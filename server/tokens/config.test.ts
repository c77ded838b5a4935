import { describe, expect, it } from 'vitest';
import { makeConfig } from '../config.ts';
import { resolveShopSecret, tokenDbPath } from './config.ts';

describe('tokens configuration', () => {
  it('defaults to required tokens with quotas, and checks every key', () => {
    const c = makeConfig({ operatorToken: 'x'.repeat(16) }).tokens;
    expect(c).toMatchObject({ required: true, perSessionPerDay: 16, keyBits: 2048, keyRotationDays: 7 });
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ required: 'yes' }, /tokens.required: must be true or false/],
      [{ keyBits: 1024 }, /tokens.keyBits: must be 2048, 3072 or 4096/],
      [{ powDifficulty: 31 }, /tokens.powDifficulty: must be an integer in \[0, 30\]/],
      [{ perSessionPerDay: 0 }, /tokens.perSessionPerDay/],
      [{ keyRotationDays: 0.5 }, /tokens.keyRotationDays/],
      [{ nonsense: 1 }, /tokens.nonsense: unknown key/],
    ];
    for (const [tokens, re] of bad)
      expect(() => makeConfig({ tokens })).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(re) }),
      );
  });

  it('puts the token file beside the database, and takes the shop secret from the environment first', () => {
    const c = makeConfig({}).tokens;
    expect(tokenDbPath(c, 'data/fedrank.db')).toBe('data/fedrank.tokens.db');
    expect(tokenDbPath(c, ':memory:')).toBe(':memory:');
    expect(tokenDbPath({ ...c, db: '/var/x.db' }, 'data/fedrank.db')).toBe('/var/x.db');
    expect(resolveShopSecret({ ...c, shopSecret: 'from-config-0123456' }, {})).toBe('from-config-0123456');
    expect(
      resolveShopSecret(
        { ...c, shopSecret: 'from-config-0123456' },
        { FEDRANK_SHOP_SECRET: 'from-env-0123456789' },
      ),
    ).toBe('from-env-0123456789');
    expect(resolveShopSecret(c, {})).toBeNull();
    expect(() => resolveShopSecret({ ...c, shopSecret: 'short' }, {})).toThrow(/at least 16/);
  });
});

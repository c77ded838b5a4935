import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig, makeConfig, readConfigFile } from './config.ts';
import { resolveOperatorToken } from './operator-token.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedrank-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ROOT = new URL('..', import.meta.url).pathname;

describe('configuration', () => {
  it('defaults validate, and later layers override earlier ones deeply', () => {
    expect(makeConfig()).toEqual(defaultConfig());
    const file = { port: 9000, rounds: { minClients: 4, maxClients: 20 }, training: { noiseMultiplier: 2 } };
    const c = makeConfig(file, { port: 9001 });
    expect(c.port).toBe(9001);
    expect(c.rounds).toMatchObject({ minClients: 4, maxClients: 20, maxStaleness: 2 });
    expect(c.training).toMatchObject({ noiseMultiplier: 2, clipNorm: 1 });
    expect(makeConfig({ training: { lossReduction: 'sum' } }).training.lossReduction).toBe('sum');
    const decay = { start: 100, end: 300, final: 0.1 };
    expect(makeConfig({ optimizer: { decay } }).optimizer).toMatchObject({ decay });
  });

  it('rejects bad values with one line naming the key', () => {
    const cases: [unknown, RegExp][] = [
      [{ port: 70000 }, /^.*port: must be an integer in \[0, 65535\]/],
      [{ rounds: { minClients: 5, maxClients: 3 } }, /rounds\.maxClients: must be >= minClients/],
      [{ training: { noiseMode: 'global' } }, /training\.noiseMode: must be one of 'local', 'distributed'/],
      [
        {
          training: { noiseMode: 'distributed', expectedClientsPerRound: 9 },
          privacy: { secureAggregation: true },
        },
        /expectedClientsPerRound: must be <= rounds\.minClients/,
      ],
      [
        { privacy: { samplingRate: 0.1 } },
        /privacy\.samplingRate: amplification by sampling is not available/,
      ],
      // Nothing samples the clients of a round: a sampling claim would report epsilon ~2 where ~655 is true.
      [
        {
          privacy: { samplingRate: 0.01, populationSize: 10_000 },
          rounds: { minClients: 50, maxClients: 100 },
        },
        /privacy\.samplingRate: amplification by sampling is not available: no round samples its clients/,
      ],
      [
        { training: { noiseMode: 'distributed' } },
        /training\.noiseMode: distributed noise needs privacy\.secureAggregation/,
      ],
      [{ privacy: { maxContributions: 0 } }, /privacy\.maxContributions/],
      [
        { privacy: { epsilonBudget: 5 }, training: { noiseMultiplier: 0 } },
        /sigma 0 spends infinite epsilon/,
      ],
      [{ allowedOrigins: ['shop.example'] }, /allowedOrigins/],
      [{ optimizer: { kind: 'fedadam', learningRate: 0.1 } }, /optimizer\.beta1/],
      [
        {
          optimizer: {
            kind: 'fedadam',
            learningRate: 0.1,
            beta1: 0.9,
            beta2: 0.99,
            tau: 1e-3,
            biasCorrection: 1,
          },
        },
        /optimizer\.biasCorrection: must be true or false/,
      ],
      [{ training: { sharedNegatives: 5000 } }, /training\.sharedNegatives/],
      [{ training: { lossReduction: 'avg' } }, /training\.lossReduction: must be one of 'mean', 'sum'/],
      [
        { optimizer: { decay: { start: 10, end: 10, final: 0 } } },
        /optimizer\.decay\.end: must be an integer in \[11,/,
      ],
      [{ optimizer: { decay: { start: 0, end: 5, final: 2 } } }, /optimizer\.decay\.final/],
      [{ optimizer: { decay: { start: 0, end: 5 } } }, /optimizer\.decay\.final/],
      [{ optimizer: { decay: 3 } }, /optimizer\.decay: must be an object/],
      [{ typo: true }, /typo: unknown key/],
      [[1, 2], /must be a JSON object/],
    ];
    for (const [over, re] of cases) {
      let message = '';
      try {
        makeConfig(over);
      } catch (err) {
        message = (err as Error).message;
        expect((err as { code: string }).code).toBe('CONFIG_INVALID');
      }
      expect(message).toMatch(re);
      expect(message).not.toContain('\n');
    }
  });

  it('store: a postgres:// URL, or absent for SQLite at db', () => {
    expect(makeConfig().store).toBeUndefined();
    expect(makeConfig({ store: 'postgres://u@db.internal:5432/fedrank' }).store).toBe(
      'postgres://u@db.internal:5432/fedrank',
    );
    expect(() => makeConfig({ store: 'mysql://u@h/db' })).toThrow(/store: must be a postgres:\/\//);
    expect(() => makeConfig({ store: 5 })).toThrow(/store/);
    // Secure aggregation shares its round state through the same database (server/secagg/store-postgres.ts).
    expect(
      makeConfig({
        store: 'postgres://u@db.internal:5432/fedrank',
        privacy: { secureAggregation: true },
        training: { noiseMode: 'distributed', expectedClientsPerRound: 1 },
      }).privacy.secureAggregation,
    ).toBe(true);
  });

  it('reads a config file; a missing file or bad JSON is CONFIG_INVALID', () => {
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ port: 1234 }));
    expect(makeConfig(readConfigFile(good)).port).toBe(1234);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ nope');
    expect(() => readConfigFile(bad)).toThrow(/not valid JSON/);
    expect(() => readConfigFile(join(dir, 'missing.json'))).toThrow(/cannot read \(ENOENT\)/);
  });

  it('operator token: env first, then config, then the token file; never a default', () => {
    const c = makeConfig();
    expect(() => resolveOperatorToken(c, {})).toThrow(/no operator token/);
    expect(resolveOperatorToken(c, { FEDRANK_OPERATOR_TOKEN: 'from-the-environment-123' })).toBe(
      'from-the-environment-123',
    );
    const file = join(dir, 'token');
    writeFileSync(file, 'from-the-token-file-4567\n');
    expect(resolveOperatorToken(makeConfig({ operatorTokenFile: file }), {})).toBe(
      'from-the-token-file-4567',
    );
    expect(() => resolveOperatorToken(makeConfig({ operatorToken: 'short' }), {})).toThrow(/at least 16/);
  });

  it('`fedrank serve` on an in-memory database refuses to start without a token: one line, exit 2', () => {
    const env = { ...process.env };
    delete env.FEDRANK_OPERATOR_TOKEN;
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/fedrank.mjs'), 'serve', '--db', ':memory:'], {
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^fedrank: CONFIG_INVALID: operatorToken: an in-memory database needs/);
  });
});

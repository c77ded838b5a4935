/** `fedrank privacy explain` on the example configurations of docs/, checked against the accountant. */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { computeEpsilon } from '../shared/dp/accountant.ts';
import { defaultConfig } from '../server/config.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = resolve(ROOT, 'bin/fedrank.mjs');
const EXAMPLES = resolve(ROOT, 'docs/examples');

function explain(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BIN, 'privacy', 'explain', ...args],
      { cwd: ROOT, timeout: 60_000 },
      (err, stdout, stderr) =>
        done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

interface Example {
  training: { noiseMultiplier: number; noiseMode: 'local' | 'distributed'; expectedClientsPerRound: number };
  rounds: { minClients: number; maxStaleness?: number; stalenessAlpha?: number };
  privacy: {
    delta: number;
    maxContributions: number;
    deviceEpsilonBudget: number;
    secureAggregation?: boolean;
  };
}

const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.json'));

describe('fedrank privacy explain', () => {
  it('has three example configurations in docs/examples', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });

  it.each(files)(
    "%s: the epsilon per party is the accountant's for the mechanism as configured",
    async (file) => {
      const c = JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')) as Example;
      const r = await explain('--config', join(EXAMPLES, file), '--json');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const g = JSON.parse(r.stdout);
      const { delta, maxContributions: k } = c.privacy;
      const t = c.rounds.minClients;
      const sigma = c.training.noiseMultiplier;
      // The other t-1 clients' noise at the least staleness weight the server gives (defaults 2 and 0.5).
      const d = defaultConfig().rounds;
      const w =
        (1 + (c.rounds.maxStaleness ?? d.maxStaleness)) ** -(c.rounds.stalenessAlpha ?? d.stalenessAlpha);
      const others = Math.sqrt(1 + (t - 1) * w * w);
      const eps = (s: number): number => computeEpsilon({ q: 1, sigma: s, steps: k, delta }).epsilon;
      expect(g.participation).toMatchObject({ maxContributions: k, limitedBy: 'privacy.maxContributions' });
      if (c.training.noiseMode === 'local') {
        // The server sees each upload; observers see sums of at least t uploads.
        expect(g.server.epsilon).toBeCloseTo(eps(sigma), 9);
        expect(g.observers.epsilon).toBeCloseTo(eps(sigma * others), 9);
      } else {
        expect(c.privacy.secureAggregation).toBe(true);
        const honestSum = (sigma / Math.sqrt(c.training.expectedClientsPerRound)) * others;
        expect(g.server.epsilon).toBeCloseTo(eps(honestSum), 9);
        expect(g.observers.epsilon).toBeCloseTo(eps(honestSum), 9);
      }
      expect(g.server.epsilon).toBeLessThanOrEqual(c.privacy.deviceEpsilonBudget);
      expect(g.server.delta).toBe(delta);
      expect(g.server.assumptions.join(' ')).toMatch(new RegExp(`at most ${k} times`));
      // The same figures in words, each naming its party.
      const words = (await explain('--config', join(EXAMPLES, file))).stdout;
      expect(words).toContain(
        `Against the aggregation server and its operator: epsilon ${g.server.epsilon.toFixed(2)} at delta ${delta}`,
      );
      expect(words).toContain(
        `Against anyone who downloads a model: epsilon ${g.observers.epsilon.toFixed(2)} at delta ${delta}`,
      );
      expect(words).toMatch(/no amplification by sampling/);
    },
  );

  it.each([...files, '{}'])(
    '%s: docs/privacy.md (and the README for the defaults) shows the same figures',
    async (file) => {
      // '{}' is the defaults: an empty configuration file.
      const dir = mkdtempSync(join(tmpdir(), 'fedrank-explain-'));
      const path = file === '{}' ? join(dir, 'empty.json') : join(EXAMPLES, file);
      if (file === '{}') writeFileSync(path, '{}');
      const g = JSON.parse((await explain('--config', path, '--json')).stdout);
      rmSync(dir, { recursive: true, force: true });
      const doc = readFileSync(resolve(ROOT, 'docs/privacy.md'), 'utf8');
      const row = doc.split('\n').find((l) => l.startsWith('|') && l.includes(`\`${file}\``));
      expect(row, `a row for ${file} in docs/privacy.md`).toBeDefined();
      const cells = row!.split('|').map((c) => c.trim());
      expect(cells).toContain(g.server.epsilon.toFixed(2));
      expect(cells).toContain(g.observers.epsilon.toFixed(2));
      if (file === '{}')
        expect(readFileSync(resolve(ROOT, 'README.md'), 'utf8')).toContain(
          `ε = ${g.server.epsilon.toFixed(2)} against the server, ${g.observers.epsilon.toFixed(2)} against model observers`,
        );
    },
  );

  it('explains why distributed noise without secure aggregation is refused, and refuses sampling claims', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedrank-explain-'));
    try {
      const path = join(dir, 'c.json');
      writeFileSync(path, JSON.stringify({ training: { noiseMode: 'distributed' } }));
      const r = await explain('--config', path);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/distributed noise needs privacy\.secureAggregation/);
      writeFileSync(path, JSON.stringify({ privacy: { samplingRate: 0.01, populationSize: 100000 } }));
      expect((await explain('--config', path)).stderr).toMatch(/no round samples its clients/);
      expect((await explain()).stderr).toMatch(/--config FILE is required/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigInvalidError } from './config-check.ts';
import { makeConfig, readConfigFile } from './config.ts';
import { TRAINING_FIELDS, parseTrainingConfig, type TrainingField } from '../shared/protocol-parse.ts';
import type { TrainingConfig } from '../shared/protocol.ts';

const dir = mkdtempSync(join(tmpdir(), 'fedrank-config-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ROOT = new URL('..', import.meta.url).pathname;

function problems(...over: unknown[]): { path: string; reason: string }[] {
  try {
    makeConfig(...over);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigInvalidError);
    return [...(err as ConfigInvalidError).problems];
  }
  return [];
}

describe('config errors', () => {
  it('reports every problem at once, each with its JSON path and reason', () => {
    const found = problems({
      port: 70000,
      host: 'bad host!',
      allowedOrigins: ['https://ok.example', 'shop.example/path'],
      rounds: { minClients: 5, maxClients: 3 },
      training: { batchSize: 0, noiseMode: 'global' },
      limits: { jsonBodyBytes: 1 },
      typo: 1,
    });
    expect(found.map((p) => p.path).sort()).toEqual(
      [
        'allowedOrigins[1]',
        'host',
        'limits.jsonBodyBytes',
        'port',
        'rounds.maxClients',
        'training.batchSize',
        'training.noiseMode',
        'typo',
      ].sort(),
    );
    for (const p of found) expect(p.reason.length).toBeGreaterThan(5);
    let message = '';
    try {
      makeConfig({ port: -1, rounds: { minClients: 0 } });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/2 problems: port: .*; rounds\.minClients: /);
    expect(message).not.toContain('\n');
  });

  it('a JSON syntax error names the file, line and column (not a character position)', () => {
    const file = join(dir, 'commented.json');
    writeFileSync(file, '{\n  "port": 8787,\n  // the storefronts\n  "allowedOrigins": []\n}\n');
    expect(() => readConfigFile(file)).toThrow(
      new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:3: not valid JSON: .*no comments`),
    );
    const trailing = join(dir, 'trailing.json');
    writeFileSync(trailing, '{\n  "port": 8787,\n}\n');
    let message = '';
    try {
      readConfigFile(trailing);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/trailing\.json:3:1: not valid JSON/);
    expect(message).not.toMatch(/position/);
  });
});

/** Values just inside and just outside a field's bounds, from the shared table itself. */
function edges(f: TrainingField): { good: unknown[]; bad: unknown[] } {
  switch (f.kind) {
    case 'positive':
      return { good: [f.max, f.max / 2], bad: [0, -1, f.max * 1.5, Infinity, '1', null] };
    case 'nonNegative':
      return { good: [0, f.max], bad: [-1e-9, f.max * 2, NaN, '1'] };
    case 'integer':
      return { good: [f.min, f.max], bad: [f.min - 1, f.max + 1, f.min + 0.5, '1'] };
    case 'oneOf':
      return { good: [...f.values], bad: ['nope', 1, ''] };
  }
}

describe('training settings: one table of bounds for server config and device manifest', () => {
  const base = (): TrainingConfig => ({ ...makeConfig().training, noiseMode: 'local' });
  // Far rounds, so the cross-section rule on expectedClientsPerRound never hides a bound.
  const rounds = { minClients: 1e9, maxClients: 1e9 };
  // Nor the privacy rules (distributed noise and secure aggregation go together; a budget needs noise).
  const privacyOf = (t: TrainingConfig) => ({
    secureAggregation: t.noiseMode === 'distributed',
    epsilonBudget: null,
  });

  for (const [key, field] of Object.entries(TRAINING_FIELDS) as [keyof TrainingConfig, TrainingField][]) {
    it(`${key}: the server accepts exactly what devices accept, with the same reason`, () => {
      const { good, bad } = edges(field);
      for (const v of good) {
        const training = { ...base(), [key]: v };
        expect(parseTrainingConfig(training)[key]).toBe(v);
        expect(makeConfig({ training, rounds, privacy: privacyOf(training) }).training[key]).toBe(v);
      }
      for (const v of bad) {
        const training = { ...base(), [key]: v };
        let device = '';
        try {
          parseTrainingConfig(training);
        } catch (err) {
          device = (err as { detail: string }).detail;
        }
        expect(device.startsWith(`training.${key} `)).toBe(true);
        const server = problems({ training, rounds, privacy: privacyOf(training) });
        expect(server).toEqual([
          { path: `training.${key}`, reason: device.slice(`training.${key} `.length) },
        ]);
      }
    });
  }

  it('settings every device would refuse no longer start a server', () => {
    for (const t of [{ noiseMultiplier: 2e4 }, { clipNorm: 5e6 }, { batchSize: 5e5 }]) {
      const [p] = problems({ training: t });
      expect(p!.path).toBe(`training.${Object.keys(t)[0]}`);
    }
  });
});

/** Every ```json block whose fence names `fedrank.json` in the READMEs and docs/ (recursively). */
function configExamples(): { file: string; text: string }[] {
  const files = [join(ROOT, 'README.md'), join(ROOT, 'server/README.md')];
  const walk = (d: string): void => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f.endsWith('.md')) files.push(p);
    }
  };
  walk(join(ROOT, 'docs'));
  const out: { file: string; text: string }[] = [];
  for (const file of files) {
    const md = readFileSync(file, 'utf8');
    for (const m of md.matchAll(/^```json[^\n]*fedrank\.json[^\n]*\n([\s\S]*?)^```/gm))
      out.push({ file: file.slice(ROOT.length), text: m[1]! });
  }
  return out;
}

describe('documented config examples', () => {
  it('every config example in the docs parses as is and validates', () => {
    const examples = configExamples();
    expect(examples.map((e) => e.file)).toContain('server/README.md');
    examples.forEach((e, i) => {
      const file = join(dir, `example-${i}.json`);
      writeFileSync(file, e.text);
      expect(() => makeConfig(readConfigFile(file)), e.file).not.toThrow();
    });
  });
});

/** `fedrank privacy` end to end, as an operator runs it: a child process per command. */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { computeEpsilon } from '../shared/dp/accountant.ts';
import { ORDER_SETS } from '../shared/dp/rdp.ts';
import { run } from './privacy.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = resolve(ROOT, 'bin/fedrank.mjs');
const VECTORS = resolve(
  ROOT,
  process.env.FEDRANK_DP_VECTORS ?? '../shared/reference/dp-accounting-vectors.json',
);

function fedrank(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BIN, 'privacy', ...args],
      { cwd: ROOT, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

describe('fedrank privacy epsilon', () => {
  it('prints one JSON line with epsilon, order and the inputs, equal to the library', async () => {
    const r = await fedrank(
      'epsilon',
      '--q',
      '0.0025',
      '--sigma',
      '1.3',
      '--steps',
      '6000',
      '--delta',
      '1e-5',
      '--orders',
      'O1',
    );
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]!);
    const want = computeEpsilon({ q: 0.0025, sigma: 1.3, steps: 6000, delta: 1e-5, orders: ORDER_SETS.O1 });
    expect(out).toEqual({
      ...want,
      q: 0.0025,
      sigma: 1.3,
      steps: 6000,
      delta: 1e-5,
      orders: 'O1',
      conversion: 'improved',
    });
  });

  it.runIf(existsSync(VECTORS))('reproduces a published reference vector', async () => {
    const v = (
      JSON.parse(readFileSync(VECTORS, 'utf8')) as { vectors: Record<string, unknown>[] }
    ).vectors.find((x) => x.epsilon !== undefined && x.conversion === 'classic')!;
    const places = Number(/(\d+) decimal/.exec(String(v.tolerance))![1]);
    const r = await fedrank(
      'epsilon',
      `--q=${v.q}`,
      `--sigma=${v.sigma}`,
      `--steps=${v.steps}`,
      `--delta=${v.delta}`,
      `--orders=${v.orders}`,
      `--conversion=${v.conversion}`,
    );
    expect(r.code).toBe(0);
    expect(Math.abs(JSON.parse(r.stdout).epsilon - Number(v.epsilon))).toBeLessThan(0.5 * 10 ** -places);
  });

  it('accepts a comma list of orders and the classic conversion', async () => {
    const r = await fedrank(
      'epsilon',
      '--q',
      '0.01',
      '--sigma',
      '4',
      '--steps',
      '10000',
      '--delta',
      '1e-5',
      '--orders',
      '2,4,8,16,20.5,32',
      '--conversion',
      'classic',
    );
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    const want = computeEpsilon({
      q: 0.01,
      sigma: 4,
      steps: 10000,
      delta: 1e-5,
      orders: [2, 4, 8, 16, 20.5, 32],
      conversion: 'classic',
    });
    expect(out.epsilon).toBe(want.epsilon);
    expect(out.order).toBe(want.order);
    expect(out.orders).toEqual([2, 4, 8, 16, 20.5, 32]);
  });
});

describe('fedrank privacy sigma', () => {
  it('prints the noise multiplier that meets the target epsilon', async () => {
    const r = await fedrank('sigma', '--q', '0.01', '--steps', '10000', '--delta', '1e-5', '--epsilon', '4');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    const eps = computeEpsilon({ q: 0.01, sigma: out.sigma, steps: 10000, delta: 1e-5 }).epsilon;
    expect(eps).toBeLessThanOrEqual(4);
    expect(eps).toBeGreaterThan(4 * (1 - 1e-6));
    expect(out.epsilon).toBe(eps);
  });
});

describe('bad arguments', () => {
  it('exit 2 with one line on stderr, from a real process', async () => {
    const r = await fedrank('epsilon', '--q', '1.5', '--sigma', '1', '--steps', '10', '--delta', '1e-5');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining('CLI_BAD_ARGUMENT: --q')]);
  });

  // The same checks in-process (cheap): run() returns the exit code and writes one line to stderr.
  it.each([
    [['epsilon', '--q', '0.1', '--sigma', '0', '--steps', '10', '--delta', '1e-5'], '--sigma'],
    [['epsilon', '--q', '0.1', '--sigma', '1', '--steps', '2.5', '--delta', '1e-5'], '--steps'],
    [['epsilon', '--q', '0.1', '--sigma', '1', '--steps', '10', '--delta', '0'], '--delta'],
    [['epsilon', '--q', '0.1', '--sigma', '1', '--steps', '10'], '--delta'],
    [
      ['epsilon', '--q', '0.1', '--sigma', '1', '--steps', '10', '--delta', '1e-5', '--orders', 'O7'],
      '--orders',
    ],
    [
      ['epsilon', '--q', '0.1', '--sigma', '1', '--steps', '10', '--delta', '1e-5', '--orders', '2,1e9'],
      '--orders',
    ],
    [
      ['epsilon', '--q', '0.1', '--sigma', '1', '--steps', '10', '--delta', '1e-5', '--conversion', 'best'],
      '--conversion',
    ],
    [
      ['epsilon', '--q', '0.1', '--sigma', '1', '--steps', '10', '--delta', '1e-5', '--sigmaa', '2'],
      '--sigmaa',
    ],
    [['epsilon', '--q', '0.1', '--sigma', '1', '--steps', '10', '--delta', '1e-5', 'extra'], 'extra'],
    [['sigma', '--q', '0.1', '--steps', '10', '--delta', '1e-5', '--epsilon', '-1'], '--epsilon'],
    [['budget'], 'budget'],
  ])('%j returns 2 with one line naming %s', async (args, what) => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await run(args)).toBe(2);
      expect(out).not.toHaveBeenCalled();
      expect(err).toHaveBeenCalledTimes(1);
      const line = String(err.mock.calls[0]![0]);
      expect(line.trim().split('\n')).toHaveLength(1);
      expect(line).toContain('CLI_BAD_ARGUMENT');
      expect(line).toContain(what);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });

  it('prints usage on --help', async () => {
    const r = await fedrank('epsilon', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('fedrank privacy epsilon --q Q --sigma S --steps T --delta D');
  });
});

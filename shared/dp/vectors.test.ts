/**
 * The published reference vectors (../shared/reference/dp-accounting-vectors.json, or FEDRANK_DP_VECTORS):
 * every one must be reproduced to the tolerance its source uses.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { computeEpsilon } from './accountant.ts';
import { ORDER_SETS, computeRdp, type Conversion, type OrderSetName } from './rdp.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FILE = resolve(
  REPO_ROOT,
  process.env.FEDRANK_DP_VECTORS ?? '../shared/reference/dp-accounting-vectors.json',
);
const present = existsSync(FILE);

interface Vector {
  source: string;
  q: number;
  sigma: number;
  steps: number;
  delta?: number;
  orders?: string;
  conversion?: string;
  epsilon?: number;
  rdp_order?: number;
  rdp?: number;
  tolerance: string;
  note?: string;
}

/** "N decimal places" as Python's assertAlmostEqual(places=N): |got - want| rounds to 0 at N places. */
function tolerance(text: string): number {
  const m = /^(\d+) decimal places?$/.exec(text.trim());
  if (!m) throw new Error(`unrecognized tolerance '${text}'`);
  return 0.5 * 10 ** -Number(m[1]);
}

const run = present || Boolean(process.env.CI);

describe.runIf(run)('dp-accounting reference vectors', () => {
  const vectors: Vector[] = present
    ? (JSON.parse(readFileSync(FILE, 'utf8')) as { vectors: Vector[] }).vectors
    : [];

  it('the reference file exists and holds vectors', () => {
    expect(present, `reference vectors not found at ${FILE}`).toBe(true);
    expect(vectors.length).toBeGreaterThan(0);
  });

  it.each(vectors.map((v, k) => [k, v] as const))('vector %i reproduces its source', (_k, v) => {
    const tol = tolerance(v.tolerance);
    if (v.rdp_order !== undefined) {
      const [rdp] = computeRdp(v.q, v.sigma, v.steps, [v.rdp_order]);
      expect(Math.abs(rdp! - v.rdp!), `${v.source}: rdp ${rdp} vs ${v.rdp}`).toBeLessThan(tol);
      return;
    }
    expect(Object.hasOwn(ORDER_SETS, v.orders!), `unknown order set ${v.orders}`).toBe(true);
    const got = computeEpsilon({
      q: v.q,
      sigma: v.sigma,
      steps: v.steps,
      delta: v.delta!,
      orders: ORDER_SETS[v.orders as OrderSetName],
      conversion: v.conversion as Conversion,
    });
    expect(
      Math.abs(got.epsilon - v.epsilon!),
      `${v.source}: epsilon ${got.epsilon} vs ${v.epsilon}`,
    ).toBeLessThan(tol);
  });

  it('matches the note of the first vector: the same inputs with the classic conversion', () => {
    const v = vectors.find((x) => x.note?.includes('classic conversion'));
    if (!v) return;
    const want = Number(/classic conversion: ([\d.]+)/.exec(v.note!)![1]);
    const got = computeEpsilon({
      ...v,
      delta: v.delta!,
      orders: ORDER_SETS[v.orders as OrderSetName],
      conversion: 'classic',
    });
    expect(Math.abs(got.epsilon - want)).toBeLessThan(0.5e-9);
  });
});

// Without the file (and outside CI), say so in the report rather than passing silently.
if (!run) {
  describe('dp-accounting reference vectors (file absent)', () => {
    it.skip(`skipped: ${FILE} not found (set FEDRANK_DP_VECTORS; CI fails instead of skipping)`, () => {});
  });
}

import { describe, expect, it } from 'vitest';
import { FedrankError } from '../shared/errors.ts';
import { parseEvalArgs } from './config.ts';
import { federatedOf } from './settings.ts';
import { childArgs } from './parallel.ts';
import { renderPlot, ticks } from './plot.ts';
import { formatDuration, Progress } from './progress.ts';
import { markdownTable } from './report.ts';
import type { RunResult } from './runner.ts';

function badArg(argv: string[]): string {
  try {
    parseEvalArgs(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(FedrankError);
    expect((err as FedrankError).code).toBe('CLI_BAD_ARGUMENT');
    return (err as FedrankError).detail ?? '';
  }
  return 'accepted';
}

describe('fedrank eval options', () => {
  it('the beauty preset without --mode is the whole table', () => {
    const c = parseEvalArgs(['--data', 'd', '--preset', 'beauty']);
    expect(c.runs.map((r) => r.label)).toEqual([
      'popularity',
      'centralized',
      'federated, no noise',
      'private, ε=16',
      'private, ε=8',
      'private, ε=4',
      'private, ε=2',
      'private, ε=1',
    ]);
    // The preset is the reported run: test targets, two processes, the plot beside the results.
    expect(c.split).toBe('test');
    expect(c.jobs).toBe(2);
    // Without noise every shopper joins once per cycle; the private runs take honest participation.
    expect(c.runs.map((r) => federatedOf(r, c).sampling).slice(2)).toEqual([
      'shuffle',
      ...Array(5).fill('honest'),
    ]);
    expect(parseEvalArgs(['--data', 'd', '--preset', 'beauty', '--out', 'r/x.json']).plot).toBe('r/x.svg');
    expect(parseEvalArgs(['--data', 'd', '--preset', 'beauty', '--split', 'valid']).split).toBe('valid');
  });

  it('--preset beauty --mode federated --epsilon 8 runs with the preset private settings, as its table row', () => {
    const e = parseEvalArgs(['--data', 'd', '--preset', 'beauty', '--mode', 'federated', '--epsilon', '8']);
    const row = parseEvalArgs(['--data', 'd', '--preset', 'beauty']).runs.find(
      (r) => r.label === 'private, ε=8',
    )!;
    expect(federatedOf(e.runs[0]!, e)).toEqual(federatedOf(row, e));
    expect(federatedOf(e.runs[0]!, e)).toMatchObject({
      clientsPerRound: 1000,
      rounds: 0,
      sharedNegatives: 64,
    });
    // A fixed sigma is a noisy run too; a run without noise keeps the preset's own settings.
    const s = parseEvalArgs(['--data', 'd', '--preset', 'beauty', '--mode', 'federated', '--sigma', '2']);
    expect(federatedOf(s.runs[0]!, s).clientsPerRound).toBe(1000);
    const n = parseEvalArgs(['--data', 'd', '--preset', 'beauty', '--mode', 'federated']);
    expect(federatedOf(n.runs[0]!, n).clientsPerRound).toBe(40);
  });

  it('the private preset weighs the affinity by the catalog; --catalog-weights says otherwise', () => {
    expect(parseEvalArgs(['--data', 'd', '--preset', 'private']).catalogWeights).toBe(true);
    expect(parseEvalArgs(['--data', 'd', '--preset', 'beauty']).catalogWeights).toBe(false);
    expect(parseEvalArgs(['--data', 'd']).catalogWeights).toBe(false);
    const off = ['--data', 'd', '--preset', 'private', '--catalog-weights', 'off'];
    expect(parseEvalArgs(off).catalogWeights).toBe(false);
    expect(parseEvalArgs(['--data', 'd', '--catalog-weights', 'on']).catalogWeights).toBe(true);
    expect(badArg(['--data', 'd', '--catalog-weights', 'yes'])).toMatch(
      /--catalog-weights must be one of on\|off/,
    );
  });

  it('one run per --mode, sigma or epsilon, with flags overriding the preset', () => {
    const e = parseEvalArgs([
      '--data',
      'd',
      '--preset',
      'beauty',
      '--epsilon',
      '8',
      '--rounds',
      '7',
      '--split',
      'test',
    ]);
    expect(e.runs).toMatchObject([{ label: 'private, ε=8', mode: 'federated', epsilon: 8 }]);
    // The preset's private settings apply, except what a flag sets (--rounds 7).
    expect(federatedOf(e.runs[0]!, e)).toMatchObject({
      rounds: 7,
      clientsPerRound: 1000,
      serverOpt: 'fedadam',
    });
    expect(e.federated.rounds).toBe(7);
    expect(e.federated.delta).toBe(1e-5);
    expect(e.federated.sampling).toBe('honest'); // the preset shuffles only without noise
    expect(e.split).toBe('test');
    const s = parseEvalArgs([
      '--data',
      'd',
      '--sigma',
      '1.5',
      '--server-opt',
      'fedavg',
      '--spec',
      '{"dim":8}',
    ]);
    expect(s.runs).toEqual([{ label: 'private, σ=1.5', mode: 'federated', sigma: 1.5 }]);
    expect(s.federated.serverOpt).toBe('fedavg');
    expect(s.spec.dim).toBe(8);
    expect(parseEvalArgs(['--data', 'd', '--mode', 'popularity']).runs).toEqual([
      { label: 'popularity', mode: 'popularity' },
    ]);
  });

  it('rejects bad arguments with one clear line', () => {
    expect(badArg([])).toMatch(/--data/);
    expect(badArg(['--data', 'd', '--sigma', '1', '--epsilon', '2'])).toMatch(/either --sigma or --epsilon/);
    expect(badArg(['--data', 'd', '--mode', 'centralized', '--sigma', '1'])).toMatch(/federated only/);
    expect(badArg(['--data', 'd', '--mode', 'magic'])).toMatch(/popularity\|centralized\|federated/);
    expect(badArg(['--data', 'd', '--split', 'train'])).toMatch(/valid\|test/);
    expect(badArg(['--data', 'd', '--rounds', '0'])).toMatch(/--rounds/);
    expect(badArg(['--data', 'd', '--preset', 'nope'])).toMatch(/unknown --preset/);
    expect(badArg(['--data', 'd', '--spec', '{"dim":-1}'])).toMatch(/--spec/);
    expect(badArg(['--data', 'd', '--spec', 'x'])).toMatch(/JSON object/);
    expect(badArg(['--data', 'd', '--frobnicate'])).toMatch(/unknown option/);
  });

  it('children of a parallel run get the same arguments minus outputs and parallelism', () => {
    expect(
      childArgs(['--data', 'd', '--out', 'o.json', '--jobs=2', '--plot', 'p.svg', '--rounds', '3']),
    ).toEqual(['--data', 'd', '--rounds', '3']);
  });
});

describe('reporting', () => {
  const run = (label: string, ndcg: number, epsilon: number | null, sigma: number | null): RunResult => ({
    label,
    mode: sigma === null ? 'popularity' : 'federated',
    points:
      sigma === null
        ? []
        : [
            {
              step: 5,
              split: 'valid',
              metrics: { hr10: 0.1, ndcg10: ndcg, hr20: 0.2, ndcg20: 0.1, users: 9 },
            },
          ],
    final: { split: 'test', metrics: { hr10: 0.02, ndcg10: ndcg, hr20: 0.03, ndcg20: 0.01, users: 9 } },
    privacy:
      sigma === null
        ? null
        : { q: 0.1, sigma, rounds: 5, delta: 1e-5, epsilon, order: 8, targetEpsilon: epsilon },
    wallSeconds: 1,
  });

  it('the markdown table has one row per run with epsilon, sigma and the metrics', () => {
    const t = markdownTable([
      run('popularity', 0.0055, null, null),
      run('federated, ε=8', 0.02, 8, 0.75),
      run('fl', 0.03, null, 0),
    ]);
    const rows = t.split('\n');
    expect(rows).toHaveLength(5);
    expect(rows[2]).toBe('| popularity | — | — | — | 0.0200 | 0.0055 | 0.0300 | 0.0100 |');
    expect(rows[3]).toBe('| federated, ε=8 | 8.00 | 0.750 | — | 0.0200 | 0.0200 | 0.0300 | 0.0100 |');
    expect(rows[4]).toContain('| fl | ∞ | 0.000 |');
  });

  it('the SVG plot has a path per series, reference lines, and escaped labels', () => {
    const svg = renderPlot({
      title: 'a < b',
      xLabel: 'round',
      yLabel: 'NDCG@10',
      series: [
        {
          label: 'x & y',
          points: [
            { x: 1, y: 0.01 },
            { x: 2, y: 0.02 },
          ],
        },
      ],
      references: [{ label: 'pop', y: 0.005 }],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('a &lt; b');
    expect(svg).toContain('x &amp; y');
    expect(svg.match(/<path /g)).toHaveLength(1);
    expect(svg).toContain('stroke-dasharray');
    expect(ticks(0, 0.033)).toEqual([0, 0.01, 0.02, 0.03]);
  });

  it('progress prints one line per point off a terminal, a redrawn bar on one', () => {
    const lines: string[] = [];
    const p = new Progress('fl', 10, { write: (s: string) => lines.push(s), isTTY: false });
    p.update(5);
    expect(lines).toHaveLength(0);
    p.point('NDCG@10 0.0100');
    expect(lines[0]).toMatch(/^fl: round 5\/10 NDCG@10 0\.0100 \(\d+s\)\n$/);
    const tty: string[] = [];
    const q = new Progress('fl', 10, { write: (s: string) => tty.push(s), isTTY: true, columns: 100 });
    q.point('m');
    expect(tty[0]).toMatch(/^\r\x1b\[2Kfl .*round 0\/10 {2}m {2}ETA \?/);
    expect(formatDuration(3725)).toBe('1h02m');
    expect(formatDuration(65)).toBe('1m05s');
  });
});

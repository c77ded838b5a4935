/** Results of `fedrank eval`: the markdown table, the JSON document, the plot, and the git commit. */
import { execFileSync } from 'node:child_process';
import type { EvalConfig } from './settings.ts';
import type { Dataset } from './dataset.ts';
import { renderPlot } from './plot.ts';
import type { RunResult } from './runner.ts';

/** The current git commit, or null outside a repository (or without git). */
export function gitCommit(cwd = process.cwd()): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return null;
  }
}

/** The comparison table in markdown: one row per run, final metrics of the chosen split. */
export function markdownTable(runs: readonly RunResult[]): string {
  const f = (x: number): string => x.toFixed(4);
  const lines = [
    '| run | ε (δ=1e-5) | σ | rounds × clients | HR@10 | NDCG@10 | HR@20 | NDCG@20 |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of runs) {
    const p = r.privacy;
    const eps = p === null ? '—' : p.epsilon === null ? '∞' : p.epsilon.toFixed(2);
    const sigma = p === null ? '—' : p.sigma.toFixed(3);
    const shape = r.settings ? `${r.settings.rounds} × ${r.settings.clientsPerRound}` : '—';
    const m = r.final.metrics;
    lines.push(
      `| ${r.label} | ${eps} | ${sigma} | ${shape} | ${f(m.hr10)} | ${f(m.ndcg10)} | ${f(m.hr20)} | ${f(m.ndcg20)} |`,
    );
  }
  return lines.join('\n');
}

/** The results document written by --out. */
export function resultsDocument(
  cfg: EvalConfig,
  data: Dataset,
  runs: readonly RunResult[],
  extra: { backend: string; startedAt: string; wallSeconds: number; commit: string | null },
): Record<string, unknown> {
  return {
    tool: 'fedrank eval',
    commit: extra.commit,
    startedAt: extra.startedAt,
    wallSeconds: extra.wallSeconds,
    backend: extra.backend,
    node: process.version,
    dataset: {
      dir: cfg.data,
      files: data.files,
      users: data.users.length,
      items: data.items.length,
      interactions: data.interactions,
      droppedUsers: data.droppedUsers,
    },
    config: {
      split: cfg.split,
      preset: cfg.preset,
      seed: cfg.seed,
      maxUsers: cfg.maxUsers,
      evalUsers: cfg.evalUsers,
      evalEvery: cfg.evalEvery,
      spec: cfg.spec,
      federated: cfg.federated,
      central: cfg.central,
      runs: cfg.runs,
    },
    protocol:
      'leave-one-out; full ranking against every item the shopper has not interacted with; ties broken uniformly ' +
      'in expectation; intermediate points score a fixed validation subsample, the final row every shopper',
    runs,
    table: markdownTable(runs),
  };
}

/**
 * The SVG chart of NDCG@10 for the trained runs against passes over the shoppers (federated: round x
 * sampling rate, so runs with different cohort sizes share the axis; centralized: epochs), final
 * baselines as reference lines.
 */
export function plotRuns(runs: readonly RunResult[], split: string): string {
  return renderPlot({
    title: 'NDCG@10 (validation subsample) per pass over the shoppers',
    xLabel: 'expected client updates / shoppers',
    yLabel: 'NDCG@10',
    // Centralized points are per epoch, already passes over the shoppers.
    series: runs
      .filter((r) => r.mode !== 'popularity' && r.points.length > 0)
      .map((r) => ({
        label: r.label,
        points: r.points.map((p) => ({ x: p.step * (r.privacy?.q ?? 1), y: p.metrics.ndcg10 })),
      })),
    references: runs
      .filter((r) => r.mode !== 'federated')
      .map((r) => ({ label: `${r.label} (final, ${split})`, y: r.final.metrics.ndcg10 })),
  });
}

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
    const fl = r.floor?.final.metrics;
    if (fl)
      lines.push(
        `| ${r.label}: on-device floor | — | — | — | ${f(fl.hr10)} | ${f(fl.ndcg10)} | ${f(fl.hr20)} | ${f(fl.ndcg20)} |`,
      );
  }
  return lines.join('\n');
}

/**
 * The headline of private runs (`npm run eval:private`): per private run, its metrics, the epsilon per
 * party from the device's accountant, the on-device floor of the same run, popularity, and the share of
 * shoppers whose target ranks worse than under the floor.
 */
export function privateSummary(runs: readonly RunResult[]): Record<string, unknown>[] {
  const pop = runs.find((r) => r.mode === 'popularity')?.final.metrics ?? null;
  return runs
    .filter((r) => r.privacy?.honest && r.floor)
    .map((r) => {
      const h = r.privacy!.honest!;
      const m = r.final.metrics;
      const fl = r.floor!;
      const last = r.rounds?.[r.rounds.length - 1];
      return {
        label: r.label,
        split: r.final.split,
        hr10: m.hr10,
        ndcg10: m.ndcg10,
        epsilon: {
          delta: h.delta,
          level: 'user (one browser profile, all its contributions)',
          server: h.server.epsilon,
          observers: h.observers.epsilon,
          targetEpsilon: r.privacy!.targetEpsilon,
          maxContributions: h.maxContributions,
          minSeparation: h.minSeparation,
          survivors: h.survivors,
          noiseMultiplier: h.z,
          assumptions: { server: h.server.assumptions, observers: h.observers.assumptions },
        },
        floor: { label: fl.label, hr10: fl.final.metrics.hr10, ndcg10: fl.final.metrics.ndcg10 },
        popularity: pop ? { label: 'popularity', hr10: pop.hr10, ndcg10: pop.ndcg10 } : null,
        worseThanFloor: fl.worseThanFloor,
        rounds: {
          planned: r.rounds?.length ?? 0,
          released: r.rounds?.filter((s) => !s.failed).length ?? 0,
          contributions: r.rounds?.reduce((a, s) => a + (s.failed ? 0 : s.clients), 0) ?? 0,
          mostByOneDevice: last?.maxContributions ?? 0,
        },
      };
    });
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
      catalogWeights: cfg.catalogWeights,
      federated: cfg.federated,
      central: cfg.central,
      runs: cfg.runs,
    },
    protocol:
      'leave-one-out; full ranking against every item the shopper has not interacted with; ties broken uniformly ' +
      'in expectation; intermediate points score a fixed validation subsample, the final row every shopper',
    private: privateSummary(runs),
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

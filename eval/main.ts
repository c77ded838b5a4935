/** The body of `fedrank eval`: load, run, print the table, write the results and the plot. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FedrankError } from '../shared/errors.ts';
import { useBackend } from './backend.ts';
import { parseEvalArgs } from './config.ts';
import { loadDataset } from './dataset.ts';
import { gitCommit, markdownTable, plotRuns, resultsDocument } from './report.ts';
import { runParallel } from './parallel.ts';
import { runAll } from './runner.ts';
import type { RunResult } from './runner.ts';

async function writeOut(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, text);
}

/** Parses arguments and runs the evaluation; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const parsed = parseEvalArgs(argv);
  // A child of a parallel run executes exactly one plan of the list.
  const cfg = parsed.onlyRun === null ? parsed : { ...parsed, runs: [parsed.runs[parsed.onlyRun]!] };
  const startedAt = new Date().toISOString();
  // The commit of the code that runs: read at the start, as commits made during a long run change HEAD.
  const commit = gitCommit();
  const t0 = performance.now();
  let data;
  try {
    data = await loadDataset(cfg.data);
  } catch (err) {
    if (err instanceof FedrankError && err.code === 'DATASET_INVALID') {
      process.stderr.write(`fedrank: ${err.code}: ${err.detail ?? err.message}\n`);
      return 2;
    }
    throw err;
  }
  const backend =
    cfg.jobs > 1 && cfg.runs.length > 1
      ? `${cfg.backend} (x${cfg.jobs} processes)`
      : await useBackend(cfg.backend);
  if (parsed.onlyRun === null)
    process.stderr.write(
      `fedrank eval: ${data.users.length} shoppers, ${data.items.length} items, ${data.interactions} interactions` +
        `${cfg.maxUsers !== null ? ` (using ${Math.min(cfg.maxUsers, data.users.length)} shoppers)` : ''}; ` +
        `split ${cfg.split}; backend ${backend}; ${cfg.runs.length} run(s)\n`,
    );
  let runs: RunResult[];
  let errors: string[] = [];
  if (cfg.jobs > 1 && cfg.runs.length > 1) {
    const par = await runParallel(argv, cfg.runs.length, cfg.jobs);
    runs = par.results.filter((r): r is RunResult => r !== null);
    errors = par.errors;
  } else {
    runs = await runAll(cfg, data);
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  const table = markdownTable(runs);
  process.stdout.write(
    `\n${table}\n\n(${cfg.split} targets, full ranking; wall time ${wallSeconds.toFixed(0)} s)\n`,
  );
  if (cfg.out) {
    const doc = {
      ...resultsDocument(cfg, data, runs, { backend, startedAt, wallSeconds, commit }),
      ...(errors.length > 0 ? { errors } : {}),
    };
    await writeOut(cfg.out, JSON.stringify(doc, null, 2) + '\n');
    if (parsed.onlyRun === null) process.stderr.write(`results written to ${cfg.out}\n`);
  }
  if (cfg.plot && parsed.onlyRun === null) {
    await writeOut(cfg.plot, plotRuns(runs, cfg.split));
    process.stderr.write(`plot written to ${cfg.plot}\n`);
  }
  for (const e of errors) process.stderr.write(`fedrank eval: failed ${e}\n`);
  return errors.length > 0 ? 1 : 0;
}

/**
 * Runs the plans of an evaluation in parallel child processes (`fedrank eval ... --only-run I`), since
 * runs share nothing but the dataset: on a 2-core machine two runs at once take about the time of one.
 * Children report one line per evaluation point on stderr, which is passed through.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunResult } from './runner.ts';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/fedrank.mjs');

/** Drops options the parent handles itself (output files, parallelism) from an argv. */
export function childArgs(argv: readonly string[]): string[] {
  const drop = new Set(['--out', '--plot', '--jobs', '--only-run']);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const key = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (drop.has(key)) {
      if (!a.includes('=')) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

function runChild(args: string[], stderr: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'eval', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (b: Buffer) => stderr.write(b));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`fedrank eval ${args.join(' ')} exited with ${code}`)),
    );
  });
}

/**
 * Executes runs 0..count-1 of `argv`, `jobs` at a time. A failing run does not stop the others: its slot
 * is null and its error is listed.
 */
export async function runParallel(
  argv: readonly string[],
  count: number,
  jobs: number,
  stderr: NodeJS.WritableStream = process.stderr,
): Promise<{ results: (RunResult | null)[]; errors: string[] }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fedrank-eval-'));
  try {
    const base = childArgs(argv);
    const results: (RunResult | null)[] = new Array<RunResult | null>(count).fill(null);
    const errors: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        const file = path.join(dir, `run-${i}.json`);
        try {
          await runChild([...base, '--only-run', String(i), '--out', file], stderr);
          const doc = JSON.parse(await readFile(file, 'utf8')) as { runs: RunResult[] };
          results[i] = doc.runs[0]!;
        } catch (err) {
          errors.push(`run ${i}: ${(err as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(jobs, count) }, worker));
    return { results, errors };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

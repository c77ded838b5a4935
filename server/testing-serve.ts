/**
 * `fedrank serve` as real child processes for the kill tests: the command bundled once with esbuild (a
 * restart then costs a fraction of a second instead of tsx's start-up), started on a fixed port, waited
 * for on /healthz, and SIGKILLed. Tests only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';

const ROOT = new URL('..', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Bundles cli/serve.ts into node_modules/.cache (so fastify & co. resolve); returns the entry file. */
export function bundleServe(): string {
  const outDir = join(ROOT, 'node_modules', '.cache', 'fedrank-test');
  mkdirSync(outDir, { recursive: true });
  const entry = join(outDir, `serve-${process.pid}-${Math.random().toString(36).slice(2)}.mjs`);
  buildSync({
    stdin: {
      contents: `import { run } from './cli/serve.ts'; process.exitCode = await run(process.argv.slice(2));`,
      resolveDir: ROOT,
      sourcefile: 'serve-entry.ts',
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    target: 'node20',
    outfile: entry,
    logLevel: 'silent',
  });
  return entry;
}

/** Removes a bundle of bundleServe. */
export function removeBundle(entry: string): void {
  rmSync(entry, { force: true });
}

/** One `fedrank serve` process slot: started, killed and restarted on the same port and arguments. */
export class ServeProcess {
  private child: ChildProcess | null = null;
  /** The last 4000 characters of its stderr (for failure messages). */
  stderr = '';
  readonly base: string;

  constructor(
    private readonly entry: string,
    private readonly args: string[],
    readonly port: number,
    private readonly env: Record<string, string> = {},
  ) {
    this.base = `http://127.0.0.1:${port}`;
  }

  /** Starts the process (after a kill, a fresh one) and waits until it answers /healthz. */
  async start(): Promise<void> {
    const c = spawn(process.execPath, [this.entry, ...this.args, '--port', String(this.port)], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    c.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    this.child = c;
    for (let i = 0; i < 3000; i++) {
      if (c.exitCode !== null) throw new Error(`server exited with ${c.exitCode}: ${this.stderr}`);
      try {
        if ((await fetch(`${this.base}/healthz`)).ok) return;
      } catch {
        // not listening yet
      }
      await sleep(10);
    }
    throw new Error(`server did not become ready: ${this.stderr}`);
  }

  /** SIGKILLs the process and waits for it to be gone. */
  async kill(): Promise<void> {
    const c = this.child;
    this.child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }
}

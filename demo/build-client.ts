/** Builds the browser SDK into dist/client/ with Vite when it is missing or older than its sources. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

/** Newest modification time (ms) of the files under `dir` (0 when missing). */
function newestMtime(dir: string): number {
  if (!existsSync(dir)) return 0;
  const st = statSync(dir);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.endsWith('.test.ts')) continue;
    max = Math.max(max, newestMtime(join(dir, e.name)));
  }
  return max;
}

/** True when dist/client/fedrank.js is missing or older than client/, shared/ or vite.config.ts. */
export function clientBuildIsStale(root = ROOT): boolean {
  const out = join(root, 'dist', 'client', 'fedrank.js');
  if (!existsSync(out)) return true;
  const built = statSync(out).mtimeMs;
  const src = Math.max(
    newestMtime(join(root, 'client')),
    newestMtime(join(root, 'shared')),
    newestMtime(join(root, 'vite.config.ts')),
  );
  return src > built;
}

/** Runs `vite build` in-process when needed; returns true when it built. */
export async function ensureClientBuilt(
  log: (line: string) => void = () => {},
  root = ROOT,
): Promise<boolean> {
  if (!clientBuildIsStale(root)) return false;
  log('building the browser SDK (vite build) ...');
  // Vite is a dev dependency: imported only when a build is really needed.
  const { build } = await import('vite');
  await build({ root, configFile: join(root, 'vite.config.ts'), logLevel: 'warn' });
  if (!existsSync(join(root, 'dist', 'client', 'fedrank.js')))
    throw new Error('vite build did not produce dist/client/fedrank.js');
  return true;
}

/** Absolute path of the built SDK folder. */
export const CLIENT_DIST = join(ROOT, 'dist', 'client');

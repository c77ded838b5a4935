import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

/** Every non-test .ts file under the folders. */
function sources(folders: string[]): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.d.ts')) out.push(p);
    }
  };
  for (const f of folders) walk(join(ROOT, f));
  return out;
}

/** Relative imports and re-exports of a file, type-only ones included, resolved to paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const res = [
    /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/g,
    /(?:^|\n)\s*import\s+['"](\.{1,2}\/[^'"]+)['"]/g,
    /\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g,
  ];
  return res.flatMap((re) =>
    [...text.matchAll(re)].map((m) => resolve(dirname(file), m[1]!.replace(/\?.*$/, ''))),
  );
}

/** One cycle of the graph (`edges` of each node), as the list of its nodes, or null. */
function findCycle(files: string[], edges: (f: string) => string[] = importsOf): string[] | null {
  const set = new Set(files);
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): string[] | null => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of edges(f)) {
      if (!set.has(g)) continue;
      if (state.get(g) === 'open') return [...stack.slice(stack.indexOf(g)), g];
      if (!state.has(g)) {
        const c = visit(g);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(f, 'done');
    return null;
  };
  for (const f of files) {
    if (state.has(f)) continue;
    const c = visit(f);
    if (c) return c;
  }
  return null;
}

describe('import graph', () => {
  it('has no cycle in client/ and shared/ (type-only imports included)', () => {
    const cycle = findCycle(sources(['client', 'shared']));
    expect(cycle?.map((p) => relative(ROOT, p)) ?? null).toBeNull();
  });
  it('has no folder loop between cli/, eval/, demo/, node/ and server/', () => {
    const folderOf = (p: string): string => relative(ROOT, p).split('/')[0]!;
    const edges = new Set<string>();
    for (const f of sources(['cli', 'eval', 'demo', 'node', 'server', 'client', 'shared'])) {
      for (const g of importsOf(f))
        if (folderOf(f) !== folderOf(g)) edges.add(`${folderOf(f)}>${folderOf(g)}`);
    }
    const loops = [...edges].filter((e) => edges.has(e.split('>').reverse().join('>')));
    expect(loops).toEqual([]);
  });
  it('finds a cycle when there is one, and reads type-only, side-effect and dynamic imports', () => {
    const g: Record<string, string[]> = { a: ['b'], b: ['c'], c: ['a'], d: ['a'] };
    expect(findCycle(['d', 'a', 'b', 'c'], (n) => g[n]!)).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle(['a', 'b'], (n) => (n === 'a' ? ['b'] : []))).toBeNull();
    const engine = importsOf(join(ROOT, 'client/worker/backend.ts')).map((p) => relative(ROOT, p));
    expect(engine).toContain('shared/device/records.ts'); // import type
    expect(engine).toContain('client/worker/kernels.ts'); // side effect
  });
});

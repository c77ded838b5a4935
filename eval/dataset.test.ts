import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FedrankError } from '../shared/errors.ts';
import { loadDataset, parseAttributes, parseInteractions } from './dataset.ts';
import { evalCase, evalCases, trainingSequence } from './split.ts';

const dirs: string[] = [];
async function folder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fedrank-ds-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(FedrankError);
    return `${(err as FedrankError).code}: ${(err as FedrankError).detail}`;
  }
  return 'no error';
}

describe('dataset loading', () => {
  it('reads sequences in order, maps items to indices with string attributes', async () => {
    const dir = await folder({
      'Shop.txt': '1 10 11 12\n2 11 13 10 14\n\n3 10 11\n',
      'Shop_item2attributes.json': '{"10": [1, 2], "11": ["x"], "99": [3]}',
      'README.md': 'not data',
    });
    const d = await loadDataset(dir);
    expect(d.users).toEqual(['1', '2']);
    expect(d.droppedUsers).toBe(1); // shopper 3 is too short to split
    expect(d.items.map((i) => i.id)).toEqual(['10', '11', '12', '13', '14']);
    expect(d.items[0]).toEqual({ id: '10', attributes: ['1', '2'] });
    expect(d.items[2]).toEqual({ id: '12', attributes: [] });
    expect(Array.from(d.sequences[1]!)).toEqual([1, 3, 0, 4]);
    expect(d.interactions).toBe(7);
    expect(path.basename(d.files.interactions)).toBe('Shop.txt');
  });

  it('prefers the .txt named like the attribute file when there are several', async () => {
    const dir = await folder({
      'Shop.txt': '1 1 2 3\n',
      'notes.txt': 'garbage',
      'Shop_item2attributes.json': '{}',
    });
    expect((await loadDataset(dir)).users).toEqual(['1']);
  });

  it('rejects malformed folders and files with a clear DATASET_INVALID', async () => {
    expect(await code(loadDataset('/nonexistent/fedrank'))).toMatch(/^DATASET_INVALID: cannot read/);
    expect(await code(loadDataset(await folder({ 'a.txt': '1 1 2 3' })))).toMatch(/item2attributes/);
    expect(await code(loadDataset(await folder({ 'x_item2attributes.json': '{}' })))).toMatch(/no \*\.txt/);
    expect(
      await code(
        loadDataset(await folder({ 'a.txt': '1 1 2 3', 'b.txt': '', 'x_item2attributes.json': '{}' })),
      ),
    ).toMatch(/several/);
    expect(() => parseAttributes('[1]', 'f')).toThrow(/JSON object/);
    expect(() => parseAttributes('{"1": 5}', 'f')).toThrow(/not an array/);
    expect(() => parseAttributes('{"1": [{}]}', 'f')).toThrow(/non-scalar/);
    expect(() => parseAttributes('{', 'f')).toThrow(/not valid JSON/);
    expect(() => parseInteractions('1 2 3 4\n1 5 6 7\n', 'f', new Map())).toThrow(
      /f:2: shopper 1 appears twice/,
    );
    expect(() => parseInteractions('7\n', 'f', new Map())).toThrow(/f:1: shopper 7 has no items/);
    expect(() => parseInteractions('1 2\n', 'f', new Map())).toThrow(/no shopper with at least 3/);
  });
});

describe('leave-one-out split', () => {
  const seq = Int32Array.from([5, 6, 7, 8, 9]);
  it('trains on all but the last two, validates on the second to last, tests on the last', () => {
    expect(Array.from(trainingSequence(seq))).toEqual([5, 6, 7]);
    const v = evalCase(0, seq, 'valid');
    expect([Array.from(v.history), v.target]).toEqual([[5, 6, 7], 8]);
    const t = evalCase(0, seq, 'test');
    // On test the validation item joins the history.
    expect([Array.from(t.history), t.target]).toEqual([[5, 6, 7, 8], 9]);
    expect(() => evalCase(0, Int32Array.from([1, 2]), 'valid')).toThrow();
  });
  it('builds cases for chosen shoppers', () => {
    const data = { sequences: [seq, Int32Array.from([1, 2, 3])] } as Parameters<typeof evalCases>[0];
    expect(evalCases(data, 'valid', [1]).map((c) => [c.user, c.target])).toEqual([[1, 2]]);
    expect(evalCases(data, 'test').length).toBe(2);
  });
});

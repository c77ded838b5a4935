/**
 * Loads a shopper-sequence dataset in the Amazon Beauty (S3-Rec) format: a `*.txt` file with one shopper a
 * line (`user item1 item2 ...`, oldest first) and a `*_item2attributes.json` mapping item -> attribute ids.
 * Items become dense indices 0..N-1 (order of first appearance) so evaluation works on typed arrays.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { FedrankError } from '../shared/errors.ts';
import type { ItemFeatures } from '../shared/model/features.ts';

/** A loaded dataset: shoppers' item-index sequences and the catalog of items that occur in them. */
export interface Dataset {
  /** Folder it was read from. */
  dir: string;
  /** File names used (interactions, attributes). */
  files: { interactions: string; attributes: string };
  /** Shopper ids, parallel to `sequences`. */
  users: string[];
  /** Per shopper, item indices in time order. */
  sequences: Int32Array[];
  /** Catalog: index -> features (id and attributes as strings). */
  items: ItemFeatures[];
  /** Total interactions over all kept shoppers. */
  interactions: number;
  /** Shoppers dropped because they have fewer than `minLength` items. */
  droppedUsers: number;
}

function invalid(detail: string): FedrankError {
  return new FedrankError('DATASET_INVALID', detail);
}

/** Finds the interactions and attribute files of a dataset folder by pattern. */
export async function findDatasetFiles(dir: string): Promise<{ interactions: string; attributes: string }> {
  let names: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw invalid(`${dir} is not a directory`);
    names = await readdir(dir);
  } catch (err) {
    if (err instanceof FedrankError) throw err;
    throw invalid(`cannot read dataset folder ${dir}: ${(err as Error).message}`);
  }
  const attrs = names.filter((n) => n.endsWith('_item2attributes.json')).sort();
  const txts = names.filter((n) => n.endsWith('.txt')).sort();
  if (attrs.length !== 1) {
    throw invalid(`expected exactly one *_item2attributes.json in ${dir}, found ${attrs.length}`);
  }
  const prefix = attrs[0]!.slice(0, -'_item2attributes.json'.length);
  // Several .txt files: prefer the one named like the attribute file (e.g. Beauty.txt beside Beauty_item2...).
  const txt = txts.length === 1 ? txts[0] : txts.find((n) => n === `${prefix}.txt`);
  if (!txt) {
    throw invalid(
      txts.length === 0
        ? `no *.txt interactions file in ${dir}`
        : `several *.txt files in ${dir} and none named ${prefix}.txt`,
    );
  }
  return { interactions: path.join(dir, txt), attributes: path.join(dir, attrs[0]!) };
}

/** Parses the attribute JSON: an object of item id -> array of attribute ids (numbers or strings). */
export function parseAttributes(text: string, file: string): Map<string, string[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalid(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw invalid(`${file} must be a JSON object of item -> [attribute, ...]`);
  }
  const out = new Map<string, string[]>();
  for (const [item, list] of Object.entries(raw as Record<string, unknown>)) {
    if (!Array.isArray(list)) throw invalid(`${file}: attributes of item ${item} are not an array`);
    const attrs: string[] = [];
    for (const a of list) {
      if (typeof a === 'number' && Number.isFinite(a)) attrs.push(String(a));
      else if (typeof a === 'string' && a !== '') attrs.push(a);
      else throw invalid(`${file}: item ${item} has a non-scalar attribute ${JSON.stringify(a)}`);
    }
    out.set(item, attrs);
  }
  return out;
}

/**
 * Parses the interactions text into a dataset. Shoppers with fewer than `minLength` items (too short for a
 * training/validation/test split) are dropped and counted; a repeated shopper id is an error.
 */
export function parseInteractions(
  text: string,
  file: string,
  attributes: Map<string, string[]>,
  minLength = 3,
): Omit<Dataset, 'dir' | 'files'> {
  const index = new Map<string, number>();
  const items: ItemFeatures[] = [];
  const users: string[] = [];
  const sequences: Int32Array[] = [];
  const seen = new Set<string>();
  let interactions = 0;
  let droppedUsers = 0;
  const lines = text.split(/\r?\n/);
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln]!.trim();
    if (line === '') continue;
    const tokens = line.split(/\s+/);
    const user = tokens[0]!;
    if (tokens.length < 2) throw invalid(`${file}:${ln + 1}: shopper ${user} has no items`);
    if (seen.has(user)) throw invalid(`${file}:${ln + 1}: shopper ${user} appears twice`);
    seen.add(user);
    if (tokens.length - 1 < minLength) {
      droppedUsers++;
      continue;
    }
    const seq = new Int32Array(tokens.length - 1);
    for (let i = 1; i < tokens.length; i++) {
      const id = tokens[i]!;
      let ix = index.get(id);
      if (ix === undefined) {
        ix = items.length;
        index.set(id, ix);
        items.push({ id, attributes: attributes.get(id) ?? [] });
      }
      seq[i - 1] = ix;
    }
    users.push(user);
    sequences.push(seq);
    interactions += seq.length;
  }
  if (users.length === 0) throw invalid(`${file} has no shopper with at least ${minLength} items`);
  return { users, sequences, items, interactions, droppedUsers };
}

/** Reads and validates a dataset folder; throws FedrankError('DATASET_INVALID') with what is wrong. */
export async function loadDataset(dir: string, minLength = 3): Promise<Dataset> {
  const files = await findDatasetFiles(dir);
  const [txt, json] = await Promise.all([
    readFile(files.interactions, 'utf8'),
    readFile(files.attributes, 'utf8'),
  ]);
  const attributes = parseAttributes(json, files.attributes);
  return { dir, files, ...parseInteractions(txt, files.interactions, attributes, minLength) };
}

/**
 * Fast ranking for the page: the model is two towers and a dot product, so item vectors are cached per
 * model version and the user vector per (personal state, query); a rank() call is then plain JS dot
 * products with no GPU read-back, whatever the backend.
 */
import { encodeItem, encodeQuery } from '../../shared/model/features.ts';
import type { EncodedItem, ItemFeatures } from '../../shared/model/features.ts';
import { affinityScore, affinityTotal } from '../../shared/model/personal.ts';
import type { PersonalState } from '../../shared/model/personal.ts';
import type { Ranker } from '../../shared/model/ranker.ts';
import type { ModelSpec } from '../../shared/model/spec.ts';
import type { RankItem } from '../types.ts';

/** Items whose vectors are kept at most; the cache restarts when full. */
const MAX_CACHED = 20_000;

/** Cache key of an item: its id and every attribute the model hashes. */
export function itemKey(it: RankItem): string {
  return JSON.stringify([it.id, it.category ?? '', it.brand ?? '', it.price ?? -1, it.attributes ?? []]);
}

export class Scorer {
  private readonly encoded = new Map<string, EncodedItem>();
  private readonly vectors = new Map<string, Float32Array>();
  private user: { query: string; vec: Float32Array } | null = null;

  constructor(
    private readonly spec: ModelSpec,
    private readonly ranker: Ranker,
  ) {}

  /** The encoded item (cached); `k` is its itemKey when the caller has it already. */
  encode(it: RankItem, k = itemKey(it)): EncodedItem {
    let e = this.encoded.get(k);
    if (!e) {
      if (this.encoded.size >= MAX_CACHED) this.encoded.clear();
      e = encodeItem(this.spec, it as ItemFeatures);
      this.encoded.set(k, e);
    }
    return e;
  }

  /** Forgets item vectors (the global parameters changed). */
  modelChanged(): void {
    this.vectors.clear();
    this.user = null;
  }

  /** Forgets the user vector (the personal state changed). */
  personalChanged(): void {
    this.user = null;
  }

  /** Candidate indices, best first (stable for ties). */
  rank(items: RankItem[], query: string, personal: PersonalState): number[] {
    const n = items.length;
    const keys = items.map(itemKey);
    const missing: { key: string; enc: EncodedItem }[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      if (!this.vectors.has(k) && !seen.has(k)) {
        seen.add(k);
        missing.push({ key: k, enc: this.encode(items[i]!, k) });
      }
    }
    const d = this.ranker.vectorDim;
    if (missing.length > 0) {
      if (this.vectors.size + missing.length > MAX_CACHED) this.vectors.clear();
      const flat = this.ranker.itemVectors(missing.map((m) => m.enc));
      missing.forEach((m, j) => this.vectors.set(m.key, flat.slice(j * d, (j + 1) * d)));
    }
    if (!this.user || this.user.query !== query) {
      const q = query ? encodeQuery(this.spec, query) : [];
      const ctx =
        q.length > 0
          ? { history: personal.history, query: q, personal }
          : { history: personal.history, personal };
      this.user = { query, vec: this.ranker.userVectors([ctx]).slice(0, d) };
    }
    const u = this.user.vec;
    const w = this.spec.personalWeight;
    const scores = new Float64Array(n);
    const total = w > 0 ? affinityTotal(personal) : 0;
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      const v = this.vectors.get(k)!;
      let s = 0;
      for (let j = 0; j < d; j++) s += u[j]! * v[j]!;
      if (total > 0) s += w * affinityScore(personal, this.encode(items[i]!, k), total);
      scores[i] = s;
    }
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => scores[b]! - scores[a]! || a - b);
    return order;
  }
}

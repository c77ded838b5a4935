/**
 * Fast ranking for the page: the model is two towers and a dot product, so item vectors are cached per
 * model version and the user vector per (personal state, query); a rank() call is then plain JS dot
 * products with no GPU read-back, whatever the backend.
 */
import { encodeItem, encodeQuery } from '../../shared/model/features.ts';
import type { EncodedItem, ItemFeatures } from '../../shared/model/features.ts';
import { affinityScore, affinityTotal } from '../../shared/model/personal.ts';
import type { PersonalState } from '../../shared/model/personal.ts';
import type { Ranker, UserContext } from '../../shared/model/ranker.ts';
import type { ModelSpec } from '../../shared/model/spec.ts';
import type { RankItem } from '../types.ts';
import { itemKey } from '../../shared/device/examples.ts';
import { orderByScores } from '../../shared/device/local-rank.ts';
import { blendScores } from '../../shared/device/safeguard.ts';

/** Items whose vectors are kept at most; the cache restarts when full. */
const MAX_CACHED = 20_000;

export class Scorer {
  private readonly encoded = new Map<string, EncodedItem>();
  private readonly vectors = new Map<string, Float32Array>();
  private user: { query: string; vec: Float32Array } | null = null;
  /** Bumped when the model / the personal state changes, so results of an awaited read are not cached stale. */
  private modelGen = 0;
  private userGen = 0;

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
    this.modelGen++;
  }

  /** Forgets the user vector (the personal state changed). */
  personalChanged(): void {
    this.user = null;
    this.userGen++;
  }

  /**
   * Candidate indices, best first (stable for ties). `globalWeight` scales the global model's score
   * against the personal bonus (the device's safeguard; 1: the model in full, 0: on-device alone).
   */
  rank(items: RankItem[], query: string, personal: PersonalState, globalWeight = 1): number[] {
    const p = this.plan(items, query, personal, globalWeight);
    const flat = p.missing.length > 0 ? this.ranker.itemVectors(p.missing.map((m) => m.enc)) : null;
    const user = p.ctx ? this.ranker.userVectors([p.ctx]) : null;
    return this.finish(p, flat, user);
  }

  /**
   * rank() with asynchronous read-backs (no blocking GPU read on WebGPU/WebGL). Vectors computed while the
   * model or the personal state changed underneath are used for this call but not cached.
   */
  async rankAsync(
    items: RankItem[],
    query: string,
    personal: PersonalState,
    globalWeight = 1,
  ): Promise<number[]> {
    const p = this.plan(items, query, personal, globalWeight);
    const flat =
      p.missing.length > 0 ? await this.ranker.itemVectorsAsync(p.missing.map((m) => m.enc)) : null;
    const user = p.ctx ? await this.ranker.userVectorsAsync([p.ctx]) : null;
    return this.finish(p, flat, user);
  }

  /** What one ranking needs computed: item vectors not cached yet, and the user context if its vector is not. */
  private plan(items: RankItem[], query: string, personal: PersonalState, globalWeight: number): Plan {
    const keys = items.map(itemKey);
    const missing: { key: string; enc: EncodedItem }[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < items.length; i++) {
      const k = keys[i]!;
      if (!this.vectors.has(k) && !seen.has(k)) {
        seen.add(k);
        missing.push({ key: k, enc: this.encode(items[i]!, k) });
      }
    }
    let ctx: UserContext | null = null;
    if (!this.user || this.user.query !== query) {
      const q = query ? encodeQuery(this.spec, query) : [];
      ctx =
        q.length > 0
          ? { history: personal.history, query: q, personal }
          : { history: personal.history, personal };
    }
    const cachedUser = ctx ? null : this.user!.vec;
    return {
      items,
      query,
      personal,
      globalWeight,
      keys,
      missing,
      ctx,
      cachedUser,
      modelGen: this.modelGen,
      userGen: this.userGen,
    };
  }

  private finish(p: Plan, flat: Float32Array | null, userFlat: Float32Array | null): number[] {
    const d = this.ranker.vectorDim;
    const fresh = new Map<string, Float32Array>();
    if (flat) {
      const cache = p.modelGen === this.modelGen;
      if (cache && this.vectors.size + p.missing.length > MAX_CACHED) this.vectors.clear();
      p.missing.forEach((m, j) => {
        const v = flat.slice(j * d, (j + 1) * d);
        fresh.set(m.key, v);
        if (cache) this.vectors.set(m.key, v);
      });
    }
    let u: Float32Array;
    if (userFlat) {
      u = userFlat.slice(0, d);
      if (p.modelGen === this.modelGen && p.userGen === this.userGen) this.user = { query: p.query, vec: u };
    } else u = p.cachedUser!;
    const { items, keys, personal, globalWeight } = p;
    const n = items.length;
    const w = this.spec.personalWeight;
    const model = new Float64Array(n);
    const bonus = new Float64Array(n);
    const total = w > 0 ? affinityTotal(personal) : 0;
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      const v = fresh.get(k) ?? this.vectors.get(k)!;
      let s = 0;
      for (let j = 0; j < d; j++) s += u[j]! * v[j]!;
      model[i] = s;
      if (total > 0) bonus[i] = w * affinityScore(personal, this.encode(items[i]!, k), total);
    }
    return orderByScores(blendScores(model, bonus, globalWeight));
  }
}

/** One ranking's inputs and what has to be computed for it. */
interface Plan {
  items: RankItem[];
  query: string;
  personal: PersonalState;
  globalWeight: number;
  keys: string[];
  missing: { key: string; enc: EncodedItem }[];
  ctx: UserContext | null;
  /** The cached user vector when `ctx` is null (captured, as an awaited call may reset the cache). */
  cachedUser: Float32Array | null;
  modelGen: number;
  userGen: number;
}

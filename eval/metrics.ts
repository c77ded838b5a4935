/**
 * Full-ranking metrics. A target's rank is given as (greater, ties): the number of candidates scored
 * strictly above it and the number scored exactly equal. Ties are broken uniformly at random in
 * expectation, so a constant model gets the metrics of a random order, never a lucky first place.
 */

/** Hit rate and NDCG at 10 and 20, averaged over evaluation cases. */
export interface RankingMetrics {
  hr10: number;
  ndcg10: number;
  hr20: number;
  ndcg20: number;
  /** Number of evaluation cases averaged. */
  users: number;
}

/** Expected HR@k of a target at 0-based position uniform in [greater, greater + ties]. */
export function hitAt(k: number, greater: number, ties: number): number {
  const hits = Math.max(0, Math.min(k - greater, ties + 1));
  return hits / (ties + 1);
}

/** Expected NDCG@k (one relevant item: 1/log2(position + 2)) under the same random tie-breaking. */
export function ndcgAt(k: number, greater: number, ties: number): number {
  let s = 0;
  const last = Math.min(greater + ties, k - 1);
  for (let p = greater; p <= last; p++) s += 1 / Math.log2(p + 2);
  return s / (ties + 1);
}

/** Running sums of the metrics over evaluation cases. */
export class MetricAccumulator {
  private hr10 = 0;
  private ndcg10 = 0;
  private hr20 = 0;
  private ndcg20 = 0;
  private n = 0;

  /** Adds one case ranked with `greater` candidates above and `ties` equal to the target. */
  add(greater: number, ties: number): void {
    this.hr10 += hitAt(10, greater, ties);
    this.ndcg10 += ndcgAt(10, greater, ties);
    this.hr20 += hitAt(20, greater, ties);
    this.ndcg20 += ndcgAt(20, greater, ties);
    this.n++;
  }

  /** The averages so far (zeros when empty). */
  result(): RankingMetrics {
    const d = Math.max(1, this.n);
    return {
      hr10: this.hr10 / d,
      ndcg10: this.ndcg10 / d,
      hr20: this.hr20 / d,
      ndcg20: this.ndcg20 / d,
      users: this.n,
    };
  }
}

/**
 * Rank of `target` in one row of scores over the whole catalog, leaving out the shopper's history items
 * (the target stays a candidate even when it also occurs in the history).
 */
export function rankInRow(
  row: Float32Array,
  target: number,
  history: ArrayLike<number>,
): { greater: number; ties: number } {
  const t = row[target]!;
  // A non-finite target score is a broken model: count it as a miss rather than a lucky tie.
  if (!Number.isFinite(t)) return { greater: row.length, ties: 0 };
  let greater = 0;
  let equal = 0;
  // A candidate scored NaN is ranked above the target: a broken model must not gain from it.
  for (let j = 0; j < row.length; j++) {
    const s = row[j]!;
    if (s > t || s !== s) greater++;
    else if (s === t) equal++;
  }
  equal--; // the target itself
  // Remove each distinct history item (other than the target) from the counts.
  const removed = new Set<number>();
  for (let i = 0; i < history.length; i++) {
    const h = history[i]!;
    if (h === target || removed.has(h)) continue;
    removed.add(h);
    const s = row[h]!;
    if (s > t || s !== s) greater--;
    else if (s === t) equal--;
  }
  return { greater, ties: equal };
}

/** Prometheus text-format metrics (exposition format 0.0.4) without a client library: a few counters,
 * gauges read at scrape time, and one histogram. The public view (/metrics) leaves out every count of
 * uploads (accepted, duplicate, rejected, ingest timings): differenced between scrapes they give each round's
 * exact number of contributors. The operator's authenticated /v1/admin/metrics has them all. */

import { RefusedOrigins } from './refused-origins.ts';

const INGEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Counters the server updates; gauges are passed in at render time. */
export class Metrics {
  accepted = 0;
  duplicates = 0;
  roundsClosed = 0;
  readonly rejected = new Map<string, number>();
  /** Browser origins refused with FORBIDDEN_ORIGIN (bounded). */
  readonly refusedOrigins = new RefusedOrigins();
  private readonly bucketCounts = new Array<number>(INGEST_BUCKETS.length).fill(0);
  private ingestCount = 0;
  private ingestSum = 0;

  reject(code: string): void {
    this.rejected.set(code, (this.rejected.get(code) ?? 0) + 1);
  }

  get rejectedTotal(): number {
    let n = 0;
    for (const v of this.rejected.values()) n += v;
    return n;
  }

  /** Records the wall time of one accepted upload, in seconds. */
  observeIngest(seconds: number): void {
    this.ingestCount += 1;
    this.ingestSum += seconds;
    for (let i = 0; i < INGEST_BUCKETS.length; i++)
      if (seconds <= INGEST_BUCKETS[i]!) this.bucketCounts[i]! += 1;
  }

  render(g: {
    modelVersion: number;
    epsilon: number;
    delta: number;
    roundAccepted: number;
    epsilonBudget: number | null;
    /** Include upload counts (operator only). */
    counts: boolean;
  }): string {
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, lines: string[]): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    };
    const privacyHelp = `per shopper against model observers, at delta ${g.delta}, no sampling (docs/privacy.md)`;
    const party = '{party="observers",unit="shopper"}';
    metric('fedrank_model_version', 'gauge', 'Version of the global model.', [
      `fedrank_model_version ${g.modelVersion}`,
    ]);
    metric(
      'fedrank_origin_refused_total',
      'counter',
      'Browser requests refused because their origin is not in allowedOrigins, by origin.',
      this.refusedOrigins.metricLines(),
    );
    metric('fedrank_rounds_closed_total', 'counter', 'Rounds closed since start.', [
      `fedrank_rounds_closed_total ${this.roundsClosed}`,
    ]);
    metric('fedrank_epsilon_spent', 'gauge', `Epsilon of the released model, ${privacyHelp}.`, [
      `fedrank_epsilon_spent${party} ${num(g.epsilon)}`,
    ]);
    if (g.epsilonBudget !== null)
      metric('fedrank_epsilon_budget', 'gauge', `Configured epsilon budget, ${privacyHelp}.`, [
        `fedrank_epsilon_budget${party} ${g.epsilonBudget}`,
      ]);
    const mem = process.memoryUsage();
    metric('process_resident_memory_bytes', 'gauge', 'Resident set size.', [
      `process_resident_memory_bytes ${mem.rss}`,
    ]);
    if (!g.counts) return out.join('\n') + '\n';
    metric('fedrank_updates_accepted_total', 'counter', 'Updates accepted and counted.', [
      `fedrank_updates_accepted_total ${this.accepted}`,
    ]);
    metric(
      'fedrank_updates_duplicate_total',
      'counter',
      'Replayed uploads acknowledged again (not counted).',
      [`fedrank_updates_duplicate_total ${this.duplicates}`],
    );
    metric(
      'fedrank_updates_rejected_total',
      'counter',
      'Uploads rejected, by error code.',
      [...this.rejected.entries()].sort().map(([c, v]) => `fedrank_updates_rejected_total{code="${c}"} ${v}`),
    );
    metric('fedrank_round_accepted', 'gauge', 'Updates accepted in the open round.', [
      `fedrank_round_accepted ${g.roundAccepted}`,
    ]);
    const lines = INGEST_BUCKETS.map(
      (b, i) => `fedrank_ingest_seconds_bucket{le="${b}"} ${this.bucketCounts[i]}`,
    );
    lines.push(`fedrank_ingest_seconds_bucket{le="+Inf"} ${this.ingestCount}`);
    lines.push(
      `fedrank_ingest_seconds_sum ${this.ingestSum}`,
      `fedrank_ingest_seconds_count ${this.ingestCount}`,
    );
    metric(
      'fedrank_ingest_seconds',
      'histogram',
      'Time from request start to acknowledgement of accepted updates.',
      lines,
    );
    return out.join('\n') + '\n';
  }
}

function num(x: number): string {
  return Number.isFinite(x) ? String(x) : x > 0 ? '+Inf' : 'NaN';
}

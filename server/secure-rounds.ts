/**
 * The secure-aggregation lifecycle of the server: each aggregation round that opens gets a SecAgg+ round
 * of the coordinator (cohort rounds.maxClients, survivor threshold, fixed denominator, the model's d, clip
 * and noise multiplier); once it has unmasked, its decoded sum closes the aggregation round through the
 * ordinary close path (Aggregator.closeSecure); below threshold it fails and a fresh secure round opens for
 * the same aggregation round. Secure rounds have ids of their own (GET /v1/secagg/current names the open
 * one): a failed attempt's id is never reused, so no client can mix the messages of two attempts.
 *
 * Crash safety: an unmasked result lives only in memory until the close has committed (the close runs in
 * the coordinator's exclusive section, so no other process sees the round done before it); a round that
 * unmasked but lost its close gets a fresh secure round. On a store of one process, a round in progress
 * when the server stopped is closed as failed at start (its keys, shares and masked sum deleted). On a
 * shared store (PostgreSQL) the round is the database's: a process that starts joins it, one that dies
 * leaves it to the others. Nothing unmasked is ever released by a restart.
 */
import type { Aggregator, Log } from './aggregator.ts';
import type { ServerConfig } from './config.ts';
import { meanDenominator } from './privacy.ts';
import { degreeAndThreshold, secAggSettings } from './secagg/config.ts';
import { inProgress, SecAggCoordinator, type SecAggResult } from './secagg/coordinator.ts';
import type { SecAggPhase, SecAggRoundRecord, SecAggStore } from './secagg/store.ts';
import { secureRoundNoise } from './secure-accounting.ts';

/** What the operator sees of one secure round (admin only: per-round counts are a release). */
export interface SecureRoundView {
  secureRound: number;
  forRound: number;
  phase: SecAggPhase;
  cohort: number;
  threshold: number;
  minSurvivors: number;
  /** Participants per phase: advertised keys, shared keys, sent masked inputs, unmasked. */
  survivors: { advertise: number; share: number; mask: number; unmask: number };
  /** Advertised but never sent a masked input. */
  dropouts: number;
  phaseMs: Partial<Record<SecAggPhase, number>>;
  failure: string | null;
}

/** Totals since the server started. */
export interface SecureRoundTotals {
  opened: number;
  completed: number;
  failed: number;
  unmaskFailures: number;
}

/** The secure round clients should join now. */
export interface CurrentSecureRound {
  round: number;
  forRound: number;
}

function view(r: SecAggRoundRecord, forRound: number): SecureRoundView {
  return {
    secureRound: r.round,
    forRound,
    phase: r.phase,
    cohort: r.params.n,
    threshold: r.params.t,
    minSurvivors: r.params.minSurvivors,
    survivors: {
      advertise: r.advertised.length,
      share: r.shared.length,
      mask: r.masked.length,
      unmask: r.unmasked.length,
    },
    dropouts: r.advertised.length - r.masked.length,
    phaseMs: { ...r.phaseMs },
    failure: r.failure,
  };
}

/** Runs one secure round per aggregation round. */
export class SecureRounds {
  readonly coordinator: SecAggCoordinator;
  /** What this process did: the sums over all processes are the cluster's. */
  readonly totals: SecureRoundTotals = { opened: 0, completed: 0, failed: 0, unmaskFailures: 0 };
  private current: { round: number; forRound: number } | null = null;
  private recent: SecureRoundView[] = [];
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly settings;

  constructor(
    private readonly config: ServerConfig,
    private readonly agg: Aggregator,
    readonly store: SecAggStore,
    private readonly log: Log,
    private readonly now: () => number,
    /** Test seam: each unmasked result, before its close (ringSum is the exact sum of encoded inputs). */
    private readonly onResult?: (r: SecAggResult) => void,
  ) {
    this.settings = secAggSettings(config.secureAggregation, config.privacy.secureAggregation);
    this.coordinator = new SecAggCoordinator(store, this.settings, {
      onDone: (res) => this.finish(res),
      onFailed: (r) => this.failed(r),
    });
  }

  /** Fails a round left in progress by this process's predecessor, joins or opens one, starts ticking. */
  async start(tickMs = 1000): Promise<void> {
    const left = await this.store.latestRound();
    if (!this.store.shared && left && inProgress(left)) {
      await this.store.closeRound({ ...left, phase: 'failed', failure: 'server restarted mid-round' });
      this.log.warn(
        { secureRound: left.round },
        'a secure round in progress at restart failed; nothing was unmasked',
      );
    }
    await this.ensure();
    this.timer = setInterval(() => void this.check(), tickMs);
    this.timer.unref();
  }

  /** Stops ticking (the store is the caller's). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** The aggregator opened round `id` (AggregatorEvents.onRoundOpened). */
  roundOpened(_id: number): Promise<void> {
    return this.serial(() => this.ensure());
  }

  /** Advances the secure round in progress (deadlines); opens the next once it has ended. */
  check(): Promise<void> {
    return this.serial(() => this.step());
  }

  /** The secure round to join, as the store has it now (any process may have opened it), or null. */
  async currentRound(): Promise<CurrentSecureRound | null> {
    const r = await this.store.latestRound();
    return r && inProgress(r) && r.forRound !== undefined ? { round: r.round, forRound: r.forRound } : null;
  }

  /** The open and the last finished secure rounds this process saw, newest first, for the operator. */
  status(): { current: SecureRoundView | null; recent: SecureRoundView[]; totals: SecureRoundTotals } {
    const live = this.recent[0];
    const current = live && this.current?.round === live.secureRound ? live : null;
    return { current, recent: this.recent.filter((r) => r !== current), totals: { ...this.totals } };
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    this.chain = this.chain
      .then(fn)
      .catch((err) => this.log.error({ err }, 'secure-aggregation lifecycle step failed'));
    return this.chain;
  }

  private remember(r: SecAggRoundRecord): void {
    const v = view(r, r.forRound ?? 0);
    if (this.recent[0]?.secureRound === r.round) this.recent[0] = v;
    else this.recent.unshift(v);
    this.recent.length = Math.min(this.recent.length, 20);
    this.current = inProgress(r) ? { round: r.round, forRound: r.forRound ?? 0 } : null;
  }

  /** Joins (or opens) the secure round of the open aggregation round, as all processes see it. */
  private async ensure(): Promise<void> {
    if (this.stopped) return;
    const { rounds, training: t } = this.config;
    const cohort = rounds.maxClients;
    const { t: threshold } = degreeAndThreshold(this.settings, cohort);
    // The noise is calibrated to the fewest inputs the server may unmask: the threshold, and never fewer
    // than minClients (the plain rounds' promise).
    const minSurvivors = Math.min(cohort, Math.max(threshold, rounds.minClients));
    const got = await this.coordinator.ensureOpen(
      {
        cohort,
        minSurvivors,
        denominator: meanDenominator(t),
        d: this.agg.model.paramCount,
        clipNorm: t.clipNorm,
        noiseMultiplier: t.noiseMultiplier,
      },
      async () => {
        await this.agg.refresh(); // a shared store: another process may have closed the round
        return this.agg.open?.round.id ?? null;
      },
      this.now,
    );
    if (!got) return;
    if (got.opened) this.totals.opened += 1;
    this.remember(got.record);
  }

  private async step(): Promise<void> {
    if (this.stopped) return;
    const latest = await this.store.latestRound();
    if (latest && inProgress(latest)) {
      const r = await this.coordinator.tick(latest.round, this.now());
      this.remember(r);
      if (inProgress(r)) return;
    }
    await this.ensure();
  }

  /** A round failed (in whichever call of this process): counted and logged; step() opens a fresh one. */
  private failed(r: SecAggRoundRecord): void {
    this.totals.failed += 1;
    if (r.failure?.startsWith('unmask')) this.totals.unmaskFailures += 1;
    this.remember(r);
    const at = { secureRound: r.round, round: r.forRound, failure: r.failure };
    // A round nobody joined is an idle shop, not a fault: the operator's log stays quiet about it.
    if (r.advertised.length === 0) this.log.info(at, 'secure round expired with no participants');
    else this.log.warn(at, 'secure round failed');
    if (!this.stopped) void this.check();
  }

  /**
   * Closes the aggregation round with an unmasked result, inside the coordinator's exclusive section:
   * no other process sees the secure round done before this close has committed or failed.
   */
  private async finish(res: SecAggResult): Promise<void> {
    const r = res.record;
    this.remember(r);
    try {
      if (r.forRound === undefined || this.stopped) return;
      this.onResult?.(res);
      const e = r.params.encoding;
      const closed = await this.agg.closeSecure({
        round: r.forRound,
        sum: res.sum,
        survivors: r.masked.length,
        noise: secureRoundNoise(e, r.params.minSurvivors, r.denominator),
      });
      if (closed) this.totals.completed += 1;
      this.log.info(
        { secureRound: r.round, round: r.forRound, survivors: r.masked.length, closed },
        'secure round unmasked',
      );
      // A refused close leaves the aggregation round open: the next step opens a fresh secure round for it.
      if (!closed && !this.stopped) void this.check();
    } finally {
      // The decoded sum is released only as the merged model: no copy stays in memory.
      res.sum.fill(0);
      res.mean.fill(0);
      res.ringSum.fill(0);
    }
  }
}

/** Prometheus lines of the secure rounds (admin /metrics only: per-round counts are a release). */
export function secureRoundMetrics(s: ReturnType<SecureRounds['status']>): string {
  const lines: string[] = [];
  const metric = (name: string, help: string, type: 'counter' | 'gauge', v: number, labels = ''): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${labels} ${v}`);
  };
  const t = s.totals;
  metric('fedrank_secagg_rounds_opened_total', 'Secure rounds opened.', 'counter', t.opened);
  metric(
    'fedrank_secagg_rounds_completed_total',
    'Secure rounds unmasked and merged.',
    'counter',
    t.completed,
  );
  metric('fedrank_secagg_rounds_failed_total', 'Secure rounds that failed.', 'counter', t.failed);
  metric(
    'fedrank_secagg_unmask_failures_total',
    'Secure rounds that failed to unmask.',
    'counter',
    t.unmaskFailures,
  );
  const last = s.current ?? s.recent[0];
  if (last) {
    metric('fedrank_secagg_cohort', 'Cohort size of the newest secure round.', 'gauge', last.cohort);
    lines.push('# HELP fedrank_secagg_survivors Participants per phase of the newest secure round.');
    lines.push('# TYPE fedrank_secagg_survivors gauge');
    for (const [p, v] of Object.entries(last.survivors))
      lines.push(`fedrank_secagg_survivors{phase="${p}"} ${v}`);
    metric('fedrank_secagg_dropouts', 'Dropouts of the newest secure round.', 'gauge', last.dropouts);
    lines.push('# HELP fedrank_secagg_phase_seconds Phase durations of the newest secure round.');
    lines.push('# TYPE fedrank_secagg_phase_seconds gauge');
    for (const [p, ms] of Object.entries(last.phaseMs))
      lines.push(`fedrank_secagg_phase_seconds{phase="${p}"} ${(ms ?? 0) / 1000}`);
  }
  return lines.join('\n') + '\n';
}

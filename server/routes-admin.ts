/** Operator routes under /v1/admin/, behind the bearer token. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FedrankError } from '../shared/errors.ts';
import type { Aggregator } from './aggregator.ts';
import type { ServerConfig } from './config.ts';
import type { Metrics } from './metrics.ts';
import { deploymentGuarantees } from './guarantees.ts';
import { ledgerAssumptions } from './privacy.ts';
import { evalAggregate, type EvalAggregate } from './eval-reports.ts';
import type { Store } from './store/types.ts';
import { roundSignal } from './round-signal.ts';
import { secureRoundMetrics, type SecureRounds } from './secure-rounds.ts';

interface Ctx {
  aggregator: Aggregator;
  metrics: Metrics;
  config: ServerConfig;
  store: Store;
  checkOperator(req: FastifyRequest): Promise<void>;
  started: number;
  /** Secure rounds (null: off). */
  secure?: SecureRounds | null;
}

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** A round's evaluation: its sample size, and the means once there are enough reports. */
function roundEval(a: EvalAggregate) {
  const { reports, examples, minReports } = a;
  return { reports, examples, minReports, hitAt10: a.meanHitAt10, ndcgAt10: a.meanNdcgAt10 };
}

/** The configuration without secrets. */
export function publicConfig(
  c: ServerConfig,
): Omit<ServerConfig, 'operatorToken'> & { operatorToken?: string } {
  const { operatorToken: _t, ...rest } = c;
  const tokens = c.tokens.shopSecret === undefined ? c.tokens : { ...c.tokens, shopSecret: '(set)' };
  return { ...rest, tokens, ...(c.operatorToken !== undefined ? { operatorToken: '(set)' } : {}) };
}

/** roundSignal for JSON (an infinite SNR, without noise, as null). */
function signalView(config: ServerConfig, paramCount: number): Record<string, unknown> {
  const s = roundSignal(config.training, config.rounds.minClients, paramCount);
  return { ...s, snr: finite(s.snr), minClients: config.rounds.minClients, paramCount };
}

export function registerAdminRoutes(app: FastifyInstance, ctx: Ctx): void {
  const { aggregator: agg, metrics, config, store } = ctx;
  // What the configuration promises one shopper, per party (as `fedrank privacy explain` prints it).
  const promised = deploymentGuarantees(config);
  const party = (g: typeof promised.server) => ({
    epsilon: finite(g.epsilon),
    delta: g.delta,
    contributions: g.contributions,
    assumptions: g.assumptions,
  });

  void app.register(
    async (admin) => {
      admin.addHook('onRequest', async (req, reply) => {
        void reply.header('cache-control', 'no-store');
        await ctx.checkOperator(req);
      });

      admin.get('/status', async () => {
        await agg.refresh(); // a shared store: the round as every process counts it
        const ok = await store.ping().catch(() => false);
        const recent = await store.listRounds(1);
        const evals = await store.evalTotals(
          Array.from({ length: Math.min(agg.version + 1, 50) }, (_, i) => agg.version - i),
        );
        return {
          health: { ok, store: ok ? 'ok' : 'failing', queuedUploads: agg.queuedUploads },
          uptimeSeconds: (Date.now() - ctx.started) / 1000,
          store: agg.store.shared ? 'postgres' : 'sqlite',
          model: { modelId: agg.model.modelId, version: agg.version, paramCount: agg.model.paramCount },
          round: agg.roundInfo(true),
          roundNote: agg.refusal ?? agg.waitingNote,
          budgetExhausted: agg.refusal !== null,
          lastRound: recent[0] ?? null,
          totals: {
            accepted: metrics.accepted,
            duplicates: metrics.duplicates,
            rejected: metrics.rejectedTotal,
          },
          privacy: {
            delta: config.privacy.delta,
            epsilonSpent: finite(agg.ledger.epsilon),
            epsilonBudget: config.privacy.epsilonBudget,
            rounds: agg.ledger.roundCount,
            party: 'observers',
            assumptions: ledgerAssumptions(config),
            trainingStopped: agg.refusal,
            perShopper: { server: party(promised.server), observers: party(promised.observers) },
          },
          training: config.training,
          rounds: config.rounds,
          optimizer: config.optimizer,
          evals: evals.map((e) => evalAggregate(e, config.evals)),
          rssBytes: process.memoryUsage().rss,
          refusedOrigins: metrics.refusedOrigins.list(),
          roundSignal: signalView(config, agg.model.paramCount),
          secureAggregation: ctx.secure?.status() ?? null,
        };
      });

      admin.get('/rounds', async (req) => {
        const raw = (req.query as Record<string, unknown>).limit;
        const limit = raw === undefined ? 50 : Number(raw);
        if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
          throw new FedrankError('BAD_REQUEST', 'limit must be an integer in [1, 10000]');
        const rounds = await store.listRounds(limit);
        const versions = rounds.filter((r) => r.resultVersion !== null).map((r) => r.resultVersion!);
        const evals = new Map((await store.evalTotals(versions)).map((e) => [e.modelVersion, e]));
        return {
          rounds: rounds.map((r) => {
            const live = r.state === 'open' && agg.open?.round.id === r.id;
            // A shared store reports the open round's count over all processes itself.
            const count = live ? Math.max(agg.roundAccepted, r.participants) : r.participants;
            const e = r.resultVersion !== null ? evals.get(r.resultVersion) : undefined;
            return {
              ...r,
              participants: count,
              contributions: count,
              modelVersionAfter: r.resultVersion,
              eval: e ? roundEval(evalAggregate(e, config.evals)) : null,
            };
          }),
        };
      });

      admin.get('/rejections', async () => {
        return {
          byReason: Object.fromEntries([...metrics.rejected.entries()].sort()),
          total: metrics.rejectedTotal,
          since: new Date(ctx.started).toISOString(),
        };
      });

      admin.get('/config', async () => publicConfig(config));

      // The full metrics, upload counts included (the public /metrics has none); scrape with the token.
      admin.get('/metrics', async (_req, reply) => {
        const text = metrics.render({
          modelVersion: agg.version,
          epsilon: agg.ledger.epsilon,
          delta: config.privacy.delta,
          roundAccepted: agg.open?.acc.count ?? 0,
          epsilonBudget: config.privacy.epsilonBudget,
          counts: true,
        });
        const secure = ctx.secure ? secureRoundMetrics(ctx.secure.status()) : '';
        return reply.type('text/plain; version=0.0.4; charset=utf-8').send(text + secure);
      });
    },
    { prefix: '/v1/admin' },
  );
}

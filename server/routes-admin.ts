/** Operator routes under /v1/admin/, behind the bearer token. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FedrankError } from '../shared/errors.ts';
import type { Aggregator } from './aggregator.ts';
import type { ServerConfig } from './config.ts';
import type { Metrics } from './metrics.ts';
import type { Store } from './store/types.ts';

interface Ctx {
  aggregator: Aggregator;
  metrics: Metrics;
  config: ServerConfig;
  store: Store;
  checkOperator(req: FastifyRequest): Promise<void>;
  started: number;
}

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** The configuration without secrets. */
export function publicConfig(
  c: ServerConfig,
): Omit<ServerConfig, 'operatorToken'> & { operatorToken?: string } {
  const { operatorToken: _t, ...rest } = c;
  return { ...rest, ...(c.operatorToken !== undefined ? { operatorToken: '(set)' } : {}) };
}

export function registerAdminRoutes(app: FastifyInstance, ctx: Ctx): void {
  const { aggregator: agg, metrics, config, store } = ctx;

  void app.register(
    async (admin) => {
      admin.addHook('onRequest', async (req, reply) => {
        void reply.header('cache-control', 'no-store');
        await ctx.checkOperator(req);
      });

      admin.get('/status', async () => {
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
          round: agg.roundInfo(),
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
            samplingRate: agg.ledger.q,
          },
          training: config.training,
          rounds: config.rounds,
          optimizer: config.optimizer,
          evals: evals.map((e) => ({
            ...e,
            meanNdcgAt10: e.ndcgAt10 / Math.max(1, e.examples),
            meanHitAt10: e.hitsAt10 / Math.max(1, e.examples),
          })),
          rssBytes: process.memoryUsage().rss,
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
              eval: e
                ? {
                    reports: e.reports,
                    examples: e.examples,
                    hitAt10: e.hitsAt10 / Math.max(1, e.examples),
                    ndcgAt10: e.ndcgAt10 / Math.max(1, e.examples),
                  }
                : null,
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
    },
    { prefix: '/v1/admin' },
  );
}

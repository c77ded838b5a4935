/**
 * The configuration rules that span sections (noise mode against secure aggregation, the survivor count
 * against the round's minimum, a budget against sigma 0): the combinations the per-section checks cannot
 * see, each of which would make the privacy the server reports untrue.
 */
import type { ConfigCheck } from './config-check.ts';
import type { ServerConfig } from './config.ts';

/** Rules across sections; each runs only when the values it reads passed their own checks. */
export function checkAcross(c: ConfigCheck, x: ServerConfig): void {
  const ok = (...paths: string[]): boolean => paths.every((p) => !c.failed(p));
  const { training: t, rounds: r, privacy: p } = x;
  if (
    ok('privacy.samplingRate', 'privacy.populationSize') &&
    (p.samplingRate !== null || p.populationSize !== null)
  )
    c.problem(
      'privacy.samplingRate',
      'amplification by sampling is not available: no round samples its clients (the first devices to show up join), so samplingRate and populationSize must be null',
    );
  if (
    ok('training.noiseMode', 'privacy.secureAggregation') &&
    t.noiseMode === 'distributed' &&
    !p.secureAggregation
  )
    c.problem(
      'training.noiseMode',
      "distributed noise needs privacy.secureAggregation: without it the server sees each upload with 1/sqrt(m) of the noise; use 'local'",
    );
  if (ok('training.noiseMode', 'privacy.secureAggregation') && t.noiseMode === 'local' && p.secureAggregation)
    c.problem(
      'training.noiseMode',
      "secure aggregation calibrates each client's discrete noise to the survivor threshold: use 'distributed'",
    );
  if (
    ok('training.noiseMode', 'training.expectedClientsPerRound', 'rounds.minClients') &&
    t.noiseMode === 'distributed' &&
    t.expectedClientsPerRound > r.minClients
  )
    c.problem(
      'training.expectedClientsPerRound',
      `must be <= rounds.minClients (${r.minClients}) in distributed mode, else a round can close with less noise than sigma*C`,
    );
  if (
    ok('privacy.epsilonBudget', 'training.noiseMultiplier') &&
    p.epsilonBudget !== null &&
    t.noiseMultiplier === 0
  )
    c.problem(
      'privacy.epsilonBudget',
      'a budget needs training.noiseMultiplier > 0 (sigma 0 spends infinite epsilon)',
    );
}

/**
 * What a server configuration guarantees to one shopper, per party, with the shared accountant: the round
 * mechanism the configuration runs, the participation the devices enforce, and the server's own ledger
 * (rounds until the epsilon budget stops training). Used by `fedrank privacy explain` and docs/privacy.md.
 */
import { userLevelPrivacy, type PartyGuarantee, type RoundMechanism } from '../shared/dp/participation.ts';
import type { ServerConfig } from './config.ts';
import { composedEpsilon, gaussianRdp } from '../shared/dp/mechanisms.ts';
import { ledgerAssumptions, minStalenessWeight, plannedSigma } from './privacy.ts';

/** Beyond this many contributions (or rounds), the search stops and reports the cap it reached. */
const SEARCH_CAP = 100_000;

/** The guarantees of one configuration. */
export interface DeploymentGuarantees {
  delta: number;
  mechanism: RoundMechanism;
  participation: {
    /** Contributions one device makes at most. */
    maxContributions: number;
    minSeparationRounds: number;
    /** What sets maxContributions: the configured cap, or the device budget against the server. */
    limitedBy: 'privacy.maxContributions' | 'privacy.deviceEpsilonBudget';
  };
  server: PartyGuarantee;
  observers: PartyGuarantee;
  /** The server's ledger (model observers): budget, per-round sigma, rounds before training stops. */
  ledger: {
    epsilonBudget: number | null;
    sigmaPerRound: number;
    /** Rounds the budget allows; null when it never runs out (participation cap) or there is no budget. */
    roundsUntilBudget: number | null;
    assumptions: string[];
  };
  /** What the figures do not cover. */
  notProtected: string[];
}

/** The round mechanism of a configuration: sigma of the sum over t = rounds.minClients honest clients. */
export function mechanismOf(config: ServerConfig): RoundMechanism {
  const t = config.training;
  const threshold = config.rounds.minClients;
  // Distributed: each client adds sigma*C/sqrt(m), so t honest clients together carry sigma*sqrt(t/m).
  const sigma =
    t.noiseMode === 'local'
      ? t.noiseMultiplier
      : t.noiseMultiplier * Math.sqrt(threshold / t.expectedClientsPerRound);
  return {
    noiseMode: t.noiseMode,
    secureAggregation: config.privacy.secureAggregation,
    sigma,
    threshold,
    // Secure aggregation sums masked inputs with equal weights: no staleness discount thins the others' noise.
    minWeight: config.privacy.secureAggregation ? 1 : minStalenessWeight(config.rounds),
  };
}

/** Largest k with epsilon(k) <= budget, for epsilon nondecreasing in k (0 when even one is too many). */
function largestWithin(budget: number, epsilonAt: (k: number) => number): number {
  if (epsilonAt(1) > budget) return 0;
  let lo = 1;
  let hi = 2;
  while (hi < SEARCH_CAP && epsilonAt(hi) <= budget) [lo, hi] = [hi, hi * 2];
  if (hi >= SEARCH_CAP && epsilonAt(SEARCH_CAP) <= budget) return SEARCH_CAP;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (epsilonAt(mid) <= budget) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Everything `fedrank privacy explain` prints, for a validated configuration. */
export function deploymentGuarantees(config: ServerConfig): DeploymentGuarantees {
  const p = config.privacy;
  const mechanism = mechanismOf(config);
  const b = p.minSeparationRounds;
  const serverEps = (k: number): number =>
    userLevelPrivacy(mechanism, { maxContributions: k, minSeparation: b }, p.delta).server.epsilon;
  // The device stops contributing before its ledger (against the server) would pass its budget.
  const byBudget = largestWithin(p.deviceEpsilonBudget, serverEps);
  const k = p.maxContributions === null ? byBudget : Math.min(p.maxContributions, byBudget);
  const limitedBy =
    p.maxContributions !== null && p.maxContributions <= byBudget
      ? 'privacy.maxContributions'
      : 'privacy.deviceEpsilonBudget';
  const u = userLevelPrivacy(mechanism, { maxContributions: k, minSeparation: b }, p.delta);
  const sigmaPerRound = plannedSigma(config, config.rounds.minClients);
  // The ledger over n rounds of the planned sigma: the rounds a shopper can be in (all, or at most k) compose.
  const ledgerEps = (n: number): number => {
    const counted = p.maxContributions === null ? n : Math.min(n, p.maxContributions);
    return composedEpsilon([{ rdp: gaussianRdp(sigmaPerRound), times: counted }], p.delta).epsilon;
  };
  let roundsUntilBudget: number | null = null;
  const neverSpent = p.maxContributions !== null && ledgerEps(p.maxContributions) <= (p.epsilonBudget ?? 0);
  if (p.epsilonBudget !== null && !neverSpent) roundsUntilBudget = largestWithin(p.epsilonBudget, ledgerEps);
  return {
    delta: p.delta,
    mechanism,
    participation: { maxContributions: k, minSeparationRounds: b, limitedBy },
    server: u.server,
    observers: u.observers,
    ledger: {
      epsilonBudget: p.epsilonBudget,
      sigmaPerRound,
      roundsUntilBudget,
      assumptions: ledgerAssumptions(config),
    },
    notProtected: [
      'that a browser takes part at all, and when it uploads (timing, IP address, request metadata)',
      'a person with several browser profiles or devices: each profile is protected separately',
      'forget() erases the device data but is not a fresh budget for the same person (bounded by token issuance quotas)',
      'a malicious server or operator beyond honest-but-curious (see docs/privacy.md)',
    ],
  };
}

const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : 'unbounded');

/** The guarantees in plain words, one paragraph per party. */
export function explainInWords(g: DeploymentGuarantees): string {
  const m = g.mechanism;
  const noise =
    m.noiseMode === 'local'
      ? `local noise: each upload carries noise multiplier ${m.sigma}`
      : `distributed noise: at least ${m.threshold} honest clients together add noise multiplier ${m.sigma.toFixed(3)}${m.secureAggregation ? ', under secure aggregation' : ', WITHOUT secure aggregation'}`;
  const party = (who: string, x: PartyGuarantee): string =>
    `Against ${who}: epsilon ${fmt(x.epsilon)} at delta ${x.delta} per shopper (one browser profile on one shop ` +
    `origin, all its contributions over the model's lifetime), seeing noise multiplier ${x.sigmaSeen.toFixed(3)} ` +
    `per contribution. Assumes: ${x.assumptions.join('; ')}.`;
  const l = g.ledger;
  const ledger =
    l.epsilonBudget === null
      ? 'The server has no epsilon budget: training never stops on privacy grounds.'
      : `The server's ledger (${l.assumptions.join('; ')}) stops training at epsilon ${l.epsilonBudget}: ` +
        (l.roundsUntilBudget === null
          ? 'never reached, since each shopper is in at most the capped number of rounds.'
          : `after about ${l.roundsUntilBudget} rounds at sigma ${l.sigmaPerRound.toFixed(3)} per round.`);
  return [
    `Mechanism: ${noise}; rounds close with at least ${m.threshold} clients; no amplification by sampling.`,
    `Participation: each device contributes at most ${g.participation.maxContributions} times, at least ` +
      `${g.participation.minSeparationRounds} rounds apart (set by ${g.participation.limitedBy}).`,
    party('the aggregation server and its operator', g.server),
    party('anyone who downloads a model', g.observers),
    ledger,
    `Not protected: ${g.notProtected.join('; ')}.`,
  ].join('\n\n');
}

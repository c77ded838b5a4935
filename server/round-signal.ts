/**
 * Can a round leave any signal through the configured noise? The mean update of a round is
 * (sum of n clipped updates + noise) / n. Its signal has norm at most C (n shoppers who all agree,
 * each clipped to C); its noise has per-parameter std sigma*C/sqrt(n*m) in distributed mode (each of n
 * devices adds sigma*C/sqrt(m)) and sigma*C/sqrt(n) in local mode, so over d parameters a norm of about
 * std*sqrt(d). The best-case signal-to-noise ratio of one round is therefore
 *   distributed: SNR = sqrt(n*m) / (sigma*sqrt(d))      local: SNR = sqrt(n) / (sigma*sqrt(d))
 * independent of C. Below 1 even unanimous shoppers move the model less than the noise does in every
 * round; consistent signal adds up linearly over R rounds and noise only as sqrt(R), so such a server
 * needs about 1/SNR^2 rounds before the model can beat its noise, and until then it mostly adds noise
 * to every device's ranking. Rounds need n >= sigma^2*d/m clients (distributed; sigma*sqrt(d) with
 * m = n) or n >= sigma^2*d (local) for SNR >= 1.
 */
import type { TrainingConfig } from '../shared/protocol.ts';

/** The signal assessment the server logs at start and the dashboard shows. */
export interface RoundSignal {
  /** Best-case signal-to-noise ratio of one round's mean update at minClients (Infinity without noise). */
  snr: number;
  /** Smallest minClients (with expectedClientsPerRound = minClients in distributed mode) giving SNR >= 1. */
  minClientsForSignal: number;
  /** Rounds of consistent signal needed before it outweighs the accumulated noise (1/SNR^2, at least 1). */
  roundsToOutweighNoise: number;
  /** A warning for the operator when SNR < 1, else null. */
  warning: string | null;
}

/** Assesses rounds of `minClients` updates of `paramCount` parameters under `training`'s noise. */
export function roundSignal(training: TrainingConfig, minClients: number, paramCount: number): RoundSignal {
  const sigma = training.noiseMultiplier;
  const d = paramCount;
  if (sigma === 0) return { snr: Infinity, minClientsForSignal: 1, roundsToOutweighNoise: 1, warning: null };
  const distributed = training.noiseMode === 'distributed';
  const m = training.expectedClientsPerRound;
  const snr = (distributed ? Math.sqrt(minClients * m) : Math.sqrt(minClients)) / (sigma * Math.sqrt(d));
  const need = Math.ceil(distributed ? sigma * Math.sqrt(d) : sigma * sigma * d);
  const rounds = Math.max(1, Math.ceil(1 / (snr * snr)));
  const warning =
    snr >= 1
      ? null
      : `rounds of ${minClients} clients are too small for noise sigma=${sigma} over ${d} parameters: ` +
        `the noise of a round's mean update is ${(1 / snr).toFixed(0)}x the largest possible signal ` +
        `(SNR ${snr.toPrecision(2)}), so the global model mostly adds noise until about ${rounds} rounds ` +
        `have agreed; use rounds.minClients >= ${need}${distributed ? ' (and expectedClientsPerRound = minClients)' : ''}, ` +
        `a smaller model, or less noise (a larger epsilon)`;
  return { snr, minClientsForSignal: need, roundsToOutweighNoise: rounds, warning };
}

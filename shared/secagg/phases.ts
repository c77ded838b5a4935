/**
 * The phases of a secure round as both ends name them, and the one parser the client applies to a phase
 * the relay reports (in the round's status body or in the header of a slot reply).
 */

/** Phases of a secure round, in the order a round passes through them ('failed' may end any). */
export const SECAGG_PHASES = ['advertise', 'share', 'mask', 'unmask', 'done', 'failed'] as const;

/** A phase of a secure round. */
export type SecAggPhase = (typeof SECAGG_PHASES)[number];

/**
 * Response header of every slot reply: the round's phase, so that a waiting client learns
 * whether it was left out without a second request per poll (shoppers behind one address share a limit).
 */
export const HEADER_SECAGG_PHASE = 'x-fedrank-secagg-phase';

/** The phase named by `x`, or null when it names none. */
export function parseSecAggPhase(x: unknown): SecAggPhase | null {
  return typeof x === 'string' && (SECAGG_PHASES as readonly string[]).includes(x)
    ? (x as SecAggPhase)
    : null;
}

/**
 * The pure rules of a secure round on the server: who may send what in which phase, what each message must
 * contain, when a phase ends (everyone expected answered, or its deadline passed), the survivor thresholds,
 * and what to relay to whom. No I/O: the coordinator applies these to its store.
 */
import { FedrankError } from '../../shared/errors.ts';
import type { NeighbourGraph } from '../../shared/secagg/graph.ts';
import type {
  MaskedInput,
  PeerKeys,
  RevealedShare,
  Roster,
  SealedShare,
  ShareKeys,
  SharesIn,
  Unmask,
  UnmaskRequest,
} from '../../shared/secagg/messages.ts';
import type { SecAggDeadlines } from './config.ts';
import type { SecAggPhase, SecAggRoundRecord } from './store.ts';

type Code = 'SECAGG_WRONG_PHASE' | 'SECAGG_NOT_PARTICIPANT' | 'SECAGG_INCONSISTENT';
function refuse(code: Code, detail: string): never {
  throw new FedrankError(code, detail);
}

/** The set of slots a client may send in a phase (and the list it joins). */
const SENDERS: Partial<Record<SecAggPhase, (r: SecAggRoundRecord) => number[] | 'cohort'>> = {
  advertise: () => 'cohort',
  share: (r) => r.advertised,
  mask: (r) => r.shared,
  unmask: (r) => r.masked,
};

/** Checks that `slot` may send the message of the round's current phase, once. */
export function checkSender(r: SecAggRoundRecord, phase: SecAggPhase, round: number, slot: number): void {
  if (round !== r.round) refuse('SECAGG_WRONG_PHASE', `round ${round} is not the open secure round`);
  if (r.phase !== phase) refuse('SECAGG_WRONG_PHASE', `the round is in phase ${r.phase}, not ${phase}`);
  const allowed = SENDERS[phase]!(r);
  const inPhase = allowed === 'cohort' ? slot >= 1 && slot <= r.params.n : allowed.includes(slot);
  if (!inPhase) refuse('SECAGG_NOT_PARTICIPANT', `slot ${slot} is not in this phase`);
  const done = { advertise: r.advertised, share: r.shared, mask: r.masked, unmask: r.unmasked }[
    phase as 'share'
  ];
  if (done.includes(slot)) refuse('SECAGG_NOT_PARTICIPANT', `slot ${slot} already sent this phase`);
}

function sameSet(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function intersect(xs: number[], set: readonly number[]): number[] {
  const s = new Set(set);
  return xs.filter((x) => s.has(x));
}

/** The neighbours of `slot` that advertised keys: its roster, and the recipients of its shares. */
export function rosterSlots(r: SecAggRoundRecord, g: NeighbourGraph, slot: number): number[] {
  return intersect(g.neighbours(slot), r.advertised);
}

/** Share keys must go to exactly the roster the client was sent. */
export function checkShareKeys(r: SecAggRoundRecord, g: NeighbourGraph, m: ShareKeys): void {
  if (
    !sameSet(
      m.shares.map((s) => s.peer),
      rosterSlots(r, g, m.slot),
    )
  )
    refuse('SECAGG_INCONSISTENT', 'share recipients must be exactly the roster');
}

/** A masked input must have the round's ring width and dimension. */
export function checkMaskedInput(r: SecAggRoundRecord, m: MaskedInput): void {
  const e = r.params.encoding;
  if (m.bits !== e.bits || m.d !== e.d)
    refuse('SECAGG_INCONSISTENT', `masked input must be ${e.d} x ${e.bits} bits`);
}

/** What `slot` is asked to reveal: self-seed shares of surviving neighbours, mask-key shares of dropped ones. */
export function unmaskRequestFor(r: SecAggRoundRecord, g: NeighbourGraph, slot: number): UnmaskRequest {
  const sent = intersect(g.neighbours(slot), r.shared);
  const masked = new Set(r.masked);
  return {
    type: 'unmask-request',
    round: r.round,
    slot,
    survivors: sent.filter((x) => masked.has(x)),
    dropped: sent.filter((x) => !masked.has(x)),
  };
}

/** An unmask must reveal exactly the kinds requested, for exactly the peers requested. */
export function checkUnmask(r: SecAggRoundRecord, g: NeighbourGraph, m: Unmask): void {
  const want = unmaskRequestFor(r, g, m.slot);
  const kinds = new Map<number, RevealedShare['kind']>();
  for (const s of want.survivors) kinds.set(s, 'self-seed');
  for (const s of want.dropped) kinds.set(s, 'mask-key');
  if (m.shares.length !== kinds.size || m.shares.some((s) => kinds.get(s.of) !== s.kind))
    refuse('SECAGG_INCONSISTENT', 'unmask must reveal exactly the requested shares');
}

/** The roster message for `slot`: the round parameters and its advertised neighbours' keys. */
export function rosterFor(
  r: SecAggRoundRecord,
  g: NeighbourGraph,
  adverts: PeerKeys[],
  slot: number,
): Roster {
  const mine = new Set(rosterSlots(r, g, slot));
  return {
    type: 'roster',
    round: r.round,
    slot,
    params: r.params,
    peers: adverts.filter((a) => mine.has(a.slot)),
  };
}

/** The shares-in message for `slot`: what its neighbours in U2 sealed for it. */
export function sharesInFor(r: SecAggRoundRecord, slot: number, sealed: SealedShare[]): SharesIn {
  const u2 = new Set(r.shared);
  return { type: 'shares-in', round: r.round, slot, shares: sealed.filter((s) => u2.has(s.peer)) };
}

/** Who the current phase still waits for. */
export function expected(r: SecAggRoundRecord): { done: number[]; of: number } {
  switch (r.phase) {
    case 'advertise':
      return { done: r.advertised, of: r.params.n };
    case 'share':
      return { done: r.shared, of: r.advertised.length };
    case 'mask':
      return { done: r.masked, of: r.shared.length };
    case 'unmask':
      return { done: r.unmasked, of: r.masked.length };
    default:
      return { done: [], of: 0 };
  }
}

const NEXT: Partial<Record<SecAggPhase, SecAggPhase>> = { advertise: 'share', share: 'mask', mask: 'unmask' };

/**
 * Moves a round whose phase is complete or past its deadline to the next phase, or to 'failed' when fewer
 * than minSurvivors took part (the server never asks for unmask shares below the threshold). Unmask
 * completion is decided by the coordinator (it depends on the shares received). Returns the new record.
 */
export function advance(r: SecAggRoundRecord, now: number, deadlines: SecAggDeadlines): SecAggRoundRecord {
  const next = NEXT[r.phase];
  if (!next) return r;
  const { done, of } = expected(r);
  if (done.length < of && now < r.deadline) return r;
  const phaseMs = { ...r.phaseMs, [r.phase]: Math.max(0, now - r.phaseStartedAt) };
  if (done.length < r.params.minSurvivors)
    return {
      ...r,
      phase: 'failed',
      phaseMs,
      failure: `${r.phase}: ${done.length} < ${r.params.minSurvivors} survivors`,
    };
  return {
    ...r,
    phase: next,
    phaseMs,
    phaseStartedAt: now,
    deadline: now + deadlines[next as keyof SecAggDeadlines] * 1000,
  };
}

/** Adds `slot` to a sorted participant list. */
export function withSlot(list: number[], slot: number): number[] {
  return [...list, slot].sort((a, b) => a - b);
}

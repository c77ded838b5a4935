/**
 * The storage port of the secure-aggregation server, separate from server/store/types.ts: round records,
 * advertised keys, relayed sealed shares, the running sum of masked inputs, revealed shares and the slot
 * owners. Every method is atomic; closeRound deletes everything of a round but its record (the masked sum
 * included). `exclusive` serializes state changes across every process that shares the store.
 */
import type {
  PeerKeys,
  RevealedShare,
  SealedShare,
  SecAggRoundParams,
} from '../../shared/secagg/messages.ts';
import type { SecAggPhase } from '../../shared/secagg/phases.ts';

export type { SecAggPhase };

/** The persisted state of one secure round (plain data). */
export interface SecAggRoundRecord {
  round: number;
  /** The aggregation round this secure round closes (absent in bare coordinator use). */
  forRound?: number;
  phase: SecAggPhase;
  params: SecAggRoundParams;
  /** The fixed denominator of the round mean. */
  denominator: number;
  /** When the current phase ends at the latest (ms since the epoch). */
  deadline: number;
  openedAt: number;
  /** When the current phase began (ms since the epoch). */
  phaseStartedAt: number;
  /** Participants per phase: U1 advertised, U2 shared keys, U3 sent masked inputs, U4 unmasked. */
  advertised: number[];
  shared: number[];
  masked: number[];
  unmasked: number[];
  /** Milliseconds each finished phase took. */
  phaseMs: Partial<Record<SecAggPhase, number>>;
  failure: string | null;
}

/** Persistence of secure rounds. */
export interface SecAggStore {
  /** True when several server processes use this store at once (PostgreSQL). */
  readonly shared: boolean;
  /**
   * Runs `fn` while no other process runs an `exclusive` section on this store (a no-op wrapper for a
   * store of one process; the coordinator serializes within a process itself).
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * The slot of `client` in `round`: its own if it joined before, else the next free one; null when full;
   * 'spent' when `contribution` (the paid join's idempotency key) already holds a slot under another client.
   */
  joinSlot(
    round: number,
    client: string,
    n: number,
    contribution?: string | null,
  ): Promise<number | null | 'spent'>;
  /** The client id that joined `slot`, or null. */
  slotOwner(round: number, slot: number): Promise<string | null>;
  saveRound(r: SecAggRoundRecord): Promise<void>;
  loadRound(round: number): Promise<SecAggRoundRecord | null>;
  /** The newest round record, if any. */
  latestRound(): Promise<SecAggRoundRecord | null>;
  /** Records keys and the slot in U1 atomically. */
  addAdvert(r: SecAggRoundRecord, keys: PeerKeys): Promise<void>;
  adverts(round: number): Promise<PeerKeys[]>;
  /** Records a sender's sealed shares (peer = recipient) and the sender in U2 atomically. */
  addShares(r: SecAggRoundRecord, from: number, shares: SealedShare[]): Promise<void>;
  /** The sealed shares addressed to `to` (peer = sender). */
  sharesTo(round: number, to: number): Promise<SealedShare[]>;
  /** Replaces the masked sum with `sum` (packed) and records the slot in U3 atomically. */
  addMaskedInput(r: SecAggRoundRecord, sum: Uint8Array): Promise<void>;
  maskedSum(round: number): Promise<Uint8Array | null>;
  /** Records a client's revealed shares and the slot in U4 atomically. */
  addUnmask(r: SecAggRoundRecord, from: number, shares: RevealedShare[]): Promise<void>;
  unmasks(round: number): Promise<{ from: number; shares: RevealedShare[] }[]>;
  /** Saves the final record and deletes the round's keys, shares, masked sum, revealed shares and owners. */
  closeRound(r: SecAggRoundRecord): Promise<void>;
}

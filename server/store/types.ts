/**
 * The one interface between the round logic and persistence. SQLite implements it today; a PostgreSQL store
 * (several server processes sharing rounds) implements the same methods later. Every method is async and
 * every mutating method is one atomic transaction that has committed durably when its promise resolves.
 */
import type { AdamState } from '../../shared/fl/aggregate.ts';

/** Running aggregate of the open round, persisted with every accepted update. */
export interface RoundAccumulator {
  /** Weighted sum of the accepted deltas (float64, one entry per parameter). */
  sum: Float64Array;
  /** Sum of weights. */
  weight: number;
  /** Number of accepted updates. */
  count: number;
  /** Sum of squared weights (noise of a weighted sum of independently noised updates). */
  sqWeightSum: number;
  /** Largest weight (sensitivity of the weighted sum is maxWeight * C). */
  maxWeight: number;
}

/** One round, open or closed. */
export interface RoundRecord {
  id: number;
  /** Model version the round's updates are meant to be based on. */
  baseVersion: number;
  openedAt: string;
  closedAt: string | null;
  state: 'open' | 'closed';
  /** Set once closed: */
  participants: number;
  weightSum: number;
  /** Std of the Gaussian noise in the released mean delta. */
  noiseStd: number | null;
  /** Effective noise multiplier of the round (noise std of the sum / its L2 sensitivity). */
  sigma: number | null;
  /** Sampling rate: always 1 (nothing samples; rates stored by older versions are ignored by the ledger). */
  q: number | null;
  /** Epsilon of the released model after this round, at the configured delta. */
  epsilonAfter: number | null;
  /** Model version the round produced. */
  resultVersion: number | null;
}

/**
 * An accepted update as recorded for idempotency and one-update-per-round: the payload is never stored, only
 * its hash, and nothing derived from its content (no norm). Kept only while a replay could still be admitted.
 */
export interface UpdateRecord {
  idempotencyKey: string;
  clientId: string;
  roundId: number;
  /** SHA-256 of the request body, hex. */
  payloadHash: string;
  baseVersion: number;
  weight: number;
  /** Model version at the time of the ack (returned again on replay). */
  modelVersion: number;
  receivedAt: string;
}

/** The global model as persisted. */
export interface StoredModel {
  modelId: string;
  version: number;
  params: Float32Array;
  /** FedAdam moments, or null for FedAvg. */
  adam: AdamState | null;
}

/** Federated evaluation totals reported by clients for one model version. */
export interface EvalTotals {
  modelVersion: number;
  reports: number;
  examples: number;
  hitsAt10: number;
  ndcgAt10: number;
}

/** Everything needed to resume after a restart. */
export interface StoredState {
  model: StoredModel;
  /** The open round and its running sum, or null when none is open (e.g. budget exhausted). */
  open: { round: RoundRecord; acc: RoundAccumulator } | null;
  /** (q, sigma) of every closed round in order, for the privacy accountant. */
  closedPrivacy: { q: number; sigma: number }[];
}

/** Persistence for the aggregation server. */
export interface Store {
  /** The persisted state, or null for a fresh store. */
  load(): Promise<StoredState | null>;
  /** Writes the initial model (and first round, if any) into a fresh store. */
  initialize(model: StoredModel, firstRound: RoundRecord | null, paramCount: number): Promise<void>;
  /** The accepted updates with any of these idempotency keys, by key. */
  findUpdates(idempotencyKeys: string[]): Promise<Map<string, UpdateRecord>>;
  /** Those of `clientIds` that already have an accepted update in round `roundId`. */
  clientsInRound(roundId: number, clientIds: string[]): Promise<Set<string>>;
  /** Records accepted updates of the open round together with the new running sum (one transaction). */
  commitUpdates(roundId: number, updates: UpdateRecord[], acc: RoundAccumulator): Promise<void>;
  /**
   * Closes a round: its record, the new model, and the next round (or null), in one transaction, which also
   * deletes the round's running sum and the update records with a base version below `keepFromVersion`
   * (no replay of those can be admitted any more). Nothing freed may stay readable (file, journal, WAL).
   */
  closeRound(
    closed: RoundRecord,
    model: StoredModel,
    next: RoundRecord | null,
    keepFromVersion: number,
  ): Promise<void>;
  /** Opens a round when none is open (after the budget was raised); fails if one is open. */
  openRound(round: RoundRecord, paramCount: number): Promise<void>;
  /** The latest `limit` rounds, newest first. */
  listRounds(limit: number): Promise<RoundRecord[]>;
  /** Adds one client's evaluation report to its model version's totals. */
  addEval(report: Omit<EvalTotals, 'reports'>): Promise<void>;
  /** Evaluation totals for these model versions. */
  evalTotals(versions: number[]): Promise<EvalTotals[]>;
  /** Cheap liveness check of the backing database. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
  /** Present when several server processes share this store (PostgreSQL); absent for SQLite. */
  readonly shared?: SharedRounds;
}

/**
 * Thrown by a shared store when a commit lost a race with another server process (the round closed or is
 * full, or another process accepted the same idempotency key or client first). Nothing was written: the
 * caller reloads and admits the uploads again.
 */
export class StoreConflict extends Error {
  override readonly name = 'StoreConflict';
}

/** The open round as every process sees it. */
export interface RoundHead {
  /** Current model version. */
  version: number;
  /** The open round and its accepted updates over all processes, or null when none is open. */
  round: { id: number; accepted: number } | null;
}

/** What a round close writes, computed from the merged sum of every process's partial sum. */
export interface CloseWrite {
  closed: RoundRecord;
  model: StoredModel;
  next: RoundRecord | null;
  /** Update records with a base version below this are deleted in the same transaction. */
  keepFromVersion: number;
}

/**
 * What a store shared by several server processes adds (PostgreSQL). Each process keeps a partial sum of
 * the updates it accepted, persisted under its own writer id; the round's accepted count is global. A close
 * locks the round, merges all partial sums and writes the next model in one transaction.
 */
export interface SharedRounds {
  /** The global round state (one cheap query; read per manifest request and before each batch). */
  head(): Promise<RoundHead>;
  /**
   * commitUpdates for one of several writers: `partial` is this process's partial sum including `updates`.
   * Throws StoreConflict when the round is no longer open, would exceed `capacity`, or a key or client was
   * taken by another process. Returns the round's accepted count over all processes after the commit.
   */
  commitPartial(
    roundId: number,
    updates: UpdateRecord[],
    partial: RoundAccumulator,
    capacity: number,
  ): Promise<number>;
  /** This process's committed partial sum of round `roundId` (empty when it has none). */
  partial(roundId: number, paramCount: number): Promise<RoundAccumulator>;
  /**
   * Closes round `roundId` if it is still open: locks it, merges the partial sums, and commits what `plan`
   * returns for the merged sum. Returns false (nothing written) when another process closed it first.
   */
  closeMerged(roundId: number, plan: (merged: RoundAccumulator) => CloseWrite): Promise<boolean>;
  /** Calls `listener` whenever any process closed or opened a round (LISTEN/NOTIFY). */
  onChange(listener: () => void): void;
}

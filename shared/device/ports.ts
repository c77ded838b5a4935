/**
 * The device core's ports: everything it does to the outside world goes through one of these, so the same
 * core runs in the browser worker (IndexedDB, fetch, tfjs on WebGPU/WASM), in the simulated shoppers and
 * the eval (memory, in-process or HTTP) and in unit tests (fakes, a fake clock).
 */
import type { ErrorCode } from '../errors.ts';
import type { EncodedItem } from '../model/features.ts';
import type { TrainingExample, UserContext } from '../model/ranker.ts';
import type { NegativeSource } from '../fl/local-update.ts';
import type { EvalReport, UpdateAck } from '../protocol.ts';
import type { TokenPurpose } from '../tokens/types.ts';
import type { ModelRecord, OutboxRecord } from './records.ts';
import type { Store } from './store.ts';

/** Time and timers (a fake clock in tests). */
export interface Clock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/** Randomness: ids from a cryptographic source; `uniform` in [0, 1) for jitter and example sampling. */
export interface Random {
  /** A fresh random id matching ID_PATTERN (idempotency keys, per-round client ids). */
  id(): string;
  uniform(): number;
}

/** Outcome of one model fetch. */
export interface SyncResult {
  model: ModelRecord;
  weightsChanged: boolean;
}

/** Where the public model comes from. Throws FedrankError (SDK_SERVER_UNREACHABLE, BAD_REQUEST, CODEC_*). */
export interface ModelSource {
  fetchModel(cached: ModelRecord | null): Promise<SyncResult>;
}

/** Outcome of handing one contribution to the server. */
export type SubmitOutcome =
  | { kind: 'accepted'; ack: UpdateAck }
  /** The server refused it for good (stale, wrong round, ...): dropped. */
  | { kind: 'rejected'; code: ErrorCode }
  /** Worth another try later (server down, rate limited). */
  | { kind: 'retry'; code: ErrorCode };

/** One contribution as handed to a Submitter. */
export interface Contribution {
  record: OutboxRecord;
  /** A fresh random id for this contribution only: nothing links two rounds of one device. */
  clientId: string;
  /** The round's anonymous contribution token, when the deployment uses them. */
  token: string | null;
}

/**
 * Submits an encoded, privatized contribution for a round and returns the server's answer. Plain HTTP
 * upload today; a secure-aggregation client (multi-phase, its round secrets kept in the device store to
 * resume after navigation) implements the same port.
 */
export interface Submitter {
  submit(c: Contribution): Promise<SubmitOutcome>;
}

/**
 * Anonymous contribution tokens (optional port; implementation: tokens.ts). One token per contribution,
 * held by its idempotency key so that only a retry of the same request presents it again.
 */
export interface TokenSource {
  /** The token held by `key` (a retry), else a fresh one of `purpose`; null: none on hand, try later. */
  tokenFor(purpose: TokenPurpose, key: string): Promise<string | null>;
  /** `key` is done with its token: 'spent' (the server took it, or its request is dropped), or 'bad' (refused as spent or invalid: never presented again). */
  settle(key: string, verdict: 'spent' | 'bad'): Promise<void>;
  /** Tops up the tokens on hand ahead of need (best effort, never throws). */
  prefetch(): Promise<void>;
  /** Erases every token (forget, opt-out). */
  clear(): Promise<void>;
}

/** Receives federated evaluation reports (best effort, never retried); `token` pays for it when tokens are used. */
export interface EvalSink {
  sendEval(report: EvalReport, clientId: string, token?: string | null): Promise<void>;
}

/** The tensor backend: local training and scoring against a model's parameters. */
export interface Learner {
  /** delta = local - global after local training of `model` on `examples` (t = the manifest's training). */
  train(model: ModelRecord, examples: TrainingExample[], negatives: NegativeSource): Promise<Float32Array>;
  /** Scores of `items` for `ctx` under the model's global parameters. */
  score(model: ModelRecord, ctx: UserContext, items: EncodedItem[]): Promise<ArrayLike<number>>;
}

/**
 * Mutual exclusion across the device's tabs (Web Locks in the browser): the contribution step runs under
 * it, so two tabs of one shopper contribute once per round. Resolves to null when another holder has it.
 */
export interface LockPort {
  ifAvailable<T>(name: string, fn: () => Promise<T>): Promise<T | null>;
}

/** Every port the device core uses. */
export interface DevicePorts {
  store: Store;
  clock: Clock;
  random: Random;
  models: ModelSource;
  submitter: Submitter;
  evals: EvalSink;
  learner: Learner;
  tokens?: TokenSource;
  lock?: LockPort;
}

/**
 * Validated uploads waiting for the aggregator's writer, and the group-commit policy that batches them.
 *
 * Group commit: the writer commits one batch per transaction (one running-sum write for the whole batch)
 * and acknowledges each upload only after its batch committed. Uploads that arrive while a commit is in
 * flight join the next batch. Before taking a batch the writer also lingers: while bodies are still
 * arriving, and, under load (the last batch had more than one upload), until twice the last batch waits, so
 * batches grow with the load instead of taking whatever is queued the moment a commit ends (each batch
 * rewrites the whole running sum: on PostgreSQL 1.3 MB through the WAL at the default model, so small
 * batches cost the store per upload). It stops once MAX_BATCH uploads wait, and waits at most as long as
 * the last commit took (so waiting never costs more than the commit it shares) and at most
 * MAX_BATCH_WAIT_MS. An idle server (last batch of one, no body arriving) commits at once.
 */
import type { TensorView } from '../shared/codec/tensor-codec.ts';
import { FedrankError } from '../shared/errors.ts';
import type { UpdateAck } from '../shared/protocol.ts';
import type { Submission } from './admission.ts';

/** Most uploads committed in one transaction. */
export const MAX_BATCH = 256;
/** Longest a batch waits for more uploads before its commit starts (the latency bound of group commit). */
export const MAX_BATCH_WAIT_MS = 100;
/** Upload bodies held while waiting for the writer; beyond this the server sheds load (503, retry). */
const MAX_QUEUED_BYTES = 256 * 1024 * 1024;

/** The uploads waiting for the writer (FIFO), with the byte bound and the batching policy. */
export class UploadQueue {
  private items: Submission[] = [];
  private bytes = 0;
  private lastCommitMs = 0;
  private lastBatch = 0;
  private wake: (() => void) | null = null;
  private arriving = 0;

  /** Uploads waiting. */
  get length(): number {
    return this.items.length;
  }

  /**
   * Queues a validated upload; the promise settles when the writer acknowledges or rejects it. Throws
   * UNAVAILABLE when the queued bodies would exceed the byte bound.
   */
  push(
    upload: { clientId: string; key: string; hash: string; view: TensorView },
    bytes: number,
  ): Promise<UpdateAck> {
    if (this.bytes + bytes > MAX_QUEUED_BYTES)
      throw new FedrankError('UNAVAILABLE', 'too many uploads queued; retry later');
    this.bytes += bytes;
    return new Promise<UpdateAck>((resolve, reject) => {
      let settled = false;
      const done = (): void => {
        if (!settled) this.bytes -= bytes;
        settled = true;
      };
      this.items.push({
        ...upload,
        resolve: (a) => (done(), resolve(a)),
        reject: (e) => (done(), reject(e)),
      });
      if (this.lingerDone()) this.wake?.();
    });
  }

  /** Puts uploads back at the head of the queue (deferred to the next round, or re-admitted after a race). */
  unshift(subs: Submission[]): void {
    this.items.unshift(...subs);
  }

  /** Takes the next batch (at most MAX_BATCH, oldest first). */
  take(): Submission[] {
    return this.items.splice(0, MAX_BATCH);
  }

  /** Takes every waiting upload (to fail them). */
  drain(): Submission[] {
    return this.items.splice(0);
  }

  /**
   * An upload's body started arriving (it will likely join the next batch). Returns the idempotent call for
   * when the body is in or the request ended.
   */
  arrive(): () => void {
    this.arriving += 1;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.arriving -= 1;
      // After the handlers that run on this body's end have queued it.
      if (this.arriving === 0 && this.wake) setImmediate(() => this.lingerDone() && this.wake?.());
    };
  }

  /**
   * Records how long a batch's commit took and how many uploads it committed: the next batch lingers at
   * most that long, for up to twice that many.
   */
  committed(ms: number, size: number): void {
    this.lastCommitMs = ms;
    this.lastBatch = size;
  }

  /** Whether a linger can end: the queue is full, or no body is arriving and the batch is large enough. */
  private lingerDone(): boolean {
    if (this.items.length >= MAX_BATCH) return true;
    if (this.arriving > 0) return false;
    // Idle: at once. Under load: twice the last batch, so batches can grow until the load fills them.
    return this.lastBatch <= 1 || this.items.length >= 2 * this.lastBatch;
  }

  /** Resolves once a batch is worth committing: full, or lingered as long as the group-commit policy allows. */
  async gather(): Promise<void> {
    const wait = Math.min(this.lastCommitMs, MAX_BATCH_WAIT_MS);
    if (wait < 1 || this.lingerDone()) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, wait);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  /** Ends a linger at once (shutdown, a round close that must not wait). */
  flush(): void {
    this.wake?.();
  }
}

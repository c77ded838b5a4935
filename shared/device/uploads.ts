/**
 * The device's upload step: flushes the outbox one flush at a time (one asked for meanwhile runs right
 * after), keeps the retry timer the outbox's backoff asks for, and counts what was sent and what waits.
 */
import { isFedrankError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { flushOutbox } from './outbox.ts';
import type { DevicePorts } from './ports.ts';

/** What the upload step needs from its device. */
export interface UploadOwner {
  /** False while the device must not send (opted out, no server). */
  enabled(): boolean;
  /** Bumped by forget() and opt-out: a flush begun under another generation leaves nothing behind. */
  generation(): number;
  error(code: ErrorCode): void;
}

/** Outbox flushing and its retry timer, for one Device. */
export class Uploads {
  /** Updates acknowledged by the server (persisted as the updatesSent setting). */
  sent = 0;
  /** Updates waiting in the outbox. */
  pending = 0;
  /** Bytes of the latest upload, or null before one. */
  lastBytes: number | null = null;
  private flushing = false;
  private again = false;
  private timer: unknown = null;

  constructor(
    private readonly ports: DevicePorts,
    private readonly owner: UploadOwner,
  ) {}

  /** Reads the counters from the store. */
  async load(): Promise<void> {
    this.sent = (await this.ports.store.getSetting('updatesSent')) ?? 0;
    await this.recount();
  }

  /** Re-reads the outbox length (after a contribution was queued). */
  async recount(): Promise<void> {
    this.pending = (await this.ports.store.outbox()).length;
  }

  /** Submits due outbox entries and schedules the next retry. */
  async flush(): Promise<void> {
    if (!this.owner.enabled()) return;
    if (this.flushing) {
      this.again = true;
      return;
    }
    // One flush at a time: a timer and an idle pass must not send the same contribution twice.
    this.flushing = true;
    const gen = this.owner.generation();
    const live = (): boolean => gen === this.owner.generation();
    try {
      const { store, submitter, clock, random, tokens } = this.ports;
      const r = await flushOutbox({ store, submitter, clock, random, tokens }, live);
      if (!live()) return;
      if (r.sent > 0) {
        this.sent += r.sent;
        await store.putSetting('updatesSent', this.sent);
      }
      if (r.bytes !== null) this.lastBytes = r.bytes;
      if (r.error) this.owner.error(r.error);
      await this.recount();
      if (r.nextInMs !== null) this.schedule(r.nextInMs);
    } catch (e) {
      this.owner.error(isFedrankError(e) ? e.code : 'SDK_BAD_MESSAGE');
    } finally {
      this.flushing = false;
      if (this.again) {
        this.again = false;
        this.schedule(0);
      }
    }
  }

  /** Flushes in `ms` (replacing a pending retry). */
  schedule(ms: number): void {
    this.cancel();
    this.timer = this.ports.clock.setTimer(() => {
      this.timer = null;
      void this.flush();
    }, ms);
  }

  /** Drops the pending retry, if any. */
  cancel(): void {
    if (this.timer !== null) this.ports.clock.clearTimer(this.timer);
    this.timer = null;
  }
}

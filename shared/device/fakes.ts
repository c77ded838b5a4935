/**
 * In-process implementations of the device ports for tests and simulations: a fake clock whose timers run
 * when time is advanced, a scripted model source and submitter, and a learner whose training can be held.
 */
import type { ModelManifest, UpdateAck } from '../protocol.ts';
import type {
  Clock,
  Contribution,
  Learner,
  LockPort,
  ModelSource,
  SubmitOutcome,
  Submitter,
  SyncResult,
} from './ports.ts';
import type { ModelRecord } from './records.ts';

/** A clock that only moves when told to; due timers run in time order. */
export class FakeClock implements Clock {
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  constructor(private t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Milliseconds until the earliest pending timer, or null. */
  nextTimerIn(): number | null {
    let min: number | null = null;
    for (const { at } of this.timers.values()) min = Math.min(min ?? Infinity, at - this.t);
    return min;
  }
  /** Moves time forward by `ms`, running (and awaiting the microtasks of) every timer that falls due. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()]
        .filter(([, x]) => x.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
      await settle();
    }
    this.t = end;
  }
}

/** Lets pending promise chains over in-memory ports run to completion (microtask turns). */
export async function settle(turns = 200): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve();
}

/** Serves a fixed model whose manifest a test can change; `down` makes every fetch fail. */
export class FakeModelSource implements ModelSource {
  fetches = 0;
  down = false;
  constructor(
    public manifest: ModelManifest,
    private readonly params: Float32Array,
    private readonly error: () => Error,
  ) {}
  async fetchModel(cached: ModelRecord | null): Promise<SyncResult> {
    this.fetches++;
    if (this.down) throw this.error();
    const m = this.manifest;
    if (cached && cached.manifest.modelId === m.modelId && cached.manifest.version === m.version) {
      return { model: { ...cached, manifest: m }, weightsChanged: false };
    }
    const model: ModelRecord = {
      key: 'global',
      manifest: m,
      manifestEtag: null,
      weightsEtag: null,
      params: this.params,
    };
    return { model, weightsChanged: true };
  }
}

/** Records every submission and answers from a script (default: accepted). */
export class FakeSubmitter implements Submitter {
  readonly calls: Contribution[] = [];
  answer: (c: Contribution) => SubmitOutcome = (c) => ({ kind: 'accepted', ack: ackFor(c) });
  async submit(c: Contribution): Promise<SubmitOutcome> {
    this.calls.push(c);
    return this.answer(c);
  }
}

/** The server's acknowledgement of a contribution. */
export function ackFor(c: Contribution): UpdateAck {
  return { accepted: true, duplicate: false, round: c.record.round, modelVersion: c.record.baseVersion };
}

/** A learner returning a fixed small delta; `hold()` makes the next training wait until released. */
export class FakeLearner implements Learner {
  trainings = 0;
  scorings = 0;
  private gate: Promise<void> | null = null;
  private open: () => void = () => {};
  /** Resolves when a held training has started. */
  started: Promise<void> = Promise.resolve();
  private onStart: () => void = () => {};

  hold(): () => void {
    this.gate = new Promise((r) => (this.open = r));
    this.started = new Promise((r) => (this.onStart = r));
    return () => this.open();
  }
  async train(model: ModelRecord): Promise<Float32Array> {
    this.trainings++;
    this.onStart();
    if (this.gate) await this.gate;
    this.gate = null;
    return new Float32Array(model.params.length).fill(1e-3);
  }
  async score(_model: ModelRecord, _ctx: unknown, items: unknown[]): Promise<ArrayLike<number>> {
    this.scorings++;
    return items.map((_, i) => -i);
  }
}

/** A lock shared by the devices (tabs) that hold it: one holder at a time. */
export class FakeLock implements LockPort {
  private held = new Set<string>();
  async ifAvailable<T>(name: string, fn: () => Promise<T>): Promise<T | null> {
    if (this.held.has(name)) return null;
    this.held.add(name);
    try {
      return await fn();
    } finally {
      this.held.delete(name);
    }
  }
}

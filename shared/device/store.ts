/**
 * The device's storage port, and its in-memory implementation (the browser without IndexedDB, the
 * simulated shoppers, tests). The browser's IndexedDB store is client/worker/storage.ts.
 */
import type {
  EventRecord,
  LedgerRecord,
  ModelRecord,
  OutboxRecord,
  PersonalRecord,
  RoundSecretsRecord,
  Settings,
} from './records.ts';

/** Interactions kept on the device; the oldest are dropped first. */
export const MAX_EVENTS = 1000;

/** What the device core needs from its storage. */
export interface Store {
  /** 'memory': gone when the page closes (such a device learns locally but never contributes). */
  readonly kind: 'indexeddb' | 'memory';
  /** Records dropped because they failed validation. */
  badRecords: number;
  addEvents(evs: EventRecord[]): Promise<void>;
  /** All events, oldest first, each with its seq. */
  events(): Promise<EventRecord[]>;
  countEvents(): Promise<number>;
  getModel(): Promise<ModelRecord | null>;
  putModel(m: ModelRecord): Promise<void>;
  getPersonal(): Promise<PersonalRecord | null>;
  putPersonal(p: PersonalRecord): Promise<void>;
  outbox(): Promise<OutboxRecord[]>;
  putOutbox(r: OutboxRecord): Promise<void>;
  deleteOutbox(key: string): Promise<void>;
  /** Erases every outbox record and every round's secrets at once (opt-out). */
  clearOutbox(): Promise<void>;
  /** The secure-aggregation round state of contribution `key`, if one is in progress. */
  getRoundSecrets(key: string): Promise<RoundSecretsRecord | null>;
  putRoundSecrets(r: RoundSecretsRecord): Promise<void>;
  deleteRoundSecrets(key: string): Promise<void>;
  ledger(): Promise<LedgerRecord[]>;
  /** Records a contribution in the ledger and queues it, in one transaction. */
  addContribution(l: LedgerRecord, o: OutboxRecord): Promise<void>;
  getSetting<K extends keyof Settings>(key: K): Promise<Settings[K] | undefined>;
  putSetting<K extends keyof Settings>(key: K, value: Settings[K]): Promise<void>;
  /** Erases every record in one transaction, then writes `keep` (e.g. the opt-out choice). */
  clear(keep?: Partial<Settings>): Promise<void>;
}

/** Storage for when IndexedDB is unavailable, and for Node: the same interface, gone with the process. */
export class MemoryStore implements Store {
  badRecords = 0;
  private evs: EventRecord[] = [];
  private seq = 0;
  private model: ModelRecord | null = null;
  private personal: PersonalRecord | null = null;
  private box = new Map<string, OutboxRecord>();
  private led: LedgerRecord[] = [];
  private secrets = new Map<string, RoundSecretsRecord>();
  private settings = new Map<string, unknown>();

  /** `kind` 'indexeddb' lets a Node simulation behave like a browser with persistent storage. */
  constructor(readonly kind: 'indexeddb' | 'memory' = 'memory') {}

  async addEvents(evs: EventRecord[]): Promise<void> {
    for (const e of evs) this.evs.push({ ...e, seq: ++this.seq });
    if (this.evs.length > MAX_EVENTS) this.evs.splice(0, this.evs.length - MAX_EVENTS);
  }
  async events(): Promise<EventRecord[]> {
    return this.evs.slice();
  }
  async countEvents(): Promise<number> {
    return this.evs.length;
  }
  async getModel(): Promise<ModelRecord | null> {
    return this.model;
  }
  async putModel(m: ModelRecord): Promise<void> {
    this.model = m;
  }
  async getPersonal(): Promise<PersonalRecord | null> {
    return this.personal;
  }
  async putPersonal(p: PersonalRecord): Promise<void> {
    this.personal = p;
  }
  async outbox(): Promise<OutboxRecord[]> {
    return [...this.box.values()];
  }
  async putOutbox(r: OutboxRecord): Promise<void> {
    this.box.set(r.key, r);
  }
  async deleteOutbox(key: string): Promise<void> {
    this.box.delete(key);
  }
  async clearOutbox(): Promise<void> {
    this.box.clear();
    this.secrets.clear();
  }
  async getRoundSecrets(key: string): Promise<RoundSecretsRecord | null> {
    return this.secrets.get(key) ?? null;
  }
  async putRoundSecrets(r: RoundSecretsRecord): Promise<void> {
    this.secrets.set(r.key, r);
  }
  async deleteRoundSecrets(key: string): Promise<void> {
    this.secrets.delete(key);
  }
  async ledger(): Promise<LedgerRecord[]> {
    return this.led.slice();
  }
  async addContribution(l: LedgerRecord, o: OutboxRecord): Promise<void> {
    this.led.push({ ...l, seq: this.led.length + 1 });
    this.box.set(o.key, o);
  }
  async getSetting<K extends keyof Settings>(key: K): Promise<Settings[K] | undefined> {
    return this.settings.get(key) as Settings[K] | undefined;
  }
  async putSetting<K extends keyof Settings>(key: K, value: Settings[K]): Promise<void> {
    this.settings.set(key, value);
  }
  async clear(keep: Partial<Settings> = {}): Promise<void> {
    this.evs = [];
    this.model = null;
    this.personal = null;
    this.box.clear();
    this.secrets.clear();
    this.led = [];
    this.settings = new Map(Object.entries(keep));
  }
}

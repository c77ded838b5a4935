/**
 * Device storage: IndexedDB through idb with one typed schema and one upgrade function, or memory when
 * IndexedDB is unavailable (private mode, blocked). Every record read back is validated; bad ones are
 * deleted and counted so status() can report SDK_BAD_MESSAGE.
 */
import { openDB } from 'idb';
import type { DBSchema, IDBPDatabase } from 'idb';
import { checkEvent, checkLedger, checkModel, checkOutbox, checkPersonal, checkSetting } from './records.ts';
import type {
  EventRecord,
  LedgerRecord,
  ModelRecord,
  OutboxRecord,
  PersonalRecord,
  Settings,
} from './records.ts';

export const DB_NAME = 'fedrank';
const DB_VERSION = 1;
/** Interactions kept on the device; the oldest are dropped first. */
export const MAX_EVENTS = 1000;

interface Schema extends DBSchema {
  events: { key: number; value: EventRecord };
  model: { key: string; value: ModelRecord };
  personal: { key: string; value: PersonalRecord };
  outbox: { key: string; value: OutboxRecord };
  ledger: { key: number; value: LedgerRecord };
  settings: { key: string; value: { key: string; value: unknown } };
}
const STORES = ['events', 'model', 'personal', 'outbox', 'ledger', 'settings'] as const;

/** The worker's view of its storage. */
export interface Store {
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
  ledger(): Promise<LedgerRecord[]>;
  addLedger(r: LedgerRecord): Promise<void>;
  getSetting<K extends keyof Settings>(key: K): Promise<Settings[K] | undefined>;
  putSetting<K extends keyof Settings>(key: K, value: Settings[K]): Promise<void>;
  /** Erases every record. */
  clear(): Promise<void>;
}

/** Opens IndexedDB, or falls back to memory (reported by `kind`). */
export async function openStore(): Promise<Store> {
  try {
    if (typeof indexedDB === 'undefined') return new MemoryStore();
    const db = await withTimeout(
      openDB<Schema>(DB_NAME, DB_VERSION, {
        upgrade(d, oldVersion) {
          // One upgrade function for every version step; version 1 creates the stores.
          if (oldVersion < 1) {
            d.createObjectStore('events', { keyPath: 'seq', autoIncrement: true });
            d.createObjectStore('model', { keyPath: 'key' });
            d.createObjectStore('personal', { keyPath: 'key' });
            d.createObjectStore('outbox', { keyPath: 'key' });
            d.createObjectStore('ledger', { keyPath: 'seq', autoIncrement: true });
            d.createObjectStore('settings', { keyPath: 'key' });
          }
        },
      }),
      3000,
    );
    return new IdbStore(db);
  } catch {
    return new MemoryStore();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e)),
    );
  });
}

class IdbStore implements Store {
  readonly kind = 'indexeddb' as const;
  badRecords = 0;
  constructor(private readonly db: IDBPDatabase<Schema>) {}

  async addEvents(evs: EventRecord[]): Promise<void> {
    const tx = this.db.transaction('events', 'readwrite');
    for (const e of evs) {
      const { seq: _drop, ...rest } = e;
      void tx.store.add(rest as EventRecord);
    }
    let n = await tx.store.count();
    if (n > MAX_EVENTS) {
      let cur = await tx.store.openCursor();
      while (cur && n > MAX_EVENTS) {
        await cur.delete();
        n--;
        cur = await cur.continue();
      }
    }
    await tx.done;
  }
  async events(): Promise<EventRecord[]> {
    return this.validated(
      'events',
      await this.db.getAll('events'),
      checkEvent,
      (r) => (r as { seq: number }).seq,
    );
  }
  countEvents(): Promise<number> {
    return this.db.count('events');
  }
  async getModel(): Promise<ModelRecord | null> {
    return this.one('model', 'global', checkModel);
  }
  async putModel(m: ModelRecord): Promise<void> {
    await this.db.put('model', m);
  }
  getPersonal(): Promise<PersonalRecord | null> {
    return this.one('personal', 'state', checkPersonal);
  }
  async putPersonal(p: PersonalRecord): Promise<void> {
    await this.db.put('personal', p);
  }
  async outbox(): Promise<OutboxRecord[]> {
    return this.validated(
      'outbox',
      await this.db.getAll('outbox'),
      checkOutbox,
      (r) => (r as { key: string }).key,
    );
  }
  async putOutbox(r: OutboxRecord): Promise<void> {
    await this.db.put('outbox', r);
  }
  async deleteOutbox(key: string): Promise<void> {
    await this.db.delete('outbox', key);
  }
  async ledger(): Promise<LedgerRecord[]> {
    return this.validated(
      'ledger',
      await this.db.getAll('ledger'),
      checkLedger,
      (r) => (r as { seq: number }).seq,
    );
  }
  async addLedger(r: LedgerRecord): Promise<void> {
    const { seq: _drop, ...rest } = r;
    await this.db.add('ledger', rest as LedgerRecord);
  }
  async getSetting<K extends keyof Settings>(key: K): Promise<Settings[K] | undefined> {
    const rec = await this.db.get('settings', key);
    if (rec === undefined) return undefined;
    const check = checkSetting[key] as (v: unknown) => boolean;
    if (typeof rec === 'object' && rec !== null && check(rec.value)) return rec.value as Settings[K];
    this.badRecords++;
    await this.db.delete('settings', key);
    return undefined;
  }
  async putSetting<K extends keyof Settings>(key: K, value: Settings[K]): Promise<void> {
    await this.db.put('settings', { key, value });
  }
  async clear(): Promise<void> {
    const tx = this.db.transaction([...STORES], 'readwrite');
    await Promise.all([...STORES.map((s) => tx.objectStore(s).clear()), tx.done]);
  }

  private async one<T>(
    store: 'model' | 'personal',
    key: string,
    check: (x: unknown) => T | null,
  ): Promise<T | null> {
    const raw: unknown = await this.db.get(store, key);
    if (raw === undefined) return null;
    const ok = check(raw);
    if (ok) return ok;
    this.badRecords++;
    await this.db.delete(store, key);
    return null;
  }
  private async validated<T>(
    store: 'events' | 'outbox' | 'ledger',
    raws: unknown[],
    check: (x: unknown) => T | null,
    keyOf: (raw: unknown) => unknown,
  ): Promise<T[]> {
    const out: T[] = [];
    for (const raw of raws) {
      const ok = check(raw);
      if (ok) out.push(ok);
      else {
        this.badRecords++;
        const k = typeof raw === 'object' && raw !== null ? keyOf(raw) : undefined;
        if (typeof k === 'number' || typeof k === 'string') await this.db.delete(store, k as never);
      }
    }
    return out;
  }
}

/** Storage for when IndexedDB is unavailable: the same interface, gone when the page closes. */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  badRecords = 0;
  private evs: EventRecord[] = [];
  private seq = 0;
  private model: ModelRecord | null = null;
  private personal: PersonalRecord | null = null;
  private box = new Map<string, OutboxRecord>();
  private led: LedgerRecord[] = [];
  private settings = new Map<string, unknown>();

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
  async ledger(): Promise<LedgerRecord[]> {
    return this.led.slice();
  }
  async addLedger(r: LedgerRecord): Promise<void> {
    this.led.push({ ...r, seq: this.led.length + 1 });
  }
  async getSetting<K extends keyof Settings>(key: K): Promise<Settings[K] | undefined> {
    return this.settings.get(key) as Settings[K] | undefined;
  }
  async putSetting<K extends keyof Settings>(key: K, value: Settings[K]): Promise<void> {
    this.settings.set(key, value);
  }
  async clear(): Promise<void> {
    this.evs = [];
    this.model = null;
    this.personal = null;
    this.box.clear();
    this.led = [];
    this.settings.clear();
  }
}

/**
 * Device storage: IndexedDB through idb with one typed schema and one upgrade function, or memory when
 * IndexedDB is unavailable (private mode, blocked). Every record read back is validated; bad ones are
 * deleted and counted so status() can report SDK_BAD_MESSAGE.
 */
import { openDB } from 'idb';
import type { DBSchema, IDBPDatabase } from 'idb';
import type {
  EventRecord,
  LedgerRecord,
  ModelRecord,
  OutboxRecord,
  PersonalRecord,
  RoundSecretsRecord,
  Settings,
} from '../../shared/device/records.ts';
import { MAX_EVENTS, MemoryStore } from '../../shared/device/store.ts';
import type { Store } from '../../shared/device/store.ts';
import { DEVICE_DB_NAME } from '../../shared/routes.ts';
import {
  checkEvent,
  checkLedger,
  checkModel,
  checkOutbox,
  checkPersonal,
  checkRoundSecrets,
  checkSetting,
} from './records.ts';

/** 2: adds roundSecrets (secure-aggregation rounds in progress). */
const DB_VERSION = 2;

interface Schema extends DBSchema {
  events: { key: number; value: EventRecord };
  model: { key: string; value: ModelRecord };
  personal: { key: string; value: PersonalRecord };
  outbox: { key: string; value: OutboxRecord };
  ledger: { key: number; value: LedgerRecord };
  settings: { key: string; value: { key: string; value: unknown } };
  roundSecrets: { key: string; value: RoundSecretsRecord };
}
const STORES = ['events', 'model', 'personal', 'outbox', 'ledger', 'settings', 'roundSecrets'] as const;

export { MAX_EVENTS, MemoryStore };
export type { Store };

/** Opens IndexedDB, or falls back to memory (reported by `kind`). */
export async function openStore(): Promise<Store> {
  try {
    if (typeof indexedDB === 'undefined') return new MemoryStore();
    const db = await withTimeout(
      openDB<Schema>(DEVICE_DB_NAME, DB_VERSION, {
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
          if (oldVersion < 2) d.createObjectStore('roundSecrets', { keyPath: 'key' });
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
  async clearOutbox(): Promise<void> {
    const tx = this.db.transaction(['outbox', 'roundSecrets'], 'readwrite');
    await Promise.all([tx.objectStore('outbox').clear(), tx.objectStore('roundSecrets').clear(), tx.done]);
  }
  getRoundSecrets(key: string): Promise<RoundSecretsRecord | null> {
    return this.one('roundSecrets', key, checkRoundSecrets);
  }
  async putRoundSecrets(r: RoundSecretsRecord): Promise<void> {
    await this.db.put('roundSecrets', r);
  }
  async deleteRoundSecrets(key: string): Promise<void> {
    await this.db.delete('roundSecrets', key);
  }
  async addContribution(l: LedgerRecord, o: OutboxRecord): Promise<void> {
    const { seq: _drop, ...rest } = l;
    const tx = this.db.transaction(['ledger', 'outbox'], 'readwrite');
    await Promise.all([
      tx.objectStore('ledger').add(rest as LedgerRecord),
      tx.objectStore('outbox').put(o),
      tx.done,
    ]);
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
  async clear(keep: Partial<Settings> = {}): Promise<void> {
    const tx = this.db.transaction([...STORES], 'readwrite');
    const settings = tx.objectStore('settings');
    await Promise.all([
      ...STORES.map((s) => tx.objectStore(s).clear()),
      ...Object.entries(keep).map(([key, value]) => settings.put({ key, value })),
      tx.done,
    ]);
  }

  private async one<T>(
    store: 'model' | 'personal' | 'roundSecrets',
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

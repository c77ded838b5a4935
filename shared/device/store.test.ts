import { describe, expect, it } from 'vitest';
import type { LedgerRecord, OutboxRecord } from './records.ts';
import { MemoryStore } from './store.ts';

const outbox = (key: string, round = 1): OutboxRecord => ({
  key,
  body: new Uint8Array(1),
  modelId: 'm',
  baseVersion: 0,
  round,
  createdAt: 0,
  attempts: 0,
  nextAttemptAt: 0,
});
const ledger = (key: string, round = 1): LedgerRecord => ({
  time: 0,
  key,
  round,
  modelVersion: 0,
  clipNorm: 1,
  noiseMultiplier: 1,
  noiseStd: 1,
  noiseMode: 'local',
  sigma: 1,
  q: 1,
  preClipNorm: 0.5,
  delta: 1e-5,
});

describe('MemoryStore', () => {
  it('records a contribution in the ledger and the outbox together, each ledger entry with a seq', async () => {
    const s = new MemoryStore();
    await s.addContribution(ledger('a'.repeat(20)), outbox('a'.repeat(20)));
    await s.addContribution(ledger('b'.repeat(20), 2), outbox('b'.repeat(20), 2));
    expect((await s.ledger()).map((l) => [l.key[0], l.seq])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect((await s.outbox()).map((o) => o.round)).toEqual([1, 2]);
  });
  it('clearOutbox drops only the outbox; clear keeps only what it is told to', async () => {
    const s = new MemoryStore();
    await s.addContribution(ledger('a'.repeat(20)), outbox('a'.repeat(20)));
    await s.putSetting('trainedSeq', 4);
    await s.clearOutbox();
    expect(await s.outbox()).toEqual([]);
    expect(await s.ledger()).toHaveLength(1);
    await s.clear({ optedOut: true });
    expect(await s.ledger()).toEqual([]);
    expect(await s.getSetting('trainedSeq')).toBeUndefined();
    expect(await s.getSetting('optedOut')).toBe(true);
  });
  it("says what kind of storage it stands for (a Node simulation may act as a browser's IndexedDB)", () => {
    expect(new MemoryStore().kind).toBe('memory');
    expect(new MemoryStore('indexeddb').kind).toBe('indexeddb');
  });
});

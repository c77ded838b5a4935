import { describe, expect, it } from 'vitest';
import { MAX_EVENTS, MemoryStore, openStore } from './storage.ts';

describe('storage', () => {
  it('falls back to memory where IndexedDB does not exist (private mode, Node)', async () => {
    const s = await openStore();
    expect(s.kind).toBe('memory');
  });
  it('keeps at most MAX_EVENTS events, dropping the oldest first, with increasing seq', async () => {
    const s = new MemoryStore();
    const ev = (i: number) => ({ type: 'impression' as const, item: { id: `i${i}` }, time: i });
    await s.addEvents(Array.from({ length: MAX_EVENTS + 10 }, (_, i) => ev(i)));
    const all = await s.events();
    expect(all.length).toBe(MAX_EVENTS);
    expect(all[0]!.item.id).toBe('i10');
    expect(all.every((e, i) => i === 0 || e.seq! > all[i - 1]!.seq!)).toBe(true);
    expect(await s.countEvents()).toBe(MAX_EVENTS);
  });
  it('clear() erases everything', async () => {
    const s = new MemoryStore();
    await s.addEvents([{ type: 'click', item: { id: 'a' }, time: 1 }]);
    await s.putSetting('optedOut', true);
    await s.putOutbox({
      key: 'k'.repeat(20),
      body: new Uint8Array(1),
      modelId: 'm',
      baseVersion: 0,
      round: 0,
      createdAt: 0,
      attempts: 0,
      nextAttemptAt: 0,
    });
    await s.clear();
    expect(await s.events()).toEqual([]);
    expect(await s.outbox()).toEqual([]);
    expect(await s.getSetting('optedOut')).toBeUndefined();
  });
});

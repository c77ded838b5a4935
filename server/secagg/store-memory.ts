/** In-memory SecAggStore (tests, simulation, benchmarks). */
import type { PeerKeys, RevealedShare, SealedShare } from '../../shared/secagg/messages.ts';
import type { SecAggRoundRecord, SecAggStore } from './store.ts';

declare const structuredClone: <T>(value: T) => T;

interface RoundData {
  adverts: Map<number, PeerKeys>;
  shares: Map<number, SealedShare[]>; // by recipient, peer = sender
  sum: Uint8Array | null;
  unmasks: Map<number, RevealedShare[]>;
  owners: Map<number, string>;
  contributions: Map<string, string>; // idempotency key -> client id
}

/** A SecAggStore in process memory. */
export class MemorySecAggStore implements SecAggStore {
  private readonly records = new Map<number, SecAggRoundRecord>();
  private readonly data = new Map<number, RoundData>();

  readonly shared = false;
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return fn();
  }
  async joinSlot(
    round: number,
    client: string,
    n: number,
    contribution: string | null = null,
  ): Promise<number | null | 'spent'> {
    const { owners: m, contributions } = this.d(round);
    const as = contribution === null ? undefined : contributions.get(contribution);
    if (as !== undefined && as !== client) return 'spent';
    for (const [slot, owner] of m) if (owner === client) return slot;
    if (m.size >= n) return null;
    m.set(m.size + 1, client);
    if (contribution !== null) contributions.set(contribution, client);
    return m.size;
  }
  async slotOwner(round: number, slot: number): Promise<string | null> {
    return this.data.get(round)?.owners.get(slot) ?? null;
  }
  private d(round: number): RoundData {
    let x = this.data.get(round);
    if (!x)
      this.data.set(
        round,
        (x = {
          adverts: new Map(),
          shares: new Map(),
          sum: null,
          unmasks: new Map(),
          owners: new Map(),
          contributions: new Map(),
        }),
      );
    return x;
  }
  async saveRound(r: SecAggRoundRecord): Promise<void> {
    this.records.set(r.round, structuredClone(r));
  }
  async loadRound(round: number): Promise<SecAggRoundRecord | null> {
    const r = this.records.get(round);
    return r ? structuredClone(r) : null;
  }
  async latestRound(): Promise<SecAggRoundRecord | null> {
    const ids = [...this.records.keys()];
    return ids.length ? this.loadRound(Math.max(...ids)) : null;
  }
  async addAdvert(r: SecAggRoundRecord, keys: PeerKeys): Promise<void> {
    this.d(r.round).adverts.set(keys.slot, keys);
    await this.saveRound(r);
  }
  async adverts(round: number): Promise<PeerKeys[]> {
    return [...this.d(round).adverts.values()].sort((a, b) => a.slot - b.slot);
  }
  async addShares(r: SecAggRoundRecord, from: number, shares: SealedShare[]): Promise<void> {
    const m = this.d(r.round).shares;
    for (const s of shares) {
      const list = m.get(s.peer) ?? [];
      list.push({ peer: from, sealed: s.sealed });
      m.set(s.peer, list);
    }
    await this.saveRound(r);
  }
  async sharesTo(round: number, to: number): Promise<SealedShare[]> {
    return [...(this.d(round).shares.get(to) ?? [])].sort((a, b) => a.peer - b.peer);
  }
  async addMaskedInput(r: SecAggRoundRecord, sum: Uint8Array): Promise<void> {
    this.d(r.round).sum = sum.slice();
    await this.saveRound(r);
  }
  async maskedSum(round: number): Promise<Uint8Array | null> {
    return this.d(round).sum;
  }
  async addUnmask(r: SecAggRoundRecord, from: number, shares: RevealedShare[]): Promise<void> {
    this.d(r.round).unmasks.set(from, shares);
    await this.saveRound(r);
  }
  async unmasks(round: number): Promise<{ from: number; shares: RevealedShare[] }[]> {
    return [...this.d(round).unmasks.entries()].map(([from, shares]) => ({ from, shares }));
  }
  async closeRound(r: SecAggRoundRecord): Promise<void> {
    this.data.delete(r.round);
    await this.saveRound(r);
  }
}

import { describe, expect, it } from 'vitest';
import { manifest } from '../../e2e/sdk/support.ts';
import { FedrankError } from '../errors.ts';
import { DEFAULT_SPEC, initGlobalParams } from '../model/spec.ts';
import type { TokenPurpose } from '../tokens/types.ts';
import { Device } from './device.ts';
import { FakeClock, FakeLearner, FakeModelSource, FakeSubmitter, settle } from './fakes.ts';
import { cryptoRandom } from './random.ts';
import type { EventRecord } from './records.ts';
import { MemoryStore } from './store.ts';
import { TOKEN_BATCH, TokenWallet, tokenPurposes } from './tokens.ts';

/** A device with a token wallet over a counting issuer; eval reports record the token they carried. */
async function started(kind: 'indexeddb' | 'memory' = 'indexeddb') {
  const store = new MemoryStore(kind);
  const clock = new FakeClock();
  const batches: TokenPurpose[] = [];
  let n = 0;
  const issue = async (purpose: TokenPurpose, count: number): Promise<string[]> => {
    batches.push(purpose);
    return Array.from({ length: count }, () => `${purpose}-tok-${++n}`);
  };
  const tokens = new TokenWallet(store, issue, {
    clock,
    random: cryptoRandom,
    purposes: tokenPurposes(true),
  });
  const submitter = new FakeSubmitter();
  const evalTokens: (string | null | undefined)[] = [];
  const evals = {
    async sendEval(_r: unknown, _c: string, token?: string | null): Promise<void> {
      evalTokens.push(token);
    },
  };
  const models = new FakeModelSource(
    manifest(),
    initGlobalParams(DEFAULT_SPEC),
    () => new FedrankError('SDK_SERVER_UNREACHABLE', 'down'),
  );
  const ports = {
    store,
    clock,
    random: cryptoRandom,
    models,
    submitter,
    evals,
    learner: new FakeLearner(),
    tokens,
  };
  const cfg = { hasServer: true, epsilonCap: 8, evalReports: true, gpcOptOut: false, dpOff: false };
  const device = new Device(ports, cfg);
  await device.open();
  await device.resume();
  await settle();
  return { device, store, tokens, submitter, evalTokens, batches };
}

function session(clicks: number): EventRecord[] {
  const item = (i: number) => ({ id: `sku-${i}`, category: `c${i % 4}`, brand: `b${i % 3}`, price: 10 + i });
  const evs: EventRecord[] = [];
  for (let i = 0; i < 20; i++) evs.push({ type: 'impression', item: item(i), time: 1 + i });
  for (let i = 0; i < clicks; i++) evs.push({ type: 'click', item: item(i), time: 100 + i });
  return evs;
}

describe('device core with contribution tokens', () => {
  it('fetches tokens when it starts, before any contribution, and pays each upload and eval report with one', async () => {
    const r = await started();
    expect(r.batches).toEqual(['update', 'eval']);
    expect(r.submitter.calls).toEqual([]);
    await r.device.track(session(3));
    await r.device.idle();
    expect(r.submitter.calls).toHaveLength(1);
    expect(r.submitter.calls[0]!.token).toMatch(/^update-tok-/);
    expect(r.evalTokens).toHaveLength(1);
    expect(r.evalTokens[0]).toMatch(/^eval-tok-/);
    expect((await r.tokens.stock()).update).toBe(TOKEN_BATCH - 1);
  });

  it('forget() erases every token on the device', async () => {
    const r = await started();
    expect((await r.tokens.stock()).update).toBe(TOKEN_BATCH);
    await r.device.forget();
    expect(await r.tokens.stock()).toEqual({ update: 0, eval: 0 });
    // Nothing is written back: the store holds no trace of a wallet.
    expect(await r.store.getSetting('tokens')).toBeUndefined();
  });

  it('opting out erases every token on the device', async () => {
    const r = await started();
    await r.device.setOptOut(true);
    expect(await r.tokens.stock()).toEqual({ update: 0, eval: 0 });
  });

  it('a memory-only device, which never contributes, asks for no tokens', async () => {
    const r = await started('memory');
    await r.device.track(session(3));
    await r.device.idle();
    expect(r.batches).toEqual([]);
  });
});

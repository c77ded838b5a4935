import { describe, expect, it } from 'vitest';
import { FedrankError } from '../errors.ts';
import { manifest } from '../../e2e/sdk/support.ts';
import { encodeItem } from '../model/features.ts';
import { DEFAULT_SPEC, initGlobalParams } from '../model/spec.ts';
import { Device } from './device.ts';
import { FakeClock, FakeLearner, FakeModelSource, FakeSubmitter } from './fakes.ts';
import { orderByScores, personalOrder } from './local-rank.ts';
import { cryptoRandom } from './random.ts';
import { MemoryStore } from './store.ts';

const item = (i: number) => ({ id: `sku-${i}`, category: `c${i % 3}`, brand: `b${i % 2}`, price: 10 + i });
const SHOP = Array.from({ length: 12 }, (_, i) => item(i));
const ENC = SHOP.map((it) => encodeItem(DEFAULT_SPEC, it));

describe('orderByScores', () => {
  it('orders by descending score and keeps the shop’s order on ties', () => {
    expect(orderByScores([0, 2, 0, 2, 1])).toEqual([1, 3, 4, 0, 2]);
  });
});

for (const code of ['SDK_ORIGIN_REFUSED', 'SDK_SERVER_UNREACHABLE'] as const) {
  describe(`a device whose server answers ${code}`, () => {
    it('has no global model, keeps the shop’s order before any click and moves clicked categories up after', async () => {
      const models = new FakeModelSource(
        manifest(),
        initGlobalParams(DEFAULT_SPEC),
        () => new FedrankError(code, 'no'),
      );
      models.down = true;
      const device = new Device(
        {
          store: new MemoryStore('indexeddb'),
          clock: new FakeClock(),
          random: cryptoRandom,
          models,
          submitter: new FakeSubmitter(),
          evals: { sendEval: async () => undefined },
          learner: new FakeLearner(),
        },
        { hasServer: true, epsilonCap: 8, evalReports: false, gpcOptOut: false, dpOff: false },
      );
      await device.open();
      await device.resume();
      expect(device.status()).toMatchObject({
        lastError: code,
        modelId: null,
        personalized: false,
        globalWeight: null,
      });
      // No information: the shop's order stays.
      expect(personalOrder(device.spec(), ENC, device.personal)).toBeNull();
      await device.track(SHOP.map((it, i) => ({ type: 'impression', item: it, time: 1 + i })));
      expect(personalOrder(device.spec(), ENC, device.personal)).toBeNull();
      const c2 = SHOP.filter((it) => it.category === 'c2');
      await device.track(c2.slice(0, 2).map((it, i) => ({ type: 'click', item: it, time: 100 + i })));
      await device.idle();
      const order = personalOrder(device.spec(), ENC, device.personal)!.map((i) => SHOP[i]!);
      expect(order.slice(0, c2.length).map((it) => it.category)).toEqual(c2.map(() => 'c2'));
      expect(device.status()).toMatchObject({ personalized: true, globalWeight: null, lastError: code });
      device.close();
    });
  });
}

import { describe, expect, it } from 'vitest';
import { FedrankError } from '../errors.ts';
import { RdpAccountant, computeEpsilon, lowerRdpBound, sigmaForEpsilon } from './accountant.ts';
import { DEFAULT_ORDERS, ORDER_SETS, computeRdp, rdpOneStep, rdpToEpsilon } from './rdp.ts';

describe('computeEpsilon', () => {
  it("defaults to dp_accounting's orders and the improved conversion", () => {
    const q = 0.02;
    const sigma = 1.1;
    const rdp = computeRdp(q, sigma, 300, DEFAULT_ORDERS);
    expect(computeEpsilon({ q, sigma, steps: 300, delta: 1e-5 })).toEqual(
      rdpToEpsilon(DEFAULT_ORDERS, rdp, 1e-5),
    );
  });

  it('grows with steps and q, shrinks with sigma', () => {
    const eps = (q: number, sigma: number, steps: number) =>
      computeEpsilon({ q, sigma, steps, delta: 1e-5 }).epsilon;
    const bySteps = [1, 10, 100, 1000, 10000].map((t) => eps(0.01, 1, t));
    const byQ = [0.001, 0.01, 0.05, 0.2, 1].map((q) => eps(q, 1, 100));
    const bySigma = [0.7, 1, 2, 4, 8].map((s) => eps(0.01, s, 1000));
    for (let k = 1; k < 5; k++) {
      expect(bySteps[k]!).toBeGreaterThan(bySteps[k - 1]!);
      expect(byQ[k]!).toBeGreaterThan(byQ[k - 1]!);
      expect(bySigma[k]!).toBeLessThan(bySigma[k - 1]!);
    }
  });

  it('is 0 for no steps or no sampling, and Infinity without noise', () => {
    expect(computeEpsilon({ q: 0.1, sigma: 1, steps: 0, delta: 1e-5 }).epsilon).toBe(0);
    expect(computeEpsilon({ q: 0, sigma: 1, steps: 100, delta: 1e-5 }).epsilon).toBe(0);
    expect(computeEpsilon({ q: 0.1, sigma: 0, steps: 1, delta: 1e-5 }).epsilon).toBe(Infinity);
  });
});

describe('lowerRdpBound', () => {
  it.each([
    [0.01, 1],
    [0.2, 10],
    [0.3, 2],
    [0.5, 0.8],
    [1, 3],
  ])('bounds the RDP at every higher order from below (q=%f sigma=%f)', (q, sigma) => {
    const at = (n: number) => rdpOneStep(q, sigma, n);
    const bad: string[] = [];
    for (let a = 1; a < 30; a += 0.137) {
      const lb = lowerRdpBound(a, at);
      for (const b of [a, a + 0.05, a + 0.5, Math.ceil(a), Math.ceil(a) + 1, a + 3.3]) {
        const r = rdpOneStep(q, sigma, b);
        if (Number.isFinite(r) && !(lb <= r * (1 + 1e-12))) bad.push(`${a}->${b}: ${lb} > ${r}`);
      }
      if (a >= 2) expect(lb).toBeGreaterThanOrEqual(at(Math.floor(a)));
    }
    expect(bad).toEqual([]);
  });
});

describe('RdpAccountant', () => {
  it('adds RDP per order across heterogeneous rounds', () => {
    const acc = new RdpAccountant().compose(0.01, 1.2, 100).compose(0.05, 2, 30).compose(1, 5);
    const want = DEFAULT_ORDERS.map(
      (_, k) =>
        computeRdp(0.01, 1.2, 100, DEFAULT_ORDERS)[k]! +
        computeRdp(0.05, 2, 30, DEFAULT_ORDERS)[k]! +
        computeRdp(1, 5, 1, DEFAULT_ORDERS)[k]!,
    );
    acc.rdp().forEach((r, k) => expect(r).toBeCloseTo(want[k]!, 12));
    expect(acc.epsilon(1e-5)).toEqual(rdpToEpsilon(DEFAULT_ORDERS, want, 1e-5));
  });

  it('composes steps additively: T1 then T2 equals T1 + T2', () => {
    const split = new RdpAccountant().compose(0.03, 1.4, 250).compose(0.03, 1.4, 750);
    const whole = computeEpsilon({ q: 0.03, sigma: 1.4, steps: 1000, delta: 1e-6 });
    expect(split.epsilon(1e-6).epsilon).toBeCloseTo(whole.epsilon, 10);
    expect(split.epsilon(1e-6).order).toBe(whole.order);
    const oneByOne = new RdpAccountant(ORDER_SETS.O4);
    for (let i = 0; i < 20; i++) oneByOne.compose(0.1, 3);
    expect(oneByOne.epsilon(1e-5, 'classic').epsilon).toBeCloseTo(
      computeEpsilon({
        q: 0.1,
        sigma: 3,
        steps: 20,
        delta: 1e-5,
        orders: ORDER_SETS.O4,
        conversion: 'classic',
      }).epsilon,
      10,
    );
  });

  it('clones independently', () => {
    const acc = new RdpAccountant().compose(0.01, 1, 10);
    const next = acc.clone().compose(0.01, 1, 1);
    expect(next.epsilon(1e-5).epsilon).toBeGreaterThan(acc.epsilon(1e-5).epsilon);
    expect(acc.epsilon(1e-5)).toEqual(computeEpsilon({ q: 0.01, sigma: 1, steps: 10, delta: 1e-5 }));
  });

  it('starts at epsilon 0 and survives a JSON round trip', () => {
    expect(new RdpAccountant().epsilon(1e-5).epsilon).toBe(0);
    const acc = new RdpAccountant().compose(0.02, 0.9, 40).compose(0.5, 0, 1); // sigma 0: infinite RDP
    const text = JSON.stringify(acc);
    expect(JSON.parse(text).orders).toBe('O3');
    const back = RdpAccountant.fromJSON(JSON.parse(text));
    expect(back.rdp()).toEqual(acc.rdp());
    expect(back.epsilon(1e-5)).toEqual(acc.epsilon(1e-5));
    expect(new RdpAccountant(ORDER_SETS.FINE).toJSON().orders).toBe('FINE');
    expect(RdpAccountant.fromJSON(new RdpAccountant(ORDER_SETS.O1).toJSON()).orders).toBe(ORDER_SETS.O1);
    const custom = new RdpAccountant([2, 4, 8.5]).compose(0.1, 2, 3);
    expect(RdpAccountant.fromJSON(JSON.parse(JSON.stringify(custom))).rdp()).toEqual(custom.rdp());
  });

  it.each([
    null,
    'x',
    {},
    { orders: 'O9', rdp: [] },
    { orders: [], rdp: [] },
    { orders: [0.5], rdp: [0] },
    { orders: [2, 3], rdp: [0] },
    { orders: [2], rdp: [-1] },
    { orders: [2], rdp: ['1'] },
    { orders: 'O4', rdp: [1] },
  ])('fromJSON rejects %j with BAD_REQUEST', (bad) => {
    expect(() => RdpAccountant.fromJSON(bad)).toThrow(FedrankError);
    try {
      RdpAccountant.fromJSON(bad);
    } catch (err) {
      expect((err as FedrankError).code).toBe('BAD_REQUEST');
    }
  });
});

describe('sigmaForEpsilon', () => {
  it.each([
    [0.01, 10000, 1e-5, 8],
    [0.01, 10000, 1e-5, 1],
    [0.001, 100000, 1e-6, 2],
    [1, 10, 1e-5, 4],
    [0.2, 50, 1e-5, 16],
  ])('round-trips computeEpsilon (q=%f T=%i delta=%f eps=%f)', (q, steps, delta, epsilon) => {
    const sigma = sigmaForEpsilon({ q, steps, delta, epsilon });
    const got = computeEpsilon({ q, sigma, steps, delta }).epsilon;
    expect(got).toBeLessThanOrEqual(epsilon);
    expect(got).toBeGreaterThan(epsilon * (1 - 1e-6));
    // A hair less noise already overshoots: the answer is the smallest such sigma.
    expect(computeEpsilon({ q, sigma: sigma * (1 - 1e-7), steps, delta }).epsilon).toBeGreaterThan(epsilon);
  });

  it('is 0 when nothing is released and rejects impossible targets', () => {
    expect(sigmaForEpsilon({ q: 0, steps: 100, delta: 1e-5, epsilon: 1 })).toBe(0);
    expect(sigmaForEpsilon({ q: 0.1, steps: 0, delta: 1e-5, epsilon: 1 })).toBe(0);
    expect(() => sigmaForEpsilon({ q: 0.1, steps: 10, delta: 1e-5, epsilon: 0 })).toThrow(RangeError);
    expect(() => sigmaForEpsilon({ q: 0.1, steps: 10, delta: 0, epsilon: 1 })).toThrow(RangeError);
  });
});

import { describe, expect, it } from 'vitest';
import { epsilonAtOrder, minEpsilonOverOrders, rdpToEpsilon } from './convert.ts';
import { ORDER_SETS, RdpCurve, rdpOneStep, scaleRdp } from './rdp.ts';

describe('rdpToEpsilon', () => {
  // dp_accounting test_compute_epsilon_delta_pure_dp: constant RDP 1.1 over orders 2..32.
  it('reproduces dp_accounting on pure-DP RDP', () => {
    const orders = ORDER_SETS.O4;
    const r = rdpToEpsilon(
      orders,
      orders.map(() => 1.1),
      1e-5,
    );
    expect(r.epsilon).toBeCloseTo(1.32783806176, 10);
    expect(r.order).toBe(32);
  });

  it('applies the classic and improved formulas order by order', () => {
    const delta = 1e-6;
    expect(epsilonAtOrder(5, 0.3, delta, 'classic')).toBeCloseTo(0.3 + Math.log(1 / delta) / 4, 14);
    expect(epsilonAtOrder(5, 0.3, delta, 'improved')).toBeCloseTo(
      0.3 + Math.log(1 - 1 / 5) - (Math.log(delta) + Math.log(5)) / 4,
      14,
    );
    // Below the KL threshold delta^2 + expm1(-r) > 0 the improved conversion gives 0; at or below 1.01, Infinity.
    expect(epsilonAtOrder(5, 1e-13, delta, 'improved')).toBe(0);
    expect(epsilonAtOrder(1.005, 0.3, delta, 'improved')).toBe(Infinity);
    expect(epsilonAtOrder(1, 0.3, delta, 'classic')).toBe(Infinity);
    expect(epsilonAtOrder(3, NaN, delta, 'improved')).toBe(Infinity);
  });

  it('is never worse with the improved conversion, and handles delta = 0 and bad input', () => {
    const orders = ORDER_SETS.O3;
    const rdp = orders.map((a) => (7 * a) / (2 * 2 ** 2));
    expect(rdpToEpsilon(orders, rdp, 1e-5).epsilon).toBeLessThan(
      rdpToEpsilon(orders, rdp, 1e-5, 'classic').epsilon,
    );
    expect(rdpToEpsilon([2, 3], [0, 0], 0)).toEqual({ epsilon: 0, order: 0 });
    expect(rdpToEpsilon([2, 3], [0, 1], 0).epsilon).toBe(Infinity);
    expect(() => rdpToEpsilon([2, 3], [1], 1e-5)).toThrow(RangeError);
    expect(() => rdpToEpsilon([0.5], [1], 1e-5)).toThrow(RangeError);
    expect(() => rdpToEpsilon([2], [1], -1)).toThrow(RangeError);
    expect(() => rdpToEpsilon([2], [1], 1e-5, 'other' as 'classic')).toThrow(RangeError);
  });

  it('reports the first order attaining the minimum', () => {
    expect(rdpToEpsilon([2, 3, 4], [Infinity, Infinity, Infinity], 1e-5)).toEqual({
      epsilon: Infinity,
      order: 2,
    });
    expect(rdpToEpsilon([2, 3, 4], [0, 0, 0], 0.5).order).toBe(2);
  });
});

describe('minEpsilonOverOrders (pruned search)', () => {
  const dense = Array.from({ length: 3901 }, (_, i) => 1 + i * 0.01);
  const cases: [number, number, number, number][] = [
    [0.01, 1, 1000, 1e-5],
    [0.001, 5, 100000, 1e-5],
    [0.1, 1, 100, 1e-6],
    [0.5, 0.8, 10, 1e-5],
    [0.05, 0.3, 1, 1e-5],
    [1e-4, 50, 1, 1e-5],
    [1, 4.530877117, 1, 1e-6],
    [0.02, 2, 500, 0.3],
    [0.3, 1.5, 3, 1e-9],
    // dp_accounting's fractional orders overshoot the next integer order here (non-monotone curves).
    [0.2, 10, 1000, 1e-5],
    [0.2, 10, 100000, 1e-5], // the minimum sits at the integer order 2, below its fractional neighbours
    [0.2, 4, 50, 1e-5],
    [0.3, 2, 10, 1e-5],
  ];

  const floorOf = (q: number, sigma: number, steps: number) => (a: number) =>
    a < 2 ? 0 : scaleRdp(rdpOneStep(q, sigma, Math.floor(a)), steps);

  it.each(cases)('equals the full conversion (q=%f sigma=%f T=%i delta=%f)', (q, sigma, steps, delta) => {
    for (const conversion of ['improved', 'classic'] as const) {
      const curve = new RdpCurve(q, sigma, dense);
      const full = rdpToEpsilon(
        dense,
        Array.from(curve.all(), (r) => scaleRdp(r, steps)),
        delta,
        conversion,
      );
      let calls = 0;
      const pruned = minEpsilonOverOrders(
        dense,
        (k) => {
          calls++;
          return scaleRdp(new RdpCurve(q, sigma, [dense[k]!]).at(0), steps);
        },
        floorOf(q, sigma, steps),
        delta,
        conversion,
      );
      expect(pruned).toEqual(full);
      expect(calls).toBeLessThan(dense.length);
    }
  });

  it('equals the full conversion over the FINE orders', () => {
    const orders = ORDER_SETS.FINE;
    const curve = new RdpCurve(0.01, 1.1, orders);
    const full = rdpToEpsilon(
      orders,
      Array.from(curve.all(), (r) => r * 5000),
      1e-5,
    );
    expect(minEpsilonOverOrders(orders, (k) => curve.at(k) * 5000, floorOf(0.01, 1.1, 5000), 1e-5)).toEqual(
      full,
    );
  });

  it('falls back to the full conversion for unsorted orders', () => {
    const orders = [...dense].reverse();
    const rdp = orders.map((a) => a / 8);
    expect(
      minEpsilonOverOrders(
        orders,
        (k) => rdp[k]!,
        () => 0,
        1e-5,
      ),
    ).toEqual(rdpToEpsilon(orders, rdp, 1e-5));
  });
});

import { describe, expect, it } from 'vitest';
import { erfc, logAdd, logErfc } from './special.ts';

// log(erfc(x)) to 20 digits from mpmath (mp.dps = 40), an independent arbitrary-precision implementation.
const REFERENCE: [number, number][] = [
  [-30, 0.69314718055994530942],
  [-6.5, 0.6931471805599453094],
  [-5.9, 0.69314718055994527347],
  [-3, 0.69313613525044681032],
  [-1, 0.61123231767807049464],
  [-0.46875, 0.40052859235130782549],
  [-0.3, 0.28414589714140825002],
  [0, 0.0],
  [0.1, -0.11930497373739560532],
  [0.46875, -0.67848218561439609899],
  [0.5, -0.73501112983708440303],
  [1, -1.8496055099332482486],
  [2, -5.3649412646166375745],
  [3.9, -17.173871216435402812],
  [4, -17.987778312103006503],
  [4.1, -18.821154183082647822],
  [6, -38.377561173223388366],
  [10, -102.87988902484488857],
  [26, -679.83119976319423026],
  [26.6, -711.41398156849619185],
  [27, -732.86888650789741098],
  [50, -2504.4845878484513719],
  [300, -90006.276152973059298],
  [1e4, -100000009.7827053199],
];

describe('logErfc', () => {
  it.each(REFERENCE)('log(erfc(%d)) matches mpmath to ~1e-15 relative', (x, want) => {
    const got = logErfc(x);
    expect(Math.abs(got - want)).toBeLessThanOrEqual(4e-16 * Math.max(1, Math.abs(want)));
  });

  it('is finite where erfc itself underflows, and monotone decreasing', () => {
    expect(erfc(40)).toBe(0);
    let prev = Infinity;
    const bad: number[] = [];
    for (let x = -10; x <= 2000; x += 0.37) {
      const v = logErfc(x);
      if (!Number.isFinite(v) || v > prev + 1e-15) bad.push(x);
      prev = v;
    }
    expect(bad).toEqual([]);
  });

  it('is continuous across the branch points of the rational approximations', () => {
    for (const b of [-6, -4, -0.46875, 0.46875, 4]) {
      const below = logErfc(b - 1e-12);
      const above = logErfc(b + 1e-12);
      expect(Math.abs(below - above)).toBeLessThan(1e-10 * Math.max(1, Math.abs(below)));
    }
  });

  it('handles infinities and NaN', () => {
    expect(logErfc(Infinity)).toBe(-Infinity);
    expect(logErfc(-Infinity)).toBeCloseTo(Math.LN2, 15);
    expect(Number.isNaN(logErfc(NaN))).toBe(true);
  });
});

describe('erfc', () => {
  it('satisfies erfc(x) + erfc(-x) = 2 and agrees with exp(logErfc)', () => {
    for (let x = -5; x <= 5; x += 0.1) {
      expect(erfc(x) + erfc(-x)).toBeCloseTo(2, 14);
      expect(Math.abs(erfc(x) - Math.exp(logErfc(x)))).toBeLessThan(
        1e-15 * Math.max(1e-300, erfc(x)) * 4 + 1e-300,
      );
    }
    expect(erfc(0)).toBe(1);
  });
});

describe('logAdd', () => {
  it('adds in log space without overflow', () => {
    expect(logAdd(Math.log(2), Math.log(3))).toBeCloseTo(Math.log(5), 15);
    expect(logAdd(-Infinity, 1.5)).toBe(1.5);
    expect(logAdd(1000, 1000)).toBeCloseTo(1000 + Math.LN2, 12);
    expect(logAdd(-Infinity, -Infinity)).toBe(-Infinity);
  });
});

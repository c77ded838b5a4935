/**
 * Special functions the RDP accountant needs to full double precision: log(erfc(x)) that never underflows, and
 * numerically stable addition of numbers held as logarithms.
 */

// W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969) 631-638,
// as in his CALERF routine (netlib specfun): three intervals, each a near-minimax rational function.
// The coefficients are written inline as literals: module-level constants would be loaded (and unboxed) on
// every call, and this runs tens of millions of times per FINE-order accounting.

/** erf(x) for |x| <= 0.46875 (Cody's first interval), Horner form of his loop. */
function erfSmall(x: number): number {
  const z = x * x;
  const num =
    (((0.185777706184603153 * z + 3.1611237438705656) * z + 113.864154151050156) * z + 377.485237685302021) *
      z +
    3209.37758913846947;
  const den =
    (((z + 23.6012909523441209) * z + 244.024637934444173) * z + 1282.61652607737228) * z +
    2844.23683343917062;
  return (x * num) / den;
}

/** exp(y^2) * erfc(y) for y > 0.46875 (Cody's second and third intervals, the ERFCX branch). */
function erfcxLarge(y: number): number {
  if (y <= 4) {
    const num =
      (((((((2.15311535474403846e-8 * y + 0.564188496988670089) * y + 8.88314979438837594) * y +
        66.1191906371416295) *
        y +
        298.635138197400131) *
        y +
        881.95222124176909) *
        y +
        1712.04761263407058) *
        y +
        2051.07837782607147) *
        y +
      1230.33935479799725;
    const den =
      (((((((y + 15.7449261107098347) * y + 117.693950891312499) * y + 537.181101862009858) * y +
        1621.38957456669019) *
        y +
        3290.79923573345963) *
        y +
        4362.61909014324716) *
        y +
        3439.36767414372164) *
        y +
      1230.33935480374942;
    return num / den;
  }
  if (y >= 6.71e7) return 0.56418958354775628695 / y; // 1 - 1/(2y^2) == 1 in double precision
  const z = 1 / (y * y);
  const num =
    ((((0.0163153871373020978 * z + 0.305326634961232344) * z + 0.360344899949804439) * z +
      0.125781726111229246) *
      z +
      0.0160837851487422766) *
      z +
    6.58749161529837803e-4;
  const den =
    ((((z + 2.56852019228982242) * z + 1.87295284992346047) * z + 0.527905102951428412) * z +
      0.0605183413124413191) *
      z +
    0.00233520497626869185;
  return (0.56418958354775628695 - (z * num) / den) / y;
}

/** y*y to full relative precision: splitting y (as Cody does) keeps the rounding of y*y small. */
function square(y: number): number {
  const hi = Math.trunc(y * 16) / 16;
  return hi * hi + (y - hi) * (y + hi);
}

/** The complementary error function erfc(x), relative error near 1e-16 (underflows to 0 past x ~ 26.5). */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const y = Math.abs(x);
  if (y <= 0.46875) return 1 - erfSmall(x);
  const pos = y > 26.6 ? 0 : Math.exp(-square(y)) * erfcxLarge(y);
  return x > 0 ? pos : 2 - pos;
}

/** log(erfc(x)) with full relative accuracy for every x, including x so large that erfc(x) underflows. */
export function logErfc(x: number): number {
  if (x > 0.46875) {
    // erfc(x) = exp(-x^2) * erfcx(x): the exponent is added in log space so nothing underflows.
    return x === Infinity ? -Infinity : Math.log(erfcxLarge(x)) - square(x);
  }
  if (x >= -0.46875) return Math.log1p(-erfSmall(x));
  // erfc(x) = 2 - erfc(-x); past -6, erfc(-x) < 2e-17 vanishes next to 2 in double precision.
  if (x <= -6) return 0.6931471805599453;
  return Math.log(2 - Math.exp(-square(x)) * erfcxLarge(-x)); // NaN falls through to here and stays NaN
}

/** log(exp(a) + exp(b)) without overflow; -Infinity stands for log(0). */
export function logAdd(a: number, b: number): number {
  const lo = a < b ? a : b;
  const hi = a < b ? b : a;
  if (lo === -Infinity) return hi;
  return Math.log1p(Math.exp(lo - hi)) + hi;
}

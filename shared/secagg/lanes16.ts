/**
 * Addition and subtraction in Z_{2^16} two elements at a time (SWAR): a Uint16Array is read through a
 * Uint32Array view, and each 32-bit word holds two independent 16-bit lanes. Bit 15 of each lane is taken
 * out before the 32-bit add (so no carry crosses into the next lane) and put back with an XOR. The lanes
 * do not depend on byte order, so this is exact on any platform. Half the loop iterations of one element
 * per step, and the Uint16Array store reduces mod 2^16 by itself where a lone element is left over.
 */

const LOW15 = 0x7fff7fff;
const HIGH = 0x80008000;

/**
 * acc and m as 32-bit words (two lanes each) over their first 2 * floor(n / 2) elements, or null when either
 * does not start on a word (then the caller's element loop does all of it).
 */
function wordViews(acc: Uint16Array, m: Uint16Array): [Uint32Array, Uint32Array] | null {
  if (acc.length !== m.length)
    throw new RangeError(`ring vectors differ in length: ${acc.length} vs ${m.length}`);
  if (acc.byteOffset % 4 !== 0 || m.byteOffset % 4 !== 0) return null;
  const half = acc.length >>> 1;
  return [new Uint32Array(acc.buffer, acc.byteOffset, half), new Uint32Array(m.buffer, m.byteOffset, half)];
}

/** acc += m (mod 2^16), in place. */
export function addInto16(acc: Uint16Array, m: Uint16Array): void {
  const words = wordViews(acc, m);
  let i = 0;
  if (words) {
    const [a32, m32] = words;
    for (let w = 0; w < a32.length; w++) {
      const a = a32[w]!;
      const b = m32[w]!;
      // Low 15 bits of each lane add without reaching the next lane; bit 15 is a ^ b ^ (carry into it).
      a32[w] = ((a & LOW15) + (b & LOW15)) ^ ((a ^ b) & HIGH);
    }
    i = 2 * a32.length;
  }
  for (; i < acc.length; i++) acc[i] = acc[i]! + m[i]!;
}

/** acc -= m (mod 2^16), in place. */
export function subInto16(acc: Uint16Array, m: Uint16Array): void {
  const words = wordViews(acc, m);
  let i = 0;
  if (words) {
    const [a32, m32] = words;
    for (let w = 0; w < a32.length; w++) {
      const a = a32[w]!;
      const b = m32[w]!;
      // Setting bit 15 of a's lanes keeps every lane's borrow inside it; bit 15 is then fixed by XOR with
      // a ^ ~b (the borrow-free difference of the top bits).
      a32[w] = ((a | HIGH) - (b & LOW15)) ^ ((a ^ ~b) & HIGH);
    }
    i = 2 * a32.length;
  }
  for (; i < acc.length; i++) acc[i] = acc[i]! - m[i]!;
}

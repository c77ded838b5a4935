/**
 * Addition and subtraction in Z_{2^16} two elements at a time (SWAR): a Uint16Array is read through a
 * Uint32Array view, and each 32-bit word holds two independent 16-bit lanes. Bit 15 of each lane is taken
 * out before the 32-bit add (so no carry crosses into the next lane) and put back with an XOR. The lanes
 * do not depend on byte order, so this is exact on any platform. Half the loop iterations of one element
 * per step, and the Uint16Array store reduces mod 2^16 by itself where a lone element is left over.
 */

const LOW15 = 0x7fff7fff;
const HIGH = 0x80008000;

/** True when x's bytes can be read as whole 32-bit words from its start. */
function wordAligned(x: Uint16Array): boolean {
  return x.byteOffset % 4 === 0;
}

function checkLengths(acc: Uint16Array, m: Uint16Array): void {
  if (acc.length !== m.length)
    throw new RangeError(`ring vectors differ in length: ${acc.length} vs ${m.length}`);
}

/** acc += m (mod 2^16), in place. */
export function addInto16(acc: Uint16Array, m: Uint16Array): void {
  checkLengths(acc, m);
  const n = acc.length;
  let i = 0;
  if (wordAligned(acc) && wordAligned(m)) {
    const half = n >>> 1;
    const a32 = new Uint32Array(acc.buffer, acc.byteOffset, half);
    const m32 = new Uint32Array(m.buffer, m.byteOffset, half);
    for (let w = 0; w < half; w++) {
      const a = a32[w]!;
      const b = m32[w]!;
      // Low 15 bits of each lane add without reaching the next lane; bit 15 is a ^ b ^ (carry into it).
      a32[w] = ((a & LOW15) + (b & LOW15)) ^ ((a ^ b) & HIGH);
    }
    i = 2 * half;
  }
  for (; i < n; i++) acc[i] = acc[i]! + m[i]!;
}

/** acc -= m (mod 2^16), in place. */
export function subInto16(acc: Uint16Array, m: Uint16Array): void {
  checkLengths(acc, m);
  const n = acc.length;
  let i = 0;
  if (wordAligned(acc) && wordAligned(m)) {
    const half = n >>> 1;
    const a32 = new Uint32Array(acc.buffer, acc.byteOffset, half);
    const m32 = new Uint32Array(m.buffer, m.byteOffset, half);
    for (let w = 0; w < half; w++) {
      const a = a32[w]!;
      const b = m32[w]!;
      // Setting bit 15 of a's lanes keeps every lane's borrow inside it; bit 15 is then fixed by XOR with
      // a ^ ~b (the borrow-free difference of the top bits).
      a32[w] = ((a | HIGH) - (b & LOW15)) ^ ((a ^ ~b) & HIGH);
    }
    i = 2 * half;
  }
  for (; i < n; i++) acc[i] = acc[i]! - m[i]!;
}

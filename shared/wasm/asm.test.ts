import { describe, expect, it } from 'vitest';
import { f64c, F64, get, I32, i64c, op, sleb, uleb, wasmModule } from './asm.ts';
import { compileKernel } from './runtime.ts';

describe('WebAssembly writer', () => {
  it('encodes LEB128 as the spec examples do', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(sleb(2n ** 32n)).toEqual([0x80, 0x80, 0x80, 0x80, 0x10]);
  });

  it('assembles a module the engine validates and runs (locals, i64 and f64 constants, long bodies)', () => {
    // f(a, x) = a * 3 + (x > 0.5 ? 2^32 mod 7 : 0), its body padded past 127 bytes to test long lengths.
    const pad = Array.from({ length: 70 }, () => [...i64c(1), op.drop]).flat();
    const bytes = wasmModule([
      {
        name: 'f',
        params: [I32, F64],
        results: [I32],
        locals: [I32, I32, F64],
        body: [
          ...pad,
          ...get(0),
          ...[op.i32Const, 3, op.i32Mul],
          ...[...i64c(2 ** 32), ...i64c(7), op.i64RemU, op.i32WrapI64, op.i32Const, 0],
          ...[...f64c(0.5), ...get(1), op.f64Lt, op.select, op.i32Add],
        ],
      },
    ]);
    const k = compileKernel(bytes)!;
    const f = k.instantiate(0).exports.f as (a: number, x: number) => number;
    expect(f(5, 0.75)).toBe(15 + (2 ** 32 % 7));
    expect(f(5, 0.25)).toBe(15);
  });

  it('returns null for bytes the engine refuses', () => {
    expect(compileKernel(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]))).toBeNull();
  });
});

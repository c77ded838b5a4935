/** Little-endian byte writer and bounds-checked reader for the secure-aggregation codec. */

/** Thrown by Reader on any malformed input; codec.ts maps it to a catalogued error. */
export class ShortInput extends Error {}

/** Appends fixed-width fields to a growing buffer. */
export class Writer {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private o = 0;

  private room(n: number): void {
    if (this.o + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.o + n));
    next.set(this.buf.subarray(0, this.o));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(x: number): this {
    this.room(1);
    this.view.setUint8(this.o, x);
    this.o += 1;
    return this;
  }
  u16(x: number): this {
    this.room(2);
    this.view.setUint16(this.o, x, true);
    this.o += 2;
    return this;
  }
  u32(x: number): this {
    this.room(4);
    this.view.setUint32(this.o, x, true);
    this.o += 4;
    return this;
  }
  f64(x: number): this {
    this.room(8);
    this.view.setFloat64(this.o, x, true);
    this.o += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.o);
    this.o += b.length;
    return this;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.o);
  }
}

/** Reads fixed-width fields; throws ShortInput past the end. */
export class Reader {
  private o = 0;
  private readonly view: DataView;
  constructor(private readonly b: Uint8Array) {
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  private need(n: number): void {
    if (this.o + n > this.b.length) throw new ShortInput('truncated');
  }
  get remaining(): number {
    return this.b.length - this.o;
  }
  u8(): number {
    this.need(1);
    return this.view.getUint8(this.o++);
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.o, true);
    this.o += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.o, true);
    this.o += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.o, true);
    this.o += 8;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.b.slice(this.o, this.o + n);
    this.o += n;
    return v;
  }
}

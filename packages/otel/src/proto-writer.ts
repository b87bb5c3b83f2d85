/**
 * A protobuf writer over one growing buffer, for the OTLP encoder. Nested messages reserve one
 * byte for their length and move their content when it turns out longer than 127 bytes (a
 * memmove, needed only for a few large fields per span).
 */
/** Hex digit values by char code; -1 for anything else. */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[97 + i] = 10 + i;
  HEX[65 + i] = 10 + i;
}

/** Texts shorter than this (UTF-16 units) have a UTF-8 length below 2¹⁴: two varint bytes. */
const MAX_TWO_BYTE_CHARS = Math.floor((2 ** 14 - 1) / 3);

/** Protobuf writer over one growing buffer; nested messages through `fork()` / `ldelim()`. */
export class Writer {
  private buf: Buffer;
  private pos = 0;
  /** Where each open nested message's one-byte length placeholder is. */
  private readonly open: number[] = [];

  /** @param capacity bytes to start with; the buffer doubles when full. */
  constructor(capacity = 256) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  static create(capacity?: number): Writer {
    return new Writer(capacity);
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + bytes) size *= 2;
    const bigger = Buffer.allocUnsafe(size);
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  /** An unsigned varint, up to 2^53. */
  uint32(value: number): this {
    this.ensure(10);
    let v = value;
    while (v > 0x7f) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  /** An int64 varint of a safe integer; negative values take ten bytes (two's complement). */
  int64(value: number): this {
    if (value >= 0) return this.uint32(value);
    let v = BigInt.asUintN(64, BigInt(value));
    this.ensure(10);
    while (v > 0x7fn) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
    return this;
  }

  bool(value: boolean): this {
    this.ensure(1);
    this.buf[this.pos++] = value ? 1 : 0;
    return this;
  }

  double(value: number): this {
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
    return this;
  }

  fixed32(value: number): this {
    this.ensure(4);
    this.buf.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  string(value: string): this {
    const n = value.length;
    // Short ASCII strings (names, models, enum values) are copied here: cheaper than the
    // native writer's call for a few bytes. Anything else goes through it.
    if (n < 64) {
      this.ensure(n + 1);
      const start = this.pos;
      const buf = this.buf;
      buf[start] = n;
      let i = 0;
      for (; i < n; i++) {
        const code = value.charCodeAt(i);
        if (code >= 0x80) break;
        buf[start + 1 + i] = code;
      }
      if (i === n) {
        this.pos = start + 1 + n;
        return this;
      }
    }
    if (n < MAX_TWO_BYTE_CHARS) {
      // At most 3 UTF-8 bytes per UTF-16 unit, so the length fits two varint bytes: the text is
      // written after them in one pass, without measuring it first (a second pass over it).
      this.ensure(2 + n * 3);
      const start = this.pos;
      const length = this.buf.write(value, start + 2, 'utf8');
      if (length < 0x80) {
        // Only a short non-ASCII text: its length takes one byte.
        this.buf.copyWithin(start + 1, start + 2, start + 2 + length);
        this.buf[start] = length;
        this.pos = start + 1 + length;
      } else {
        this.buf[start] = (length & 0x7f) | 0x80;
        this.buf[start + 1] = length >>> 7;
        this.pos = start + 2 + length;
      }
      return this;
    }
    const length = Buffer.byteLength(value, 'utf8');
    this.uint32(length);
    this.ensure(length);
    this.pos += this.buf.write(value, this.pos, length, 'utf8');
    return this;
  }

  /** Bytes as they are (a field encoded once and kept, such as an attribute key). */
  raw(bytes: Uint8Array): this {
    const n = bytes.length;
    this.ensure(n);
    if (n <= 32) {
      const buf = this.buf;
      let pos = this.pos;
      for (let i = 0; i < n; i++) buf[pos++] = bytes[i] as number;
      this.pos = pos;
    } else {
      this.buf.set(bytes, this.pos);
      this.pos += n;
    }
    return this;
  }

  /** Bytes given as hex (trace and span ids): decoded here, cheaper than the native call for 8–16 bytes. */
  hex(value: string): this {
    const length = value.length >>> 1;
    this.uint32(length);
    this.ensure(length);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < value.length; i += 2) {
      const high = HEX[value.charCodeAt(i)] as number;
      const low = HEX[value.charCodeAt(i + 1)] as number;
      if (high < 0 || low < 0) {
        // Not hex after all (ids are validated upstream; this keeps the writer total).
        this.pos += buf.write(value, this.pos, length, 'hex');
        return this;
      }
      buf[pos++] = (high << 4) | low;
    }
    this.pos = pos;
    return this;
  }

  /** Starts a nested message: its length goes before it once known (one byte reserved). */
  fork(): this {
    this.ensure(1);
    // Entries are position × 2, plus 1 for a two-byte reservation.
    this.open.push(this.pos * 2);
    this.pos += 1;
    return this;
  }

  /**
   * Starts a nested message expected to be 128 bytes to 16 KiB long (a span, a long text): two
   * bytes are reserved for its length, so ending it moves nothing in the expected case.
   */
  forkWide(): this {
    this.ensure(2);
    this.open.push(this.pos * 2 + 1);
    this.pos += 2;
    return this;
  }

  /** Ends the innermost nested message, writing its length (moving it if it took more or fewer bytes than reserved). */
  ldelim(): this {
    const entry = this.open.pop() as number;
    const reserved = (entry % 2) + 1;
    const at = (entry - reserved + 1) / 2;
    const start = at + reserved;
    const length = this.pos - start;
    const buf = this.buf;
    if (length < 0x80) {
      buf[at] = length;
      if (reserved === 2) {
        buf.copyWithin(at + 1, start, this.pos);
        this.pos -= 1;
      }
      return this;
    }
    if (reserved === 2 && length < 0x4000) {
      buf[at] = (length & 0x7f) | 0x80;
      buf[at + 1] = length >>> 7;
      return this;
    }
    let bytes = 1;
    for (let v = length; v >= 0x80; v = Math.floor(v / 0x80)) bytes++;
    const extra = bytes - reserved;
    this.ensure(extra);
    this.buf.copyWithin(start + extra, start, this.pos);
    const end = this.pos + extra;
    this.pos = at;
    this.uint32(length);
    this.pos = end;
    return this;
  }

  /** Leaves `bytes` bytes to be written later with {@link put}. */
  skip(bytes: number): this {
    this.ensure(bytes);
    this.pos += bytes;
    return this;
  }

  /** Writes `bytes` at `at`, before the current position (into room kept with {@link skip}). */
  put(bytes: Uint8Array, at: number): void {
    if (at < 0 || at + bytes.length > this.pos) throw new RangeError('put() outside the bytes written');
    this.buf.set(bytes, at);
  }

  /** Bytes `start` to `end` of those written: a view, valid until the writer is used again. */
  view(start: number, end: number): Uint8Array {
    return this.buf.subarray(start, end);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  /** Copies `target.length` bytes written from `start` on into `target`. */
  copyTo(target: Uint8Array, start: number): void {
    this.buf.copy(target, 0, start, start + target.length);
  }

  /** Bytes the buffer holds before it must grow. */
  get capacity(): number {
    return this.buf.length;
  }

  /** Starts over on the same buffer (what `finish()` returned is overwritten). */
  reset(): this {
    this.pos = 0;
    this.open.length = 0;
    return this;
  }

  /** The bytes written: a view of the writer's buffer, valid until the writer is used again. */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

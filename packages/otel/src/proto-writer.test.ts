import { describe, expect, it } from 'vitest';
import { Writer } from './proto-writer.js';

/** Reads a varint at `pos`: [value, position after it]. */
function varint(bytes: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  let at = pos;
  for (;;) {
    const byte = bytes[at++] as number;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, at];
    scale *= 128;
  }
}

/** The message written as a length-delimited field after a one-byte tag: its content. */
function content(bytes: Uint8Array): Uint8Array {
  expect(bytes[0]).toBe(0x0a);
  const [length, start] = varint(bytes, 1);
  expect(start + length).toBe(bytes.length);
  return bytes.subarray(start);
}

const LENGTHS = [0, 1, 127, 128, 129, 16_383, 16_384, 16_385, 2 ** 21 + 3];

describe('Writer nested messages', () => {
  for (const wide of [false, true]) {
    it(`writes the length of a ${wide ? 'wide' : 'narrow'} fork in as few bytes as it needs, whatever was reserved`, () => {
      for (const n of LENGTHS) {
        const w = Writer.create(16);
        const body = Buffer.alloc(n, 0x61);
        w.uint32(0x0a);
        if (wide) w.forkWide();
        else w.fork();
        w.raw(body);
        w.ldelim();
        const bytes = w.finish();
        const headerBytes = n < 128 ? 1 : n < 16_384 ? 2 : n < 2 ** 21 ? 3 : 4;
        expect(bytes.length, `${n} bytes`).toBe(1 + headerBytes + n);
        expect(Buffer.from(content(bytes)).equals(body), `${n} bytes`).toBe(true);
      }
    });
  }

  it('nests wide and narrow forks in any order and keeps what follows them', () => {
    const w = Writer.create(8);
    w.uint32(0x0a).forkWide(); // outer: 2 bytes reserved
    w.uint32(0x12).fork().string('x'.repeat(200)).ldelim(); // inner narrow, long
    w.uint32(0x1a).forkWide().string('y').ldelim(); // inner wide, short
    w.ldelim();
    w.uint32(0x20).uint32(300); // a field after the message
    const bytes = w.finish();
    const [outer, start] = varint(bytes, 1);
    const end = start + outer;
    expect(bytes[end]).toBe(0x20);
    expect(varint(bytes, end + 1)[0]).toBe(300);
    const inner = bytes.subarray(start, end);
    expect(inner[0]).toBe(0x12);
    const [first, firstStart] = varint(inner, 1);
    expect(first).toBe(202); // the text and its two length bytes (200 = 0xc8 0x01)
    const text = inner.subarray(firstStart, firstStart + first);
    expect(varint(text, 0)[0]).toBe(200);
    const second = inner.subarray(firstStart + first);
    expect([...second]).toEqual([0x1a, 2, 1, 0x79]);
  });

  it('writes texts with their UTF-8 length, one or two length bytes or more', () => {
    for (const text of [
      '',
      'a',
      'é'.repeat(63),
      `é${'x'.repeat(70)}`,
      'x'.repeat(128),
      '🚀'.repeat(2000),
      'z'.repeat(6000),
    ]) {
      const w = Writer.create(4).string(text);
      const bytes = w.finish();
      const [length, start] = varint(bytes, 0);
      expect(length).toBe(Buffer.byteLength(text));
      expect(Buffer.from(bytes.subarray(start)).toString('utf8')).toBe(text);
    }
  });

  it('starts over on its buffer after reset', () => {
    const w = Writer.create(4);
    w.uint32(0x0a).fork().string('abc');
    w.reset();
    w.uint32(0x0a).fork().string('d').ldelim();
    expect([...w.finish()]).toEqual([0x0a, 2, 1, 0x64]);
  });
});

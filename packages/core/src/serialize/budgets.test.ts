import { describe, expect, it } from 'vitest';
import { budgetsOf, cutText, isBinary, keysOf, ListBudget, textOf } from './budgets.js';
import { DEFAULT_SERIALIZE_LIMITS } from './index.js';

describe('budgetsOf', () => {
  it('resolves the defaults, and a missing or invalid limit to its default', () => {
    const d = DEFAULT_SERIALIZE_LIMITS;
    expect(budgetsOf(undefined)).toEqual({
      limits: undefined,
      maxString: d.maxStringLength,
      maxItems: d.maxArrayLength,
      maxKeys: d.maxObjectKeys,
      maxBytes: d.maxBytes,
      maxListItems: d.maxBytes / 8,
    });
    const limits = { maxStringLength: 0, maxArrayLength: 2.5, maxObjectKeys: 7, maxBytes: 80 };
    const b = budgetsOf(limits);
    expect(b).toMatchObject({ maxString: d.maxStringLength, maxItems: d.maxArrayLength, maxKeys: 7 });
    // Ten items of 8 bytes fit 80 bytes, fewer than maxItems: the list budget stays maxItems.
    expect(b.maxListItems).toBe(d.maxArrayLength);
    expect(b.limits).toBe(limits);
  });

  it('resolves a limits object once, and the result cannot be changed', () => {
    const limits = { maxArrayLength: 3 };
    const b = budgetsOf(limits);
    expect(budgetsOf(limits)).toBe(b);
    expect(budgetsOf({ maxArrayLength: 3 })).not.toBe(b);
    expect(Object.isFrozen(b)).toBe(true);
  });
});

describe('cutText and textOf', () => {
  const b = budgetsOf({ maxStringLength: 5 });

  it('keeps a string within the budget as the same string, and cuts a longer one with the marker', () => {
    const short = 'abcde';
    expect(cutText(short, b)).toBe(short);
    expect(cutText('abcdefgh', b)).toBe('abcde…[truncated 3 chars]');
  });

  it('describes values that should have been strings without calling their methods', () => {
    const hostile = {
      toString(): string {
        throw new Error('toString must not run');
      },
    };
    expect(textOf('abcdefgh', b)).toBe('abcde…[truncated 3 chars]');
    expect(textOf(12, b)).toBe('12');
    expect(textOf(10n, b)).toBe('10');
    expect(textOf(undefined, b)).toBe('');
    expect(textOf(null, b)).toBe('');
    expect(textOf(Buffer.alloc(1024), budgetsOf(undefined))).toBe('[Buffer 1024 bytes]');
    expect(JSON.parse(textOf(hostile, budgetsOf(undefined)))).toEqual({ toString: '[Function toString]' });
  });
});

describe('isBinary', () => {
  it('is true for buffers, typed arrays, views and array buffers only', () => {
    expect(isBinary(Buffer.from('x'))).toBe(true);
    expect(isBinary(new Uint8Array(2))).toBe(true);
    expect(isBinary(new DataView(new ArrayBuffer(2)))).toBe(true);
    expect(isBinary(new ArrayBuffer(2))).toBe(true);
    expect(isBinary(new SharedArrayBuffer(2))).toBe(true);
    expect(isBinary([1, 2])).toBe(false);
    expect(isBinary({ length: 2 })).toBe(false);
  });
});

describe('keysOf', () => {
  const b = budgetsOf({ maxObjectKeys: 2 });

  it('reads a plain or null-prototype object as it is', () => {
    const record = { a: 1, b: 2, c: 3 };
    const source = keysOf(record, b);
    expect(source?.record).toBe(record);
    expect(source?.keys).toEqual(['a', 'b', 'c']);
    expect(source?.cut).toBe(false);
    const bare = Object.assign(Object.create(null) as object, { x: 1 });
    expect(keysOf(bare, b)?.keys).toEqual(['x']);
  });

  it('converts anything else once, within the budgets, and has no keys for what is not an object', () => {
    class Point {
      x = 1;
      y = 2;
      z = 3;
    }
    const point = keysOf(new Point(), b);
    // The serialiser's conversion (its class marker, two fields, its count of the rest).
    expect(point?.keys).toContain('x');
    expect(point?.keys).not.toContain('z');
    expect(point?.record['…']).toBe('[1 more keys]');
    expect(point?.cut).toBe(true);
    // A 1 MiB buffer is one marker, not a million keys.
    expect(keysOf(Buffer.alloc(1 << 20), b)).toEqual({ record: {}, keys: [], cut: true });
    expect(keysOf([1, 2], b)).toEqual({ record: {}, keys: [], cut: true });
    expect(keysOf('text', b)).toBeUndefined();
    expect(keysOf(null, b)).toBeUndefined();
  });

  it('lets a throwing ownKeys trap throw (the caller decides what a failed record means)', () => {
    const trap = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error('trap');
        },
      },
    );
    expect(() => keysOf(trap, b)).toThrow('trap');
  });
});

describe('ListBudget', () => {
  it('cuts each list to maxItems and all of them together to maxListItems, noting the cut', () => {
    // maxListItems: max(3, 64 / 8) = 8.
    const lists = new ListBudget(budgetsOf({ maxArrayLength: 3, maxBytes: 64 }));
    expect(lists.budgets.maxListItems).toBe(8);
    expect(lists.map([1, 2], (item, i) => `${i}:${item}`)).toEqual(['0:1', '1:2']);
    expect(lists.cut).toBe(false);
    expect(lists.map([1, 2, 3, 4], (item) => item)).toEqual([1, 2, 3]);
    expect(lists.cut).toBe(true);
    expect(lists.take(3)).toBe(3);
    // 2 + 3 + 3 taken: nothing is left for any list.
    expect(lists.take(1)).toBe(0);
    expect(lists.map(['x'], (item) => item)).toEqual([]);
  });

  it('reads no item past the budget, whatever a list says its length is', () => {
    const lists = new ListBudget(budgetsOf({ maxArrayLength: 2 }));
    const huge: unknown[] = [];
    huge.length = 2 ** 32 - 1;
    let reads = 0;
    lists.map(huge, () => reads++);
    expect(reads).toBe(2);
    expect(lists.cut).toBe(true);
  });

  it('takes at most a smaller maximum when one is given, and never a negative count', () => {
    const lists = new ListBudget(budgetsOf({ maxArrayLength: 5 }));
    expect(lists.take(10, 4)).toBe(4);
    expect(lists.take(10, -1)).toBe(0);
    expect(lists.take(0)).toBe(0);
  });
});

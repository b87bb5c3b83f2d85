import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SERIALIZE_LIMITS,
  type JsonValue,
  resolveLimits,
  type SerializeLimits,
  safeStringify,
  toJsonSafe,
} from './index.js';

/** The converted value, asserting that no limit was involved. */
function safe(value: unknown, limits?: Partial<SerializeLimits>): JsonValue {
  const result = toJsonSafe(value, limits);
  expect(result.truncated).toBe(false);
  return result.value;
}

function asObject(value: JsonValue): { [key: string]: JsonValue } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`expected a JSON object, got ${JSON.stringify(value)}`);
  }
  return value;
}

function depthOf(value: JsonValue): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  let max = 0;
  for (const child of children) max = Math.max(max, depthOf(child));
  return max + 1;
}

describe('primitives', () => {
  it('keeps strings, finite numbers, booleans and null', () => {
    expect(safe('hi')).toBe('hi');
    expect(safe(0)).toBe(0);
    expect(safe(-1.5)).toBe(-1.5);
    expect(safe(true)).toBe(true);
    expect(safe(false)).toBe(false);
    expect(safe(null)).toBe(null);
  });

  it('turns non-finite numbers into strings', () => {
    expect(safe([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])).toEqual([
      'NaN',
      'Infinity',
      '-Infinity',
    ]);
  });

  it('maps undefined to null at top level and in arrays, and omits undefined properties', () => {
    expect(safe(undefined)).toBe(null);
    expect(safe([1, undefined, 2])).toEqual([1, null, 2]);
    const out = asObject(safe({ a: 1, b: undefined }));
    expect(out).toEqual({ a: 1 });
    expect(Object.keys(out)).toEqual(['a']);
  });

  it('writes bigints as decimal strings', () => {
    expect(safe(123n)).toBe('123');
    expect(safe(-(2n ** 70n))).toBe('-1180591620717411303424');
  });

  it('writes symbols as Symbol(description)', () => {
    expect(safe(Symbol('tool'))).toBe('Symbol(tool)');
    expect(safe(Symbol())).toBe('Symbol()');
  });

  it('writes functions as [Function name] or [Function anonymous]', () => {
    function search() {}
    expect(safe(search)).toBe('[Function search]');
    expect(safe({ run() {} })).toEqual({ run: '[Function run]' });
    expect(safe([() => 1])).toEqual(['[Function anonymous]']);
    class Retriever {}
    expect(safe(Retriever)).toBe('[Function Retriever]');
  });

  it('does not run a static name getter of a function', () => {
    let calls = 0;
    function sneaky() {}
    Object.defineProperty(sneaky, 'name', {
      get() {
        calls++;
        throw new Error('no');
      },
    });
    expect(safe(sneaky)).toBe('[Function anonymous]');
    expect(calls).toBe(0);
  });
});

describe('strings', () => {
  it('cuts long strings and ends them with a marker', () => {
    const result = toJsonSafe('a'.repeat(150), { maxStringLength: 100 });
    expect(result.truncated).toBe(true);
    expect(result.value).toBe('a'.repeat(100) + '…[truncated 50 chars]');
  });

  it('keeps a string of exactly maxStringLength', () => {
    const result = toJsonSafe('a'.repeat(100), { maxStringLength: 100 });
    expect(result).toEqual({ value: 'a'.repeat(100), truncated: false });
  });

  it('does not split a surrogate pair at the cut', () => {
    const result = toJsonSafe('ab😀cd', { maxStringLength: 3 });
    expect(result.value).toBe('ab…[truncated 4 chars]');
  });

  it('cuts strings nested in objects and long keys too', () => {
    const result = toJsonSafe({ ['k'.repeat(20)]: 'v'.repeat(20) }, { maxStringLength: 10 });
    expect(result.truncated).toBe(true);
    expect(result.value).toEqual({
      ['k'.repeat(10) + '…[truncated 10 chars]']: 'v'.repeat(10) + '…[truncated 10 chars]',
    });
  });
});

describe('builtin objects', () => {
  it('writes dates as ISO strings and invalid dates as Invalid Date', () => {
    expect(safe(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6)))).toBe('2024-01-02T03:04:05.006Z');
    expect(safe(new Date(Number.NaN))).toBe('Invalid Date');
  });

  it('writes regular expressions in source form', () => {
    expect(safe(/a+b\//gi)).toBe('/a+b\\//gi');
  });

  it('describes binary data without dumping its content', () => {
    const buffer = Buffer.alloc(1234, 7);
    expect(safe(buffer)).toBe('[Buffer 1234 bytes]');
    expect(safe(new Uint8Array(1234))).toBe('[Uint8Array 1234 bytes]');
    expect(safe(new Float64Array(3))).toBe('[Float64Array 24 bytes]');
    expect(safe(new ArrayBuffer(8))).toBe('[ArrayBuffer 8 bytes]');
    expect(safe(new SharedArrayBuffer(2))).toBe('[SharedArrayBuffer 2 bytes]');
    expect(safe(new DataView(new ArrayBuffer(16), 4, 5))).toBe('[DataView 5 bytes]');
    class Frame extends Uint8Array {}
    expect(safe(new Frame(2))).toBe('[Frame 2 bytes]');
  });

  it('writes maps as {"@type":"Map", entries} with keys and values converted', () => {
    const map = new Map<unknown, unknown>([
      ['a', 1],
      [{ id: 2 }, new Date(0)],
    ]);
    expect(safe(map)).toEqual({
      '@type': 'Map',
      entries: [
        ['a', 1],
        [{ id: 2 }, '1970-01-01T00:00:00.000Z'],
      ],
    });
  });

  it('writes sets as {"@type":"Set", values}', () => {
    expect(safe(new Set([1, 'two', undefined]))).toEqual({ '@type': 'Set', values: [1, 'two', null] });
  });

  it('applies maxArrayLength to maps and sets', () => {
    const set = toJsonSafe(new Set([1, 2, 3, 4, 5]), { maxArrayLength: 2 });
    expect(set).toEqual({ value: { '@type': 'Set', values: [1, 2, '…[3 more items]'] }, truncated: true });
    const map = toJsonSafe(
      new Map([
        [1, 1],
        [2, 2],
        [3, 3],
      ]),
      { maxArrayLength: 1 },
    );
    expect(map).toEqual({ value: { '@type': 'Map', entries: [[1, 1], '…[2 more items]'] }, truncated: true });
  });

  it('writes opaque builtins as markers', () => {
    expect(safe([Promise.resolve(1), new WeakMap(), new WeakSet(), new WeakRef({})])).toEqual([
      '[Promise]',
      '[WeakMap]',
      '[WeakSet]',
      '[WeakRef]',
    ]);
  });

  it('unwraps boxed primitives and writes URLs as their href', () => {
    expect(safe([new String('s'), new Number(2), new Boolean(false), Object(5n)])).toEqual([
      's',
      2,
      false,
      '5',
    ]);
    expect(safe(new URL('https://example.com/a?b=1'))).toBe('https://example.com/a?b=1');
  });

  it('falls back to own properties when a value only pretends to be a builtin', () => {
    const fakeDate = Object.assign(Object.create(Date.prototype) as object, { x: 1 });
    expect(safe(fakeDate)).toEqual({ '@type': 'Date', x: 1 });
    const proxiedMap = new Proxy(new Map([[1, 2]]), {});
    expect(safe(proxiedMap)).toEqual({ '@type': 'Map' });
  });

  it('recognises builtins from another realm', () => {
    const foreign = vm.runInNewContext(
      '({ plain: { a: 1 }, date: new Date(0), map: new Map([[1, 2]]), bytes: new Uint16Array(2), error: new RangeError("far") })',
    ) as Record<string, unknown>;
    const out = asObject(safe(foreign));
    expect(out.plain).toEqual({ a: 1 });
    expect(out.date).toBe('1970-01-01T00:00:00.000Z');
    expect(out.map).toEqual({ '@type': 'Map', entries: [[1, 2]] });
    expect(out.bytes).toBe('[Uint16Array 4 bytes]');
    expect(asObject(out.error as JsonValue)).toMatchObject({ name: 'RangeError', message: 'far' });
  });
});

describe('errors', () => {
  it('writes name, message, stack, code, cause and extra own properties', () => {
    const root = new Error('socket hang up');
    const error = new TypeError('fetch failed', { cause: root }) as TypeError & Record<string, unknown>;
    error.code = 'ECONNRESET';
    error.status = 503;
    const out = asObject(safe(error));
    expect(out.name).toBe('TypeError');
    expect(out.message).toBe('fetch failed');
    expect(out.stack).toBe(error.stack);
    expect(out.code).toBe('ECONNRESET');
    expect(out.status).toBe(503);
    expect(asObject(out.cause as JsonValue)).toMatchObject({ name: 'Error', message: 'socket hang up' });
    expect(Object.keys(out)).toEqual(['name', 'message', 'stack', 'code', 'cause', 'status']);
  });

  it('keeps numeric codes and drops codes of other types', () => {
    const numeric = Object.assign(new Error('rate limited'), { code: 429 });
    expect(asObject(safe(numeric)).code).toBe(429);
    const odd = Object.assign(new Error('odd'), { code: { nested: true } });
    expect(asObject(safe(odd))).not.toHaveProperty('code');
  });

  it('uses the subclass name and cuts long stacks', () => {
    class RateLimitError extends Error {
      override name = 'RateLimitError';
    }
    const error = new RateLimitError('slow down');
    error.stack = 's'.repeat(50);
    const result = toJsonSafe(error, { maxStringLength: 20 });
    expect(result.truncated).toBe(true);
    const out = asObject(result.value);
    expect(out.name).toBe('RateLimitError');
    expect(out.stack).toBe('s'.repeat(20) + '…[truncated 30 chars]');
    expect(out).not.toHaveProperty('@type');
  });

  it('limits cause chains by depth and marks cause cycles as circular', () => {
    let error = new Error('e0');
    for (let i = 1; i <= 30; i++) error = new Error(`e${i}`, { cause: error });
    const deep = toJsonSafe(error, { maxDepth: 3 });
    expect(deep.truncated).toBe(true);
    const level2 = asObject(asObject(asObject(deep.value).cause as JsonValue).cause as JsonValue);
    expect(level2.message).toBe('e28');
    expect(level2.cause).toBe('[Object]');

    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as Error & { cause?: unknown }).cause = b;
    const cyclic = toJsonSafe(a);
    expect(cyclic.truncated).toBe(false);
    expect(asObject(asObject(cyclic.value).cause as JsonValue).cause).toBe('[Circular]');
  });

  it('includes the members of an AggregateError', () => {
    const out = asObject(safe(new AggregateError([new Error('first')], 'all failed')));
    expect(out.message).toBe('all failed');
    expect(out.errors).toEqual([expect.objectContaining({ name: 'Error', message: 'first' })]);
  });

  it('survives error fields whose getters throw', () => {
    const error = new Error('x');
    Object.defineProperty(error, 'message', {
      get() {
        throw new RangeError('no message');
      },
    });
    expect(asObject(safe(error)).message).toBe('[Thrown: RangeError]');
  });
});

describe('objects and class instances', () => {
  it('keeps plain objects and arrays as they are', () => {
    const value = { a: [1, 'two', { three: true }], b: null, c: { d: {} } };
    expect(safe(value)).toEqual(value);
  });

  it('adds @type for class instances and writes only own enumerable properties', () => {
    class Document {
      readonly id = 'doc-1';
      #secret = 's';
      get computed(): string {
        return this.#secret;
      }
    }
    expect(safe(new Document())).toEqual({ '@type': 'Document', id: 'doc-1' });
  });

  it('does not add @type for null-prototype objects', () => {
    const bare = Object.assign(Object.create(null) as object, { a: 1 });
    expect(safe(bare)).toEqual({ a: 1 });
    expect(asObject(safe(bare))).not.toHaveProperty('@type');
  });

  it('writes a __proto__ key as data without changing the output prototype', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as unknown;
    const out = asObject(safe(parsed));
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect((out as { polluted?: unknown }).polluted).toBeUndefined();
    expect(JSON.stringify(out)).toBe('{"__proto__":{"polluted":true},"a":1}');
  });

  it('writes [Thrown: Name] for getters that throw', () => {
    class QuotaError extends Error {}
    const value = {
      ok: 1,
      get bad(): number {
        throw new QuotaError('no');
      },
      get worse(): number {
        throw 'plain string';
      },
    };
    expect(safe(value)).toEqual({ ok: 1, bad: '[Thrown: QuotaError]', worse: '[Thrown: string]' });
  });

  it('prefers the own name of a thrown error over its constructor name', () => {
    const value = {
      get aborted(): number {
        throw Object.assign(new Error('stop'), { name: 'AbortError' });
      },
    };
    expect(safe(value)).toEqual({ aborted: '[Thrown: AbortError]' });
  });

  it('survives Proxy objects whose traps throw', () => {
    const hostile = new Proxy(
      {},
      {
        getPrototypeOf() {
          throw new Error('proto');
        },
        ownKeys() {
          throw new SyntaxError('keys');
        },
      },
    );
    expect(safe(hostile)).toBe('[Thrown: SyntaxError]');

    const getThrows = new Proxy(
      { a: 1 },
      {
        get() {
          throw new TypeError('get');
        },
      },
    );
    expect(safe(getThrows)).toEqual({ a: '[Thrown: TypeError]' });

    const { proxy, revoke } = Proxy.revocable([1, 2], {});
    revoke();
    expect(safe({ proxy })).toEqual({ proxy: '[Thrown: TypeError]' });
  });

  it('marks circular references without setting truncated', () => {
    const node: Record<string, unknown> = { name: 'root' };
    node.self = node;
    node.list = [node];
    expect(toJsonSafe(node)).toEqual({
      value: { name: 'root', self: '[Circular]', list: ['[Circular]'] },
      truncated: false,
    });
  });

  it('writes a shared non-circular object each time it appears', () => {
    const shared = { id: 1 };
    expect(safe({ a: shared, b: shared, c: [shared] })).toEqual({
      a: { id: 1 },
      b: { id: 1 },
      c: [{ id: 1 }],
    });
  });

  it('never calls user toJSON, toString, valueOf or Symbol.toPrimitive', () => {
    const calls: string[] = [];
    const thrower = (name: string) => () => {
      calls.push(name);
      throw new Error(name);
    };
    const trap = {
      value: 42,
      toJSON: thrower('toJSON'),
      toString: thrower('toString'),
      valueOf: thrower('valueOf'),
      [Symbol.toPrimitive]: thrower('toPrimitive'),
    };
    const date = Object.assign(new Date(0), {
      toJSON: thrower('date.toJSON'),
      toISOString: thrower('toISOString'),
    });
    const error = Object.assign(new Error('e'), { toString: thrower('error.toString') });
    const input = {
      trap,
      date,
      error,
      map: new Map([[trap, trap]]),
      list: [trap],
      boxed: Object.assign(new Number(1), trap),
    };

    const out = asObject(safe(input));
    const text = safeStringify(input).text;

    expect(calls).toEqual([]);
    expect(asObject(out.trap as JsonValue)).toMatchObject({ value: 42, toJSON: '[Function anonymous]' });
    expect(out.date).toBe('1970-01-01T00:00:00.000Z');
    expect(out.boxed).toBe(1);
    expect(text).toContain('"value":42');
  });

  it('produces output that survives a JSON round trip unchanged', () => {
    const input = {
      n: Number.NaN,
      big: 1n,
      when: new Date(0),
      tags: new Set(['a']),
      err: new Error('x'),
      nested: [{ a: undefined, b: [undefined] }],
    };
    const out = safe(input);
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });
});

describe('limits', () => {
  it('drops extra array items and adds one marker item', () => {
    const result = toJsonSafe([1, 2, 3, 4, 5], { maxArrayLength: 3 });
    expect(result).toEqual({ value: [1, 2, 3, '…[2 more items]'], truncated: true });
  });

  it('drops extra object keys and adds a marker key', () => {
    const result = toJsonSafe({ a: 1, b: 2, c: 3, d: 4 }, { maxObjectKeys: 2 });
    expect(result).toEqual({ value: { a: 1, b: 2, '…': '[2 more keys]' }, truncated: true });
  });

  it('replaces containers deeper than maxDepth with [Object] or [Array]', () => {
    const result = toJsonSafe({ a: { b: 1 }, c: [[1]], d: 'leaf' }, { maxDepth: 1 });
    expect(result).toEqual({ value: { a: '[Object]', c: '[Array]', d: 'leaf' }, truncated: true });
    expect(toJsonSafe({ a: { b: 1 } }, { maxDepth: 2 }).truncated).toBe(false);
  });

  it('stops at the byte budget and marks the rest [truncated]', () => {
    const items = Array.from({ length: 100 }, (_, i) => ({ id: i, text: 'x'.repeat(50) }));
    const result = toJsonSafe(items, { maxBytes: 500 });
    expect(result.truncated).toBe(true);
    const out = result.value as JsonValue[];
    expect(out.length).toBeGreaterThan(1);
    expect(out.length).toBeLessThan(20);
    expect(out.at(-1)).toBe('[truncated]');
    expect(JSON.stringify(out).length).toBeLessThan(1500);
  });

  it('reads no further properties once the budget is spent', () => {
    let reads = 0;
    const row = {
      get value(): string {
        reads++;
        return 'y'.repeat(100);
      },
    };
    const rows = Array.from({ length: 1000 }, () => row);
    toJsonSafe({ rows }, { maxBytes: 1000 });
    expect(reads).toBeGreaterThan(0);
    expect(reads).toBeLessThan(20);
  });

  it('ends an object with a [truncated] marker key when the budget runs out', () => {
    const wide = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'z'.repeat(40)]));
    const result = toJsonSafe(wide, { maxBytes: 200 });
    expect(result.truncated).toBe(true);
    const out = asObject(result.value);
    expect(out['…']).toBe('[truncated]');
    expect(Object.keys(out).length).toBeLessThan(10);
  });

  it('sets truncated only for limits, not for conversions or markers', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const converted = toJsonSafe({
      circular,
      n: Number.NaN,
      when: new Date(0),
      get bad(): number {
        throw new Error('x');
      },
    });
    expect(converted.truncated).toBe(false);
  });

  it('keeps work and output bounded for huge inputs', () => {
    const huge = 'x'.repeat(50 * 1024 * 1024);
    const cut = toJsonSafe(huge);
    expect(cut.truncated).toBe(true);
    expect((cut.value as string).length).toBeLessThan(DEFAULT_SERIALIZE_LIMITS.maxStringLength + 50);
    expect(safeStringify(huge).text.length).toBeLessThan(DEFAULT_SERIALIZE_LIMITS.maxStringLength + 50);

    const many = Array.from({ length: 1e6 }, (_, i) => i);
    const list = toJsonSafe(many);
    expect(list.truncated).toBe(true);
    expect(list.value).toHaveLength(DEFAULT_SERIALIZE_LIMITS.maxArrayLength + 1);
    expect((list.value as JsonValue[]).at(-1)).toBe('…[999000 more items]');

    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 100; i++) deep = { child: deep };
    const nested = toJsonSafe(deep);
    expect(nested.truncated).toBe(true);
    expect(depthOf(nested.value)).toBe(DEFAULT_SERIALIZE_LIMITS.maxDepth);
    expect(JSON.stringify(nested.value)).toContain('"[Object]"');

    const wide = Array.from({ length: 1000 }, () => 'w'.repeat(30_000));
    const budget = safeStringify(wide);
    expect(budget.truncated).toBe(true);
    expect(budget.text.length).toBeLessThan(DEFAULT_SERIALIZE_LIMITS.maxBytes + 40_000);
  });
});

describe('safeStringify', () => {
  it('returns strings as-is, unquoted', () => {
    expect(safeStringify('plain "text"')).toEqual({ text: 'plain "text"', truncated: false });
  });

  it('cuts long strings', () => {
    expect(safeStringify('abcdef', { maxStringLength: 2 })).toEqual({
      text: 'ab…[truncated 4 chars]',
      truncated: true,
    });
  });

  it('returns the JSON text of the converted value', () => {
    expect(safeStringify({ a: [1, Number.NaN], b: undefined, c: 2n })).toEqual({
      text: '{"a":[1,"NaN"],"c":"2"}',
      truncated: false,
    });
    expect(safeStringify(undefined).text).toBe('null');
    expect(safeStringify([1, 2, 3], { maxArrayLength: 1 })).toEqual({
      text: '[1,"…[2 more items]"]',
      truncated: true,
    });
  });
});

describe('resolveLimits', () => {
  it('returns the defaults, overridden by the given fields', () => {
    expect(resolveLimits()).toEqual({
      maxStringLength: 32_768,
      maxArrayLength: 1_000,
      maxObjectKeys: 1_000,
      maxDepth: 12,
      maxBytes: 262_144,
    });
    expect(resolveLimits({ maxDepth: 3, maxBytes: 10 })).toEqual({
      ...DEFAULT_SERIALIZE_LIMITS,
      maxDepth: 3,
      maxBytes: 10,
    });
  });

  it('returns a fresh object and keeps the defaults frozen', () => {
    const limits = resolveLimits();
    limits.maxDepth = 1;
    expect(DEFAULT_SERIALIZE_LIMITS.maxDepth).toBe(12);
    expect(Object.isFrozen(DEFAULT_SERIALIZE_LIMITS)).toBe(true);
  });

  it.each([
    ['maxStringLength', 0],
    ['maxArrayLength', -1],
    ['maxObjectKeys', 1.5],
    ['maxDepth', Number.NaN],
    ['maxBytes', Number.POSITIVE_INFINITY],
    ['maxDepth', '5'],
  ] as const)('throws a TypeError naming %s when it is %s', (field, value) => {
    const limits = { [field]: value } as unknown as Partial<SerializeLimits>;
    expect(() => resolveLimits(limits)).toThrow(TypeError);
    expect(() => resolveLimits(limits)).toThrow(field);
  });

  it('is lenient in toJsonSafe, which falls back to the default for an invalid limit', () => {
    const limits = { maxArrayLength: -1 } as Partial<SerializeLimits>;
    expect(toJsonSafe([1, 2], limits)).toEqual({ value: [1, 2], truncated: false });
  });
});

// Values an app may hand to tracing by accident or by malice: cycles, BigInt, huge strings and
// arrays, binary data, getters, toJSON/toString/valueOf that throw, proxies whose traps throw (and
// revoked ones), errors with cause chains (and a cause cycle), thrown non-errors, odd prototypes.
// Each is built fresh by `hostileCorpus()`, so a test may hand them out without sharing state.

/** A class whose every conversion throws, and one getter. */
export class Hostile {
  readonly plain = 'visible';
  get boom(): never {
    throw new Error('getter throws');
  }
  toJSON(): never {
    throw new Error('toJSON must not be called');
  }
  toString(): never {
    throw new Error('toString must not be called');
  }
  valueOf(): never {
    throw new Error('valueOf must not be called');
  }
  [Symbol.toPrimitive](): never {
    throw new Error('toPrimitive must not be called');
  }
}

const throwingTraps: ProxyHandler<object> = {
  get: () => {
    throw new Error('get trap');
  },
  has: () => {
    throw new Error('has trap');
  },
  ownKeys: () => {
    throw new Error('ownKeys trap');
  },
  getOwnPropertyDescriptor: () => {
    throw new Error('getOwnPropertyDescriptor trap');
  },
  getPrototypeOf: () => {
    throw new Error('getPrototypeOf trap');
  },
};

export interface HostileValue {
  label: string;
  value: unknown;
  /** Throwing it is a realistic failure (an error, or a non-error some code throws). */
  throwable?: boolean;
  /**
   * Reading any property throws (a proxy): an async function cannot even return it, since resolving
   * a promise reads `then`. Tests return it wrapped from async functions, as it is from sync ones.
   */
  unreadable?: boolean;
}

export function hostileCorpus(hugeStringBytes: number): HostileValue[] {
  const circular: Record<string, unknown> = { name: 'loop', list: [] as unknown[] };
  circular.self = circular;
  (circular.list as unknown[]).push(circular, { back: circular });
  const circularArray: unknown[] = [1];
  circularArray.push(circularArray);

  const withGetter = { ok: 1 };
  Object.defineProperty(withGetter, 'bad', {
    enumerable: true,
    get() {
      throw new Error('enumerable getter throws');
    },
  });

  const chained = new Error('outer', {
    cause: new TypeError('middle', { cause: new RangeError('inner', { cause: { code: 'E_INNER' } }) }),
  });
  const a = new Error('a');
  const b = new Error('b', { cause: a });
  (a as { cause?: unknown }).cause = b; // a cause cycle
  const badMessage = new Error('x');
  // The stack first: V8 formats a lazy stack (reading `message`) when it is redefined.
  Object.defineProperty(badMessage, 'stack', {
    get() {
      throw new Error('stack getter throws');
    },
  });
  Object.defineProperty(badMessage, 'message', {
    get() {
      throw new Error('message getter throws');
    },
  });
  const aggregate = new AggregateError([new Error('first'), new Hostile(), circular], 'several failed');

  const { proxy: revoked, revoke } = Proxy.revocable({ a: 1 }, {});
  revoke();

  const sparse: unknown[] = [];
  sparse.length = 2 ** 32 - 1;
  const wide: Record<string, number> = {};
  for (let i = 0; i < 100_000; i++) wide[`key${i}`] = i;
  let deep: unknown = 'bottom';
  for (let i = 0; i < 10_000; i++) deep = { deep };
  const nullProto = Object.assign(Object.create(null) as object, { a: 1, nested: Object.create(null) });
  const protoKey = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"x": 1}}}');
  const symbols = { [Symbol('hidden')]: 'symbol key', sym: Symbol('value') };
  const shared = new Uint8Array(new SharedArrayBuffer(1024)).fill(7);

  return [
    { label: 'circular object', value: circular },
    { label: 'circular array', value: circularArray },
    { label: 'BigInt', value: { big: 2n ** 70n, list: [1n, -1n] } },
    { label: 'bare BigInt', value: 12345678901234567890n },
    { label: 'huge string', value: 'x'.repeat(hugeStringBytes) },
    { label: 'lone surrogates and NULs', value: `a\uD800b\uDFFFc\u0000d${'\uD83D'.repeat(1000)}` },
    { label: 'Buffer', value: Buffer.alloc(2 ** 20, 0xff) },
    {
      label: 'typed arrays',
      value: { f: new Float64Array(10_000), u: new Uint8Array([0, 255]), shared },
    },
    {
      label: 'ArrayBuffer and DataView',
      value: { buf: new ArrayBuffer(4096), view: new DataView(new ArrayBuffer(16)) },
    },
    { label: 'class with throwing getter and conversions', value: new Hostile(), throwable: true },
    { label: 'enumerable getter that throws', value: withGetter },
    {
      label: 'Proxy whose traps all throw',
      value: new Proxy({}, throwingTraps),
      throwable: true,
      unreadable: true,
    },
    { label: 'revoked Proxy', value: revoked, throwable: true, unreadable: true },
    { label: 'error with a cause chain', value: chained, throwable: true },
    { label: 'error with a cause cycle', value: a, throwable: true },
    { label: 'error whose message and stack getters throw', value: badMessage, throwable: true },
    { label: 'AggregateError of hostile values', value: aggregate, throwable: true },
    { label: 'thrown string', value: 'plain string thrown', throwable: true },
    { label: 'thrown null', value: null, throwable: true },
    { label: 'thrown number', value: 42, throwable: true },
    { label: 'Symbols', value: symbols },
    {
      label: 'Map, Set, WeakMap, Promise, function',
      value: {
        m: new Map([[circular, circular]]),
        s: new Set([circular]),
        w: new WeakMap(),
        p: Promise.resolve(1),
        f: () => 1,
      },
    },
    {
      label: 'NaN, Infinity, -0, invalid Date',
      value: { n: Number.NaN, i: Number.POSITIVE_INFINITY, z: -0, d: new Date(Number.NaN) },
    },
    { label: 'null prototype', value: nullProto },
    { label: '__proto__ and constructor keys', value: protoKey },
    { label: 'sparse array of length 2^32−1', value: sparse },
    { label: '100k keys', value: wide },
    { label: '10k levels deep', value: deep },
    { label: 'array of 1M numbers', value: Array.from({ length: 1_000_000 }, (_, i) => i) },
  ];
}

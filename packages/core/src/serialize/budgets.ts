/**
 * The serialisation limits as budgets a plugin's mapping applies before it walks anything the app
 * handed over: lists are cut to `maxArrayLength` (and all the lists of one value together to what
 * `maxBytes` could hold) before they are mapped, records are read for at most `maxObjectKeys`
 * keys, strings are cut to `maxStringLength`, and records that are not plain objects (binary data,
 * arrays, maps, class instances) are converted once by the serialiser, never walked key by key.
 * The work of mapping one step is then bounded by the budgets, not by the app's data (a list that
 * says 2³²−1 items, a `Buffer` as metadata, 100k keys, a 16 MiB string).
 *
 * These run per step on the export path: the common case (short strings, plain objects, lists
 * within the budgets) allocates nothing beyond the result.
 */
import { safeStringify, toJsonSafe } from './index.js';
import { DEFAULT_SERIALIZE_LIMITS, isPositiveInteger, type SerializeLimits } from './state.js';

/** {@link SerializeLimits} resolved for a mapping (see {@link budgetsOf}). */
export interface Budgets {
  /** The limits as given, passed on to the serialiser. */
  readonly limits: Partial<SerializeLimits> | undefined;
  readonly maxString: number;
  readonly maxItems: number;
  readonly maxKeys: number;
  readonly maxBytes: number;
  /**
   * Items all the lists of one value may map together (see {@link ListBudget}): `maxItems`, or
   * what the serialiser could write within `maxBytes` if more (an item takes at least 8 of its
   * bytes), so that nested lists cannot multiply.
   */
  readonly maxListItems: number;
}

const positive = (n: unknown, fallback: number): number => (isPositiveInteger(n) ? n : fallback);

function makeBudgets(limits: Partial<SerializeLimits> | undefined): Budgets {
  const d = DEFAULT_SERIALIZE_LIMITS;
  const maxItems = positive(limits?.maxArrayLength, d.maxArrayLength);
  const maxBytes = positive(limits?.maxBytes, d.maxBytes);
  return Object.freeze({
    limits,
    maxString: positive(limits?.maxStringLength, d.maxStringLength),
    maxItems,
    maxKeys: positive(limits?.maxObjectKeys, d.maxObjectKeys),
    maxBytes,
    maxListItems: Math.max(maxItems, Math.floor(maxBytes / 8)),
  });
}

const DEFAULT_BUDGETS = makeBudgets(undefined);
// Plugins pass the same limits object for every step: resolved once.
const resolved = new WeakMap<object, Budgets>();

/**
 * The budgets of `limits` (the core's defaults where a limit is missing or not a positive
 * integer). Resolved once per limits object.
 */
export function budgetsOf(limits: Partial<SerializeLimits> | undefined): Budgets {
  if (limits === undefined || limits === null || typeof limits !== 'object') return DEFAULT_BUDGETS;
  let budgets = resolved.get(limits);
  if (budgets === undefined) {
    budgets = makeBudgets(limits);
    resolved.set(limits, budgets);
  }
  return budgets;
}

/**
 * A string within `maxString`: the same string when it fits, else cut with the serialiser's
 * `…[truncated N chars]` marker.
 */
export function cutText(value: string, b: Budgets): string {
  return value.length <= b.maxString ? value : safeStringify(value, b.limits).text;
}

/** Binary data: typed arrays, `DataView`, `ArrayBuffer`, `SharedArrayBuffer` (a `Buffer` too). */
export function isBinary(value: object): boolean {
  return (
    ArrayBuffer.isView(value) ||
    value instanceof ArrayBuffer ||
    (typeof SharedArrayBuffer === 'function' && value instanceof SharedArrayBuffer)
  );
}

/**
 * Text for a value that should have been a string, without running the app's `toString`: a
 * string cut to `maxString`, numbers, booleans and BigInts as text, `''` for null and undefined,
 * binary data as its marker (`[Buffer 1048576 bytes]`), anything else as JSON within the budgets.
 */
export function textOf(value: unknown, b: Budgets): string {
  switch (typeof value) {
    case 'string':
      return cutText(value, b);
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'undefined':
      return '';
    default: {
      if (value === null) return '';
      const safe = toJsonSafe(value, b.limits).value;
      return typeof safe === 'string' ? safe : JSON.stringify(safe);
    }
  }
}

/** A key-value source a mapping reads: its keys, and the record to read their values from. */
export interface RecordKeys {
  readonly record: Record<string, unknown>;
  readonly keys: readonly string[];
  /** Part of it was left out already: the serialiser cut it, or it had no keys to take. */
  readonly cut: boolean;
}

/**
 * The keys of a metadata-like record. A plain object (or a null-prototype one) is read as it is;
 * anything else (binary data, an array, a map, a class instance, a proxy whose prototype cannot
 * be read) is converted once by the serialiser, within the budgets, and only an object result has
 * keys. Undefined for what has no keys at all (a string, a number). Taking at most `maxKeys` of
 * them is the caller's. Throws when a proxy's `ownKeys` trap throws.
 */
export function keysOf(record: unknown, b: Budgets): RecordKeys | undefined {
  if (record === null || typeof record !== 'object') return undefined;
  let plain = false;
  try {
    const proto: unknown = Object.getPrototypeOf(record);
    plain = proto === Object.prototype || proto === null;
  } catch {
    // a Proxy `getPrototypeOf` trap threw: the serialiser reads what it can
  }
  if (plain) {
    const own = record as Record<string, unknown>;
    return { record: own, keys: Object.keys(own), cut: false };
  }
  const { value, truncated } = toJsonSafe(record, b.limits);
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return { record: {}, keys: [], cut: true };
  return { record: value, keys: Object.keys(value), cut: truncated };
}

/**
 * The lists of one value (messages, their parts and tool calls, tools, documents), cut before
 * they are read: each to `maxItems`, all of them together to `maxListItems`. `cut` says whether
 * anything was left out. One per value mapped; it reads no item past the budget, whatever a
 * list's `length` says.
 */
export class ListBudget {
  cut = false;
  private left: number;

  constructor(readonly budgets: Budgets) {
    this.left = budgets.maxListItems;
  }

  /**
   * How many items of a list of `length` to read: at most `max` (`maxItems` unless said) and
   * what is left of the budget, which they are taken from.
   */
  take(length: number, max = this.budgets.maxItems): number {
    const n = Math.max(0, Math.min(length, max, this.left));
    if (n < length) this.cut = true;
    this.left -= n;
    return n;
  }

  /** `fn` of the first {@link take} items of `list`. */
  map<U>(list: readonly unknown[], fn: (item: unknown, index: number) => U): U[] {
    const n = this.take(list.length);
    const out: U[] = [];
    for (let i = 0; i < n; i++) out.push(fn(list[i], i));
    return out;
  }
}

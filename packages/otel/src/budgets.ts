/**
 * The serialisation budgets (`limits`) as the span mapping applies them before anything is
 * serialised: lists are cut to `maxArrayLength` before they are mapped, a span takes at most
 * `maxObjectKeys` attributes from the app's records, strings are cut to `maxStringLength`, and
 * records that are not plain objects (binary data, arrays, maps, class instances) are never
 * walked key by key. The work is bounded by the budgets, not by what the app handed over.
 */
import type { AttributeValue } from '@opentelemetry/api';
import { DEFAULT_SERIALIZE_LIMITS, type SerializeLimits, safeStringify, toJsonSafe } from '@spanchain/core';

/** Attribute names for what the budgets left out (spanchain's own names, listed in the README). */
export const TRUNCATED_ATTRIBUTE = 'spanchain.truncated';
/** How many keys of the app's metadata and attributes the span did not take (the count limit). */
export const DROPPED_ATTRIBUTE = 'spanchain.attributes.dropped';

export interface Budgets {
  readonly limits: Partial<SerializeLimits> | undefined;
  readonly maxString: number;
  readonly maxItems: number;
  readonly maxKeys: number;
  readonly maxBytes: number;
}

const positive = (n: unknown, fallback: number): number =>
  typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : fallback;

const DEFAULTS: Budgets = Object.freeze({
  limits: undefined,
  maxString: DEFAULT_SERIALIZE_LIMITS.maxStringLength,
  maxItems: DEFAULT_SERIALIZE_LIMITS.maxArrayLength,
  maxKeys: DEFAULT_SERIALIZE_LIMITS.maxObjectKeys,
  maxBytes: DEFAULT_SERIALIZE_LIMITS.maxBytes,
});

// The plugin passes the same limits object for every span: resolved once.
const resolved = new WeakMap<object, Budgets>();

export function budgetsOf(limits: Partial<SerializeLimits> | undefined): Budgets {
  if (limits === undefined || limits === null || typeof limits !== 'object') return DEFAULTS;
  let budgets = resolved.get(limits);
  if (budgets === undefined) {
    budgets = Object.freeze({
      limits,
      maxString: positive(limits.maxStringLength, DEFAULTS.maxString),
      maxItems: positive(limits.maxArrayLength, DEFAULTS.maxItems),
      maxKeys: positive(limits.maxObjectKeys, DEFAULTS.maxKeys),
      maxBytes: positive(limits.maxBytes, DEFAULTS.maxBytes),
    });
    resolved.set(limits, budgets);
  }
  return budgets;
}

/** A string within `maxString` (cut with the serialiser's `…[truncated N chars]` marker). */
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

/** Text for a value that should have been a string, without running the app's `toString`. */
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
      // Binary data becomes its marker (`[Buffer 1048576 bytes]`), anything else JSON within the budgets.
      const safe = toJsonSafe(value, b.limits).value;
      return typeof safe === 'string' ? safe : JSON.stringify(safe);
    }
  }
}

/**
 * A flat array OTLP can carry (one primitive type, `null`/`undefined` items allowed, at most
 * `maxItems` items, strings cut to `maxString`, all its strings within `maxBytes`): the array
 * itself, or a copy with its long strings cut; undefined when it cannot be one (the caller
 * writes JSON within the budgets instead). Reads at most `maxItems` items, whatever `length` says.
 */
export function flatArray(
  value: readonly unknown[],
  b: Budgets,
  allowEmpty: boolean,
): AttributeValue | undefined {
  const length = value.length;
  if (length > b.maxItems || (length === 0 && !allowEmpty)) return undefined;
  let type: string | undefined;
  let copy: unknown[] | undefined;
  let bytes = 0;
  for (let i = 0; i < length; i++) {
    const item = value[i];
    if (item === null || item === undefined) continue;
    const t = typeof item;
    if (t !== 'string' && t !== 'number' && t !== 'boolean') return undefined;
    if (type === undefined) type = t;
    else if (t !== type) return undefined;
    if (t === 'string') {
      const text = item as string;
      bytes += text.length;
      if (bytes > b.maxBytes) return undefined;
      if (text.length > b.maxString) {
        copy ??= value.slice(0, length);
        copy[i] = cutText(text, b);
      }
    }
  }
  return (copy ?? value) as AttributeValue;
}

/**
 * An attribute value the app gave (its own `attributes`, metadata values) as OTLP can carry it
 * within the budgets: primitives as they are (strings cut), flat arrays (see {@link flatArray}),
 * anything else as JSON text within the budgets; undefined for null and undefined.
 */
export function fitAttribute(value: unknown, b: Budgets): AttributeValue | undefined {
  switch (typeof value) {
    case 'string':
      return cutText(value, b);
    case 'number':
    case 'boolean':
      return value;
    case 'undefined':
      return undefined;
    case 'object':
      if (value === null) return undefined;
      if (Array.isArray(value)) return flatArray(value, b, true) ?? safeStringify(value, b.limits).text;
      return safeStringify(value, b.limits).text;
    default:
      return safeStringify(value, b.limits).text;
  }
}

/** A key-value source the span takes attributes from: its keys and how to read a value. */
export interface RecordKeys {
  readonly record: Record<string, unknown>;
  readonly keys: readonly string[];
  /** Part of it was left out already: the serialiser cut it, or it had no keys to take. */
  readonly cut: boolean;
}

/**
 * The keys of a metadata-like record. A plain object (or a null-prototype one) is read as it is;
 * anything else — binary data, an array, a map, a class instance, a proxy whose prototype cannot
 * be read — is converted once by the serialiser (within the budgets, never key by key), and only
 * an object result has keys. Undefined for what has no keys at all (a string, a number).
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

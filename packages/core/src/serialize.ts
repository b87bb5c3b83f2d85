/**
 * JSON-safe conversion of whatever users hand to a step (inputs, outputs, tool arguments, results).
 *
 * Invariants:
 * - Never throws, and never calls user-defined `toJSON`, `toString`, `valueOf` or `Symbol.toPrimitive`.
 *   The only user code that can run is a getter or Proxy trap reached while reading own enumerable
 *   properties (and an error's `name`/`message`/`stack`/`code`/`cause`, a RegExp's `source`/`flags`,
 *   `Error.prepareStackTrace` when V8 formats a stack lazily); every such read is guarded.
 * - Builtin behaviour (dates, buffers, maps, …) is reached through methods captured at module load and
 *   invoked with `.call`, so a value cannot substitute its own implementation.
 * - Work is bounded by the limits, not by the input: strings are cut before being copied, containers
 *   stop at their count limit, at `maxDepth`, or as soon as the byte budget is spent. The one exception
 *   is `Object.keys` of a single object, which the engine always materialises in full.
 * - `truncated` is set only when a limit changed the output; type conversions, `[Circular]` and
 *   `[Thrown: …]` markers do not set it.
 */
import { types } from 'node:util';

export interface SerializeLimits {
  /** Longer strings keep this many characters, then a marker such as `…[truncated 12345 chars]`. */
  maxStringLength: number;
  /** Arrays, `Map` entries and `Set` values keep this many items, then one marker item `…[N more items]`. */
  maxArrayLength: number;
  /** Objects keep this many own enumerable keys, then a marker entry `"…": "[N more keys]"`. */
  maxObjectKeys: number;
  /** Containers nested deeper than this become the string `'[Object]'` or `'[Array]'`. */
  maxDepth: number;
  /**
   * Approximate output size budget: string and key lengths plus about 8 per primitive. Once spent, the
   * walk stops and each unfinished container ends with a single `'[truncated]'` marker.
   */
  maxBytes: number;
}

export const DEFAULT_SERIALIZE_LIMITS: Readonly<SerializeLimits> = Object.freeze({
  maxStringLength: 32_768,
  maxArrayLength: 1_000,
  maxObjectKeys: 1_000,
  maxDepth: 12,
  maxBytes: 262_144,
});

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface Serialized {
  value: JsonValue;
  /** True iff a limit cut, dropped or replaced part of the value. */
  truncated: boolean;
}

type JsonObject = { [key: string]: JsonValue };

const LIMIT_FIELDS = ['maxStringLength', 'maxArrayLength', 'maxObjectKeys', 'maxDepth', 'maxBytes'] as const;

const CIRCULAR = '[Circular]';
const TRUNCATED = '[truncated]';
const OBJECT_MARKER = '[Object]';
const ARRAY_MARKER = '[Array]';
const MORE_KEYS = '…';

/**
 * Resolves partial limits over {@link DEFAULT_SERIALIZE_LIMITS}. Meant for configuration time: it throws
 * a `TypeError` naming the field when a given limit is not a positive integer (use
 * `Number.MAX_SAFE_INTEGER` for "practically unlimited").
 *
 * @example
 * resolveLimits({ maxDepth: 4 }); // { maxStringLength: 32768, …, maxDepth: 4, maxBytes: 262144 }
 * resolveLimits({ maxDepth: 0 }); // throws TypeError: serialize limit "maxDepth" must be a positive integer, got 0
 */
export function resolveLimits(limits?: Partial<SerializeLimits>): SerializeLimits {
  const resolved: SerializeLimits = { ...DEFAULT_SERIALIZE_LIMITS };
  if (limits === undefined) return resolved;
  for (const field of LIMIT_FIELDS) {
    const value: unknown = limits[field];
    if (value === undefined) continue;
    if (!isPositiveInteger(value)) {
      const shown =
        typeof value === 'number' ? String(value) : typeof value === 'string' ? `'${value}'` : typeof value;
      throw new TypeError(`serialize limit "${field}" must be a positive integer, got ${shown}`);
    }
    resolved[field] = value;
  }
  return resolved;
}

/**
 * Converts anything to JSON-safe data within the limits. Never throws; invalid limits fall back to the
 * defaults here (validate them once with {@link resolveLimits} at configuration time).
 *
 * @example
 * toJsonSafe({ at: new Date(0), n: 10n, f() {} });
 * // { value: { at: '1970-01-01T00:00:00.000Z', n: '10', f: '[Function f]' }, truncated: false }
 */
export function toJsonSafe(value: unknown, limits?: Partial<SerializeLimits>): Serialized {
  try {
    const state = createState(limits);
    const result = walk(state, value, 0);
    return { value: result, truncated: state.truncated };
  } catch (error) {
    // Only reachable through engine failures such as a stack overflow with a huge `maxDepth`.
    return { value: `[Unserializable: ${thrownName(error)}]`, truncated: true };
  }
}

/**
 * JSON text of `toJsonSafe(value, limits).value`, except that a string `value` is returned as-is (cut to
 * `maxStringLength`, not quoted). Never throws.
 *
 * @example
 * safeStringify({ a: [1, NaN] }); // { text: '{"a":[1,"NaN"]}', truncated: false }
 * safeStringify('hello');          // { text: 'hello', truncated: false }
 */
export function safeStringify(
  value: unknown,
  limits?: Partial<SerializeLimits>,
): { text: string; truncated: boolean } {
  try {
    if (typeof value === 'string') {
      const state = createState(limits);
      const text = cutString(state, value);
      return { text, truncated: state.truncated };
    }
    const { value: safe, truncated } = toJsonSafe(value, limits);
    // `safe` is plain data built here: no cycles, no bigint, and any user `toJSON` became a string.
    return { text: JSON.stringify(safe), truncated };
  } catch (error) {
    return { text: JSON.stringify(`[Unserializable: ${thrownName(error)}]`), truncated: true };
  }
}

// ---------------------------------------------------------------------------------------------
// Walk state

interface WalkState {
  readonly maxStringLength: number;
  readonly maxArrayLength: number;
  readonly maxObjectKeys: number;
  readonly maxDepth: number;
  readonly maxBytes: number;
  /** Approximate output size so far; compared with `maxBytes` before each child is started. */
  bytes: number;
  truncated: boolean;
  /** Containers on the current path only, so shared non-circular values are written each time. */
  readonly path: object[];
  /** The error caught by the last `readProp` that returned `THROWN`. */
  thrown: unknown;
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

function createState(limits: Partial<SerializeLimits> | undefined): WalkState {
  const d = DEFAULT_SERIALIZE_LIMITS;
  const l = limits ?? d;
  return {
    maxStringLength: isPositiveInteger(l.maxStringLength) ? l.maxStringLength : d.maxStringLength,
    maxArrayLength: isPositiveInteger(l.maxArrayLength) ? l.maxArrayLength : d.maxArrayLength,
    maxObjectKeys: isPositiveInteger(l.maxObjectKeys) ? l.maxObjectKeys : d.maxObjectKeys,
    maxDepth: isPositiveInteger(l.maxDepth) ? l.maxDepth : d.maxDepth,
    maxBytes: isPositiveInteger(l.maxBytes) ? l.maxBytes : d.maxBytes,
    bytes: 0,
    truncated: false,
    path: [],
    thrown: undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Builtins captured at load, so later patches of prototypes or user-defined overrides are never used

type Method = (this: unknown, ...args: unknown[]) => unknown;

const ObjectProto: object = Object.prototype;
const getProto = Object.getPrototypeOf as (o: object) => object | null;
const getOwnDescriptor = Object.getOwnPropertyDescriptor;
const defineProperty = Object.defineProperty;
const objectKeys = Object.keys;
const isArray = Array.isArray;

function unavailable(): never {
  throw new TypeError('builtin unavailable');
}

function builtinGetter(proto: object | undefined, key: PropertyKey): Method {
  const get = proto === undefined ? undefined : getOwnDescriptor(proto, key)?.get;
  return (get as Method | undefined) ?? unavailable;
}

const TypedArrayProto: object = getProto(Uint8Array.prototype) ?? Uint8Array.prototype;
const SharedArrayBufferProto: object | undefined =
  typeof SharedArrayBuffer === 'function' ? SharedArrayBuffer.prototype : undefined;
const URLProto: object | undefined = typeof URL === 'function' ? URL.prototype : undefined;

const dateGetTime = Date.prototype.getTime as Method;
const dateToISOString = Date.prototype.toISOString as Method;
const regExpToString = RegExp.prototype.toString as Method;
const mapEntries = Map.prototype.entries as Method;
const mapSize = builtinGetter(Map.prototype, 'size');
const setValues = Set.prototype.values as Method;
const setSize = builtinGetter(Set.prototype, 'size');
const typedArrayByteLength = builtinGetter(TypedArrayProto, 'byteLength');
const typedArrayTag = builtinGetter(TypedArrayProto, Symbol.toStringTag);
const dataViewByteLength = builtinGetter(DataView.prototype, 'byteLength');
const arrayBufferByteLength = builtinGetter(ArrayBuffer.prototype, 'byteLength');
const sharedArrayBufferByteLength = builtinGetter(SharedArrayBufferProto, 'byteLength');
const stringValueOf = String.prototype.valueOf as Method;
const numberValueOf = Number.prototype.valueOf as Method;
const booleanValueOf = Boolean.prototype.valueOf as Method;
const bigIntValueOf = BigInt.prototype.valueOf as Method;
const symbolValueOf = Symbol.prototype.valueOf as Method;
const urlHref = builtinGetter(URLProto, 'href');

const K_OBJECT = 0;
const K_FOREIGN = 1;
const K_ERROR = 2;
const K_DATE = 3;
const K_REGEXP = 4;
const K_MAP = 5;
const K_SET = 6;
const K_TYPED_ARRAY = 7;
const K_DATA_VIEW = 8;
const K_ARRAY_BUFFER = 9;
const K_SHARED_ARRAY_BUFFER = 10;
const K_STRING = 11;
const K_NUMBER = 12;
const K_BOOLEAN = 13;
const K_BIGINT = 14;
const K_SYMBOL = 15;
const K_URL = 16;
const K_PROMISE = 17;
const K_WEAK_MAP = 18;
const K_WEAK_SET = 19;
const K_WEAK_REF = 20;
const K_FINALIZATION_REGISTRY = 21;
/** The prototype is itself a root (another realm's `Object.prototype`): a plain object, left untyped. */
const K_ROOT = 22;

/** Builtin prototypes of this realm; a prototype-chain walk that meets one knows the value's kind. */
const KIND_BY_PROTO = new Map<object, number>([
  [Error.prototype, K_ERROR],
  [TypeError.prototype, K_ERROR],
  [RangeError.prototype, K_ERROR],
  [SyntaxError.prototype, K_ERROR],
  [ReferenceError.prototype, K_ERROR],
  [EvalError.prototype, K_ERROR],
  [URIError.prototype, K_ERROR],
  [AggregateError.prototype, K_ERROR],
  [Date.prototype, K_DATE],
  [RegExp.prototype, K_REGEXP],
  [Map.prototype, K_MAP],
  [Set.prototype, K_SET],
  [TypedArrayProto, K_TYPED_ARRAY],
  [Int8Array.prototype, K_TYPED_ARRAY],
  [Uint8Array.prototype, K_TYPED_ARRAY],
  [Uint8ClampedArray.prototype, K_TYPED_ARRAY],
  [Int16Array.prototype, K_TYPED_ARRAY],
  [Uint16Array.prototype, K_TYPED_ARRAY],
  [Int32Array.prototype, K_TYPED_ARRAY],
  [Uint32Array.prototype, K_TYPED_ARRAY],
  [Float32Array.prototype, K_TYPED_ARRAY],
  [Float64Array.prototype, K_TYPED_ARRAY],
  [BigInt64Array.prototype, K_TYPED_ARRAY],
  [BigUint64Array.prototype, K_TYPED_ARRAY],
  [DataView.prototype, K_DATA_VIEW],
  [ArrayBuffer.prototype, K_ARRAY_BUFFER],
  [String.prototype, K_STRING],
  [Number.prototype, K_NUMBER],
  [Boolean.prototype, K_BOOLEAN],
  [BigInt.prototype, K_BIGINT],
  [Symbol.prototype, K_SYMBOL],
  [Promise.prototype, K_PROMISE],
  [WeakMap.prototype, K_WEAK_MAP],
  [WeakSet.prototype, K_WEAK_SET],
  [WeakRef.prototype, K_WEAK_REF],
  [FinalizationRegistry.prototype, K_FINALIZATION_REGISTRY],
]);
if (SharedArrayBufferProto !== undefined) KIND_BY_PROTO.set(SharedArrayBufferProto, K_SHARED_ARRAY_BUFFER);
if (URLProto !== undefined) KIND_BY_PROTO.set(URLProto, K_URL);

/**
 * Kind from the prototype chain: cheap for the common cases, and it never reads the value itself.
 * Chains that end without meeting this realm's `Object.prototype` (other realms: `vm`, iframes) are
 * `K_ROOT` when the prototype is itself a root, else `K_FOREIGN` and brand-checked instead.
 */
function kindOfProto(proto: object): number {
  let p: object | null = proto;
  // Bounded so a Proxy that invents an endless prototype chain cannot hang the walk.
  for (let i = 0; i < 64 && p !== null; i++) {
    if (p === ObjectProto) return K_OBJECT;
    const kind = KIND_BY_PROTO.get(p);
    if (kind !== undefined) return kind;
    p = getProto(p);
    if (p === null) return i === 0 ? K_ROOT : K_FOREIGN;
  }
  return K_OBJECT;
}

/** Internal-slot checks; slower than `kindOfProto`, so only used for foreign-realm values. */
function kindOfBrand(o: object): number {
  if (types.isNativeError(o)) return K_ERROR;
  if (types.isDate(o)) return K_DATE;
  if (types.isRegExp(o)) return K_REGEXP;
  if (types.isMap(o)) return K_MAP;
  if (types.isSet(o)) return K_SET;
  if (types.isTypedArray(o)) return K_TYPED_ARRAY;
  if (types.isDataView(o)) return K_DATA_VIEW;
  if (types.isArrayBuffer(o)) return K_ARRAY_BUFFER;
  if (types.isSharedArrayBuffer(o)) return K_SHARED_ARRAY_BUFFER;
  if (types.isPromise(o)) return K_PROMISE;
  if (types.isWeakMap(o)) return K_WEAK_MAP;
  if (types.isWeakSet(o)) return K_WEAK_SET;
  if (types.isBoxedPrimitive(o)) {
    if (types.isStringObject(o)) return K_STRING;
    if (types.isNumberObject(o)) return K_NUMBER;
    if (types.isBooleanObject(o)) return K_BOOLEAN;
    if (types.isBigIntObject(o)) return K_BIGINT;
    if (types.isSymbolObject(o)) return K_SYMBOL;
  }
  return K_OBJECT;
}

// ---------------------------------------------------------------------------------------------
// Walker

function walk(s: WalkState, v: unknown, depth: number): JsonValue {
  switch (typeof v) {
    case 'string':
      return cutString(s, v);
    case 'number':
      return walkNumber(s, v);
    case 'boolean':
      s.bytes += 8;
      return v;
    case 'undefined':
      s.bytes += 8;
      return null;
    case 'object':
      if (v === null) {
        s.bytes += 8;
        return null;
      }
      return walkObjectValue(s, v, depth);
    case 'bigint':
      // String() of a bigint primitive is the engine's conversion; no prototype method is looked up.
      return cutString(s, String(v));
    case 'symbol':
      return cutString(s, symbolLabel(v));
    case 'function':
      return cutString(s, functionLabel(v));
  }
  return null;
}

function walkNumber(s: WalkState, n: number): JsonValue {
  s.bytes += 8;
  // String() of a non-finite number is exactly 'NaN', 'Infinity' or '-Infinity'.
  return Number.isFinite(n) ? n : String(n);
}

/** Cuts at `maxStringLength` without splitting a surrogate pair; the kept part is at most that long. */
function cutString(s: WalkState, v: string): string {
  const max = s.maxStringLength;
  if (v.length <= max) {
    s.bytes += v.length + 2;
    return v;
  }
  let end = max;
  const last = v.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  const out = v.slice(0, end) + '…[truncated ' + (v.length - end) + ' chars]';
  // The slice shares memory with the (possibly huge) input; flattening the result copies the kept part
  // so a buffered trace does not keep the whole input alive.
  out.charCodeAt(0);
  s.truncated = true;
  s.bytes += out.length + 2;
  return out;
}

function limitMarker(s: WalkState, marker: string): string {
  s.truncated = true;
  s.bytes += marker.length + 2;
  return marker;
}

function symbolLabel(sym: symbol): string {
  return 'Symbol(' + (sym.description ?? '') + ')';
}

function functionLabel(fn: Function): string {
  let name = '';
  try {
    // The own data descriptor avoids running a `static get name()` or a Proxy `get` trap.
    const d = getOwnDescriptor(fn, 'name');
    if (d !== undefined && typeof d.value === 'string') name = d.value;
  } catch {
    // A Proxy `getOwnPropertyDescriptor` trap threw; the function stays anonymous.
  }
  return '[Function ' + (name === '' ? 'anonymous' : name) + ']';
}

/** The constructor name of `proto`, read from data descriptors only; undefined when unknown. */
function constructorName(proto: object | null | undefined): string | undefined {
  if (proto === null || proto === undefined) return undefined;
  try {
    const ctor = getOwnDescriptor(proto, 'constructor');
    if (ctor === undefined || typeof ctor.value !== 'function') return undefined;
    const name = getOwnDescriptor(ctor.value, 'name');
    return name !== undefined && typeof name.value === 'string' && name.value !== '' ? name.value : undefined;
  } catch {
    return undefined;
  }
}

/** Name of a thrown value without running its code: own data `name`, else its constructor name. */
function thrownName(error: unknown): string {
  if ((typeof error !== 'object' || error === null) && typeof error !== 'function') return typeof error;
  let name: string | undefined;
  try {
    const own = getOwnDescriptor(error, 'name');
    if (own !== undefined && typeof own.value === 'string' && own.value !== '') name = own.value;
    else name = constructorName(getProto(error));
  } catch {
    name = undefined;
  }
  if (name === undefined) return 'unknown';
  return name.length > 200 ? name.slice(0, 200) : name;
}

function thrownLabel(s: WalkState, error: unknown): string {
  const label = '[Thrown: ' + thrownName(error) + ']';
  s.bytes += label.length + 2;
  return label;
}

const THROWN = Symbol('thrown');

/** One guarded property read: a throwing getter or Proxy trap yields `THROWN` and sets `s.thrown`. */
function readProp(s: WalkState, o: object, key: string): unknown {
  try {
    return (o as Record<string, unknown>)[key];
  } catch (error) {
    s.thrown = error;
    return THROWN;
  }
}

/** `__proto__` is defined, not assigned, so it stays data instead of replacing the prototype. */
function setProp(out: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__')
    defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

function walkObjectValue(s: WalkState, o: object, depth: number): JsonValue {
  const path = s.path;
  for (let i = path.length - 1; i >= 0; i--) {
    if (path[i] === o) {
      s.bytes += CIRCULAR.length + 2;
      return CIRCULAR;
    }
  }
  let proto: object | null | undefined;
  try {
    proto = getProto(o);
  } catch {
    proto = undefined; // a Proxy `getPrototypeOf` trap threw: treat as an untyped object
  }
  if (proto === ObjectProto || proto === null) return walkObject(s, o, depth, undefined);
  let array: boolean;
  try {
    array = isArray(o);
  } catch (error) {
    return thrownLabel(s, error); // revoked Proxy
  }
  if (array) return walkArray(s, o as readonly unknown[], depth);
  if (proto === undefined) return walkObject(s, o, depth, undefined);

  let kind: number;
  try {
    kind = kindOfProto(proto);
  } catch {
    kind = K_OBJECT;
  }
  if (kind === K_ROOT) return walkObject(s, o, depth, undefined);
  if (kind === K_FOREIGN) kind = kindOfBrand(o);
  if (kind === K_ERROR) return walkError(s, o, proto, depth);
  if (kind === K_MAP || kind === K_SET) {
    const collection = walkCollection(s, o, kind, depth);
    if (collection !== undefined) return collection;
  } else if (kind !== K_OBJECT) {
    const special = walkBuiltin(s, o, proto, kind);
    if (special !== undefined) return special;
  }
  return walkObject(s, o, depth, constructorName(proto));
}

/**
 * Builtin kinds via captured builtins. Returns undefined when the value only pretends to be one
 * (`Object.create(Date.prototype)`, a Proxy around a Map): the builtin rejects it and the caller falls
 * back to the plain-object form.
 */
function walkBuiltin(s: WalkState, o: object, proto: object, kind: number): JsonValue | undefined {
  try {
    switch (kind) {
      case K_DATE: {
        const time = dateGetTime.call(o) as number;
        return cutString(s, Number.isNaN(time) ? 'Invalid Date' : (dateToISOString.call(o) as string));
      }
      case K_REGEXP:
        return cutString(s, regExpToString.call(o) as string);
      case K_TYPED_ARRAY: {
        const bytes = typedArrayByteLength.call(o) as number;
        const name = constructorName(proto) ?? (typedArrayTag.call(o) as string | undefined) ?? 'TypedArray';
        return bytesLabel(s, name, bytes);
      }
      case K_DATA_VIEW:
        return bytesLabel(s, constructorName(proto) ?? 'DataView', dataViewByteLength.call(o) as number);
      case K_ARRAY_BUFFER:
        return bytesLabel(
          s,
          constructorName(proto) ?? 'ArrayBuffer',
          arrayBufferByteLength.call(o) as number,
        );
      case K_SHARED_ARRAY_BUFFER:
        return bytesLabel(
          s,
          constructorName(proto) ?? 'SharedArrayBuffer',
          sharedArrayBufferByteLength.call(o) as number,
        );
      case K_STRING:
        return cutString(s, stringValueOf.call(o) as string);
      case K_NUMBER:
        return walkNumber(s, numberValueOf.call(o) as number);
      case K_BOOLEAN:
        s.bytes += 8;
        return booleanValueOf.call(o) as boolean;
      case K_BIGINT:
        return cutString(s, String(bigIntValueOf.call(o) as bigint));
      case K_SYMBOL:
        return cutString(s, symbolLabel(symbolValueOf.call(o) as symbol));
      case K_URL:
        return cutString(s, urlHref.call(o) as string);
      case K_PROMISE:
        return cutString(s, '[Promise]');
      case K_WEAK_MAP:
        return cutString(s, '[WeakMap]');
      case K_WEAK_SET:
        return cutString(s, '[WeakSet]');
      case K_WEAK_REF:
        return cutString(s, '[WeakRef]');
      case K_FINALIZATION_REGISTRY:
        return cutString(s, '[FinalizationRegistry]');
    }
  } catch {
    // Not a genuine instance of the builtin.
  }
  return undefined;
}

function bytesLabel(s: WalkState, name: string, bytes: number): string {
  return cutString(s, '[' + name + ' ' + bytes + ' bytes]');
}

function walkArray(s: WalkState, a: readonly unknown[], depth: number): JsonValue {
  if (depth >= s.maxDepth) return limitMarker(s, ARRAY_MARKER);
  const length = readProp(s, a, 'length');
  if (length === THROWN) return thrownLabel(s, s.thrown);
  // A Proxy can report any `length`; anything but a non-negative number reads as empty.
  const total = typeof length === 'number' && length > 0 ? length : 0;
  const n = Math.min(total, s.maxArrayLength);
  const out: JsonValue[] = [];
  s.bytes += 2;
  s.path.push(a);
  let i = 0;
  for (; i < n; i++) {
    if (s.bytes > s.maxBytes) break;
    let v: unknown;
    try {
      v = a[i];
    } catch (error) {
      out.push(thrownLabel(s, error));
      continue;
    }
    out.push(walk(s, v, depth + 1));
  }
  s.path.pop();
  if (i < total) {
    s.truncated = true;
    out.push(i < n ? TRUNCATED : '…[' + (total - n) + ' more items]');
  }
  return out;
}

function walkObject(s: WalkState, o: object, depth: number, typeName: string | undefined): JsonValue {
  if (depth >= s.maxDepth) return limitMarker(s, OBJECT_MARKER);
  let keys: string[];
  try {
    keys = objectKeys(o);
  } catch (error) {
    return thrownLabel(s, error); // a Proxy `ownKeys` or `getOwnPropertyDescriptor` trap threw
  }
  const out: JsonObject = {};
  s.bytes += 2;
  if (typeName !== undefined) {
    s.bytes += 9;
    out['@type'] = cutString(s, typeName);
  }
  s.path.push(o);
  writeProps(s, o, keys, out, depth, false);
  s.path.pop();
  return out;
}

function isErrorField(key: string): boolean {
  return key === 'name' || key === 'message' || key === 'stack' || key === 'code' || key === 'cause';
}

/** Own enumerable properties of `o` into `out`, within the key limit and the byte budget. */
function writeProps(
  s: WalkState,
  o: object,
  keys: readonly string[],
  out: JsonObject,
  depth: number,
  skipErrorFields: boolean,
): void {
  const total = keys.length;
  const n = Math.min(total, s.maxObjectKeys);
  const src = o as Record<string, unknown>;
  let i = 0;
  for (; i < n; i++) {
    if (s.bytes > s.maxBytes) break;
    const rawKey = keys[i]!;
    if (skipErrorFields && isErrorField(rawKey)) continue;
    let v: unknown;
    try {
      v = src[rawKey];
    } catch (error) {
      setProp(out, cutKey(s, rawKey), thrownLabel(s, error));
      continue;
    }
    if (v === undefined) continue;
    setProp(out, cutKey(s, rawKey), walk(s, v, depth + 1));
  }
  if (i < total) {
    s.truncated = true;
    setProp(out, MORE_KEYS, i < n ? TRUNCATED : '[' + (total - n) + ' more keys]');
  }
}

function cutKey(s: WalkState, key: string): string {
  if (key.length <= s.maxStringLength) {
    s.bytes += key.length + 3;
    return key;
  }
  return cutString(s, key);
}

function walkError(s: WalkState, e: object, proto: object, depth: number): JsonValue {
  if (depth >= s.maxDepth) return limitMarker(s, OBJECT_MARKER);
  const out: JsonObject = {};
  s.bytes += 2;
  s.path.push(e);

  const name = readProp(s, e, 'name');
  s.bytes += 7;
  out.name =
    typeof name === 'string'
      ? cutString(s, name)
      : name === THROWN
        ? thrownLabel(s, s.thrown)
        : cutString(s, constructorName(proto) ?? 'Error');

  const message = readProp(s, e, 'message');
  s.bytes += 10;
  out.message =
    typeof message === 'string'
      ? cutString(s, message)
      : message === THROWN
        ? thrownLabel(s, s.thrown)
        : message === undefined
          ? ''
          : walk(s, message, depth + 1);

  const stack = readProp(s, e, 'stack');
  if (typeof stack === 'string') {
    s.bytes += 8;
    out.stack = cutString(s, stack);
  }

  const code = readProp(s, e, 'code');
  if (typeof code === 'string' || typeof code === 'number') {
    s.bytes += 7;
    out.code = walk(s, code, depth + 1);
  }

  const cause = readProp(s, e, 'cause');
  if (cause !== undefined) {
    s.bytes += 8;
    if (cause === THROWN) out.cause = thrownLabel(s, s.thrown);
    else if (s.bytes > s.maxBytes) out.cause = limitMarker(s, TRUNCATED);
    else out.cause = walk(s, cause, depth + 1);
  }

  // AggregateError keeps its members in a non-enumerable own `errors`, which the key walk below skips.
  let errors: PropertyDescriptor | undefined;
  try {
    errors = getOwnDescriptor(e, 'errors');
  } catch {
    errors = undefined;
  }
  if (errors !== undefined && errors.enumerable !== true && isArray(errors.value)) {
    s.bytes += 9;
    out.errors = s.bytes > s.maxBytes ? limitMarker(s, TRUNCATED) : walk(s, errors.value, depth + 1);
  }

  let keys: string[];
  try {
    keys = objectKeys(e);
  } catch {
    keys = [];
  }
  writeProps(s, e, keys, out, depth, true);
  s.path.pop();
  return out;
}

/**
 * `{ "@type": "Map", entries: [[k, v], …] }` or `{ "@type": "Set", values: […] }`; keys and values sit
 * one level below the collection. Undefined when `c` is not a genuine Map or Set.
 */
function walkCollection(s: WalkState, c: object, kind: number, depth: number): JsonValue | undefined {
  const isMap = kind === K_MAP;
  let size: number;
  let iterator: Iterator<unknown>;
  try {
    // Both builtins throw for anything without the Map/Set internal slots (Proxies, forged prototypes).
    size = (isMap ? mapSize : setSize).call(c) as number;
    iterator = (isMap ? mapEntries : setValues).call(c) as Iterator<unknown>;
  } catch {
    return undefined;
  }
  if (depth >= s.maxDepth) return limitMarker(s, OBJECT_MARKER);
  const items: JsonValue[] = [];
  s.bytes += 30;
  s.path.push(c);
  const n = Math.min(size, s.maxArrayLength);
  let outOfBudget = false;
  for (let i = 0; i < n; i++) {
    if (s.bytes > s.maxBytes) {
      outOfBudget = true;
      break;
    }
    const step = iterator.next();
    if (step.done === true) break;
    if (isMap) {
      const entry = step.value as [unknown, unknown];
      s.bytes += 2;
      items.push([walk(s, entry[0], depth + 1), walk(s, entry[1], depth + 1)]);
    } else {
      items.push(walk(s, step.value, depth + 1));
    }
  }
  s.path.pop();
  if (outOfBudget) {
    s.truncated = true;
    items.push(TRUNCATED);
  } else if (size > n) {
    s.truncated = true;
    items.push('…[' + (size - n) + ' more items]');
  }
  return isMap ? { '@type': 'Map', entries: items } : { '@type': 'Set', values: items };
}

/** The walker: primitives, plain objects and arrays, property reads guarded against throwing getters. */
import {
  defineProperty,
  getOwnDescriptor,
  getProto,
  isArray,
  K_ERROR,
  K_FOREIGN,
  K_MAP,
  K_OBJECT,
  K_ROOT,
  K_SET,
  kindOfBrand,
  kindOfProto,
  ObjectProto,
  objectKeys,
} from './builtins.js';
import {
  ARRAY_MARKER,
  CIRCULAR,
  type JsonObject,
  type JsonValue,
  MORE_KEYS,
  OBJECT_MARKER,
  TRUNCATED,
  type WalkState,
} from './state.js';
import { walkBuiltin, walkCollection, walkError } from './walk-builtins.js';

export function walk(s: WalkState, v: unknown, depth: number): JsonValue {
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

export function walkNumber(s: WalkState, n: number): JsonValue {
  s.bytes += 8;
  // String() of a non-finite number is exactly 'NaN', 'Infinity' or '-Infinity'.
  return Number.isFinite(n) ? n : String(n);
}

/** Cuts at `maxStringLength` without splitting a surrogate pair; the kept part is at most that long. */
export function cutString(s: WalkState, v: string): string {
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

export function limitMarker(s: WalkState, marker: string): string {
  s.truncated = true;
  s.bytes += marker.length + 2;
  return marker;
}

export function symbolLabel(sym: symbol): string {
  return 'Symbol(' + (sym.description ?? '') + ')';
}

export function functionLabel(fn: Function): string {
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
export function constructorName(proto: object | null | undefined): string | undefined {
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
export function thrownName(error: unknown): string {
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

export function thrownLabel(s: WalkState, error: unknown): string {
  const label = '[Thrown: ' + thrownName(error) + ']';
  s.bytes += label.length + 2;
  return label;
}

export const THROWN = Symbol('thrown');

/** One guarded property read: a throwing getter or Proxy trap yields `THROWN` and sets `s.thrown`. */
export function readProp(s: WalkState, o: object, key: string): unknown {
  try {
    return (o as Record<string, unknown>)[key];
  } catch (error) {
    s.thrown = error;
    return THROWN;
  }
}

/** `__proto__` is defined, not assigned, so it stays data instead of replacing the prototype. */
export function setProp(out: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__')
    defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

export function walkObjectValue(s: WalkState, o: object, depth: number): JsonValue {
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

export function walkArray(s: WalkState, a: readonly unknown[], depth: number): JsonValue {
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

export function walkObject(s: WalkState, o: object, depth: number, typeName: string | undefined): JsonValue {
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

export function isErrorField(key: string): boolean {
  return key === 'name' || key === 'message' || key === 'stack' || key === 'code' || key === 'cause';
}

/** Own enumerable properties of `o` into `out`, within the key limit and the byte budget. */
export function writeProps(
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

export function cutKey(s: WalkState, key: string): string {
  if (key.length <= s.maxStringLength) {
    s.bytes += key.length + 3;
    return key;
  }
  return cutString(s, key);
}

/**
 * Builtins captured at load and the classification of objects by prototype or brand, so a value can
 * never substitute its own implementation of a builtin behaviour.
 */
import { types } from 'node:util';

export type Method = (this: unknown, ...args: unknown[]) => unknown;

export const ObjectProto: object = Object.prototype;
export const getProto = Object.getPrototypeOf as (o: object) => object | null;
export const getOwnDescriptor = Object.getOwnPropertyDescriptor;
export const defineProperty = Object.defineProperty;
export const objectKeys = Object.keys;
export const isArray = Array.isArray;

export function unavailable(): never {
  throw new TypeError('builtin unavailable');
}

export function builtinGetter(proto: object | undefined, key: PropertyKey): Method {
  const get = proto === undefined ? undefined : getOwnDescriptor(proto, key)?.get;
  return (get as Method | undefined) ?? unavailable;
}

export const TypedArrayProto: object = getProto(Uint8Array.prototype) ?? Uint8Array.prototype;
export const SharedArrayBufferProto: object | undefined =
  typeof SharedArrayBuffer === 'function' ? SharedArrayBuffer.prototype : undefined;
export const URLProto: object | undefined = typeof URL === 'function' ? URL.prototype : undefined;

export const dateGetTime = Date.prototype.getTime as Method;
export const dateToISOString = Date.prototype.toISOString as Method;
export const regExpToString = RegExp.prototype.toString as Method;
export const mapEntries = Map.prototype.entries as Method;
export const mapSize = builtinGetter(Map.prototype, 'size');
export const setValues = Set.prototype.values as Method;
export const setSize = builtinGetter(Set.prototype, 'size');
export const typedArrayByteLength = builtinGetter(TypedArrayProto, 'byteLength');
export const typedArrayTag = builtinGetter(TypedArrayProto, Symbol.toStringTag);
export const dataViewByteLength = builtinGetter(DataView.prototype, 'byteLength');
export const arrayBufferByteLength = builtinGetter(ArrayBuffer.prototype, 'byteLength');
export const sharedArrayBufferByteLength = builtinGetter(SharedArrayBufferProto, 'byteLength');
export const stringValueOf = String.prototype.valueOf as Method;
export const numberValueOf = Number.prototype.valueOf as Method;
export const booleanValueOf = Boolean.prototype.valueOf as Method;
export const bigIntValueOf = BigInt.prototype.valueOf as Method;
export const symbolValueOf = Symbol.prototype.valueOf as Method;
export const urlHref = builtinGetter(URLProto, 'href');

export const K_OBJECT = 0;
export const K_FOREIGN = 1;
export const K_ERROR = 2;
export const K_DATE = 3;
export const K_REGEXP = 4;
export const K_MAP = 5;
export const K_SET = 6;
export const K_TYPED_ARRAY = 7;
export const K_DATA_VIEW = 8;
export const K_ARRAY_BUFFER = 9;
export const K_SHARED_ARRAY_BUFFER = 10;
export const K_STRING = 11;
export const K_NUMBER = 12;
export const K_BOOLEAN = 13;
export const K_BIGINT = 14;
export const K_SYMBOL = 15;
export const K_URL = 16;
export const K_PROMISE = 17;
export const K_WEAK_MAP = 18;
export const K_WEAK_SET = 19;
export const K_WEAK_REF = 20;
export const K_FINALIZATION_REGISTRY = 21;
/** The prototype is itself a root (another realm's `Object.prototype`): a plain object, left untyped. */
export const K_ROOT = 22;

/** Builtin prototypes of this realm; a prototype-chain walk that meets one knows the value's kind. */
export const KIND_BY_PROTO = new Map<object, number>([
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
export function kindOfProto(proto: object): number {
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
export function kindOfBrand(o: object): number {
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

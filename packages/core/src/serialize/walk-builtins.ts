/** The walker for builtins: dates, buffers, typed arrays, errors, maps and sets. */
import {
  arrayBufferByteLength,
  bigIntValueOf,
  booleanValueOf,
  dataViewByteLength,
  dateGetTime,
  dateToISOString,
  getOwnDescriptor,
  isArray,
  K_ARRAY_BUFFER,
  K_BIGINT,
  K_BOOLEAN,
  K_DATA_VIEW,
  K_DATE,
  K_FINALIZATION_REGISTRY,
  K_MAP,
  K_NUMBER,
  K_PROMISE,
  K_REGEXP,
  K_SHARED_ARRAY_BUFFER,
  K_STRING,
  K_SYMBOL,
  K_TYPED_ARRAY,
  K_URL,
  K_WEAK_MAP,
  K_WEAK_REF,
  K_WEAK_SET,
  mapEntries,
  mapSize,
  numberValueOf,
  objectKeys,
  regExpToString,
  setSize,
  setValues,
  sharedArrayBufferByteLength,
  stringValueOf,
  symbolValueOf,
  typedArrayByteLength,
  typedArrayTag,
  urlHref,
} from './builtins.js';
import { type JsonObject, type JsonValue, OBJECT_MARKER, TRUNCATED, type WalkState } from './state.js';
import {
  constructorName,
  cutString,
  limitMarker,
  readProp,
  symbolLabel,
  THROWN,
  thrownLabel,
  walk,
  walkNumber,
  writeProps,
} from './walk.js';

export function walkBuiltin(s: WalkState, o: object, proto: object, kind: number): JsonValue | undefined {
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

export function bytesLabel(s: WalkState, name: string, bytes: number): string {
  return cutString(s, '[' + name + ' ' + bytes + ' bytes]');
}

export function walkError(s: WalkState, e: object, proto: object, depth: number): JsonValue {
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
export function walkCollection(s: WalkState, c: object, kind: number, depth: number): JsonValue | undefined {
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

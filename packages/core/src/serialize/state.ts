/** Limits, output types and the state of one walk. */

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

export type JsonObject = { [key: string]: JsonValue };

export const LIMIT_FIELDS = [
  'maxStringLength',
  'maxArrayLength',
  'maxObjectKeys',
  'maxDepth',
  'maxBytes',
] as const;

export const CIRCULAR = '[Circular]';
export const TRUNCATED = '[truncated]';
export const OBJECT_MARKER = '[Object]';
export const ARRAY_MARKER = '[Array]';
export const MORE_KEYS = '…';

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

// ---------------------------------------------------------------------------------------------
// Walk state

export interface WalkState {
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

export function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

export function createState(limits: Partial<SerializeLimits> | undefined): WalkState {
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

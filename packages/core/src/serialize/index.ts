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
import { createState, type Serialized, type SerializeLimits } from './state.js';
import { cutString, thrownName, walk } from './walk.js';

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

export {
  DEFAULT_SERIALIZE_LIMITS,
  type JsonValue,
  resolveLimits,
  type Serialized,
  type SerializeLimits,
} from './state.js';

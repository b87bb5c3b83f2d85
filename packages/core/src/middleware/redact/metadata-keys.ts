/**
 * Masking of metadata values by key, in `metadata`, `trace.metadata` and `attributes`. Only the
 * containers on the path to a masked key are copied.
 */
import { REDACTED } from './options.js';

export interface KeyMatcher {
  /** Lower-cased names and dotted paths. */
  readonly names: ReadonlySet<string>;
  readonly patterns: readonly RegExp[];
}

/** Undefined when the list names no key. */
export function compileKeyMatcher(keys: readonly (string | RegExp)[] | undefined): KeyMatcher | undefined {
  const list = Array.isArray(keys) ? keys : [];
  const names = new Set(list.filter((k): k is string => typeof k === 'string').map((k) => k.toLowerCase()));
  const patterns = list
    .filter((k): k is RegExp => k instanceof RegExp)
    // Without `g`/`y`, `test()` keeps no state between calls.
    .map((k) => new RegExp(k.source, k.flags.replace(/[gy]/g, '')));
  return names.size > 0 || patterns.length > 0 ? { names, patterns } : undefined;
}

const MAX_KEY_DEPTH = 2;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function keyMatches(m: KeyMatcher, key: string, relative: string): boolean {
  if (m.names.has(key.toLowerCase()) || (relative !== key && m.names.has(relative.toLowerCase())))
    return true;
  return m.patterns.some((p) => p.test(key) || (relative !== key && p.test(relative)));
}

/**
 * Masks the values of matching keys in `source`, up to two levels below the top, adding
 * `prefix.path` to `paths` for each. For attributes, whose keys are dotted names
 * (`app.user.email`), pass `lastSegment` to try the last segment of each key too.
 *
 * @example maskKeys({ db: { password: 'p' } }, compileKeyMatcher(['password'])!, 'metadata', paths, false)
 */
export function maskKeys(
  source: Record<string, unknown>,
  m: KeyMatcher,
  prefix: string,
  paths: string[],
  lastSegment: boolean,
): Record<string, unknown> {
  return walk(source, m, `${prefix}.`, '', 0, paths, lastSegment);
}

function walk(
  source: Record<string, unknown>,
  m: KeyMatcher,
  prefix: string,
  relative: string,
  depth: number,
  paths: string[],
  lastSegment: boolean,
): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(source)) {
    const path = relative === '' ? key : `${relative}.${key}`;
    const before = source[key];
    let after = before;
    const last = lastSegment ? key.slice(key.lastIndexOf('.') + 1) : key;
    if (keyMatches(m, key, path) || (last !== key && keyMatches(m, last, last))) {
      if (before !== REDACTED) {
        after = REDACTED;
        paths.push(prefix + path);
      }
    } else if (depth < MAX_KEY_DEPTH && isPlainObject(before)) {
      after = walk(before, m, prefix, path, depth + 1, paths, false);
    }
    if (after !== before) {
      out ??= { ...source };
      out[key] = after;
    }
  }
  return out ?? source;
}

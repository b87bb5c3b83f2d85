/**
 * Building span attributes from step data: primitives as they are, everything else as JSON text
 * within the serialisation budgets. Shared by the span mapping and by plugins built on it.
 */
import type { Attributes, AttributeValue } from '@opentelemetry/api';
import {
  type Budgets,
  budgetsOf,
  cutText,
  keysOf,
  type RecordKeys,
  type SerializeLimits,
  safeStringify,
  toJsonSafe,
} from '@spanchain/core';
import { ContentBudget } from './content.js';
import { SPANCHAIN } from './names.js';

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
 * anything else as JSON text within the budgets; undefined for null and undefined. For mappers
 * of plugins built on this one (`budgets` from `budgetsOf(options.limits)` of @spanchain/core).
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

/**
 * An OTel attribute value for anything: primitives as they are (strings cut to
 * `maxStringLength`), flat arrays of one primitive type within the budgets, the rest as a JSON
 * string within the budgets.
 */
export function attributeValue(
  value: unknown,
  limits: Partial<SerializeLimits> | undefined,
  budgets: Budgets = budgetsOf(limits),
): AttributeValue | undefined {
  switch (typeof value) {
    case 'string':
      return cutText(value, budgets);
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'undefined':
      return undefined;
    default: {
      if (value === null) return undefined;
      if (Array.isArray(value)) {
        const flat = flatArray(value, budgets, false);
        if (flat !== undefined) return flat;
      }
      return safeStringify(value, limits).text;
    }
  }
}

/**
 * What OTLP carries as an attribute value: a string, a number, a boolean, or a flat array of one
 * of them (null and undefined items allowed) of at most `maxItems` items (an array's length is the
 * app's: it may say 2³²−1). May throw for a revoked proxy.
 */
export function isAttributeValue(
  value: unknown,
  maxItems = Number.POSITIVE_INFINITY,
): value is AttributeValue {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return true;
    case 'object': {
      if (!Array.isArray(value) || value.length > maxItems) return false;
      let type: string | undefined;
      for (const item of value as unknown[]) {
        if (item === null || item === undefined) continue;
        const t = typeof item;
        if (t !== 'string' && t !== 'number' && t !== 'boolean') return false;
        if (type === undefined) type = t;
        else if (t !== type) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/**
 * `attributes` with every value one OTLP can carry: anything else (an object, a BigInt, a nested or
 * mixed array, a cycle, an array longer than `maxArrayLength`) becomes JSON text within the
 * budgets, as derived attributes do; null and undefined are left out. The same object when nothing
 * needs converting, else a copy (the input may be the app's own object). The encoder must never
 * meet a value it cannot write. (Count and string length of what the app gives are bounded by the
 * mappers, which know which attributes are the app's: JSON content may be longer than a string.)
 */
export function sanitizedAttributes(
  attributes: Attributes,
  limits: Partial<SerializeLimits> | undefined,
): Attributes {
  let out: Attributes | undefined;
  const maxItems = budgetsOf(limits).maxItems;
  for (const key of Object.keys(attributes)) {
    const value: unknown = attributes[key];
    if (isAttributeValue(value, maxItems)) continue;
    out ??= { ...attributes };
    if (value === null || value === undefined) delete out[key];
    else out[key] = safeStringify(value, limits).text;
  }
  return out ?? attributes;
}

/** A string stays as it is (cut to the budget); anything else becomes JSON text. */
export function json(value: unknown, limits: Partial<SerializeLimits> | undefined): string {
  return safeStringify(value, limits).text;
}

/** `keyAlias` → `key_alias`: attribute names are snake_case. */
export function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The app's own attributes a span takes: their keys, and how many of them fit the key budget. */
export interface OwnAttributes {
  readonly source: RecordKeys;
  readonly count: number;
}

export class AttributeWriter {
  readonly attributes: Attributes = {};
  readonly budgets: Budgets;
  /** Keys the span may still take from the app's records (metadata, trace metadata, attributes). */
  private keysLeft: number;
  /** Keys of those records the span did not take. */
  private dropped = 0;
  /** Step fields cut or left out here, for `spanchain.truncated`. */
  private cut: string[] | undefined;

  constructor(
    private readonly limits: Partial<SerializeLimits> | undefined,
    private readonly structured = false,
  ) {
    this.budgets = budgetsOf(limits);
    this.keysLeft = this.budgets.maxKeys;
  }

  set(key: string, value: unknown): void {
    const converted = attributeValue(value, this.limits, this.budgets);
    if (converted !== undefined) this.attributes[key] = converted;
  }

  /** Content: JSON text (structured in log events) within the budgets; `field` is noted when cut. */
  json(key: string, value: unknown, field?: string): void {
    if (value === undefined) return;
    if (this.structured) {
      const safe = toJsonSafe(value, this.limits);
      this.attributes[key] = safe.value as AttributeValue;
      if (safe.truncated && field !== undefined) this.noteCut(field);
    } else {
      this.text(key, value, field);
    }
  }

  /** Content as text always: a string as it is, anything else as JSON, within the budgets. */
  text(key: string, value: unknown, field?: string): void {
    if (typeof value === 'string' && value.length <= this.budgets.maxString) {
      this.attributes[key] = value;
      return;
    }
    const { text, truncated } = safeStringify(value, this.limits);
    this.attributes[key] = text;
    if (truncated && field !== undefined) this.noteCut(field);
  }

  /**
   * Content built from the step's lists (messages, parts, tool calls, documents) by `build`,
   * which cuts every list to the budgets before mapping it; `field` is noted when anything was cut.
   */
  content<T>(key: string, field: string, value: T, build: (value: T, lists: ContentBudget) => unknown): void {
    const lists = new ContentBudget(this.budgets);
    this.json(key, build(value, lists), field);
    if (lists.cut) this.noteCut(field);
  }

  /** Notes a step field (`metadata`, `inputMessages`, …) cut or left out by the budgets. */
  noteCut(field: string): void {
    if (this.cut === undefined) this.cut = [field];
    else if (!this.cut.includes(field)) this.cut.push(field);
  }

  /** Takes up to `total` keys from the span's budget for the app's records; the rest are dropped. */
  private take(total: number): number {
    const n = Math.min(total, this.keysLeft);
    this.keysLeft -= n;
    this.dropped += total - n;
    return n;
  }

  /**
   * One attribute per key of a metadata record, within the key budget; `field` (`metadata`,
   * `trace.metadata`) is noted when keys are left out. See {@link keysOf} for records that are
   * not plain objects.
   */
  spread(prefix: string, record: unknown, field: string): void {
    const source = keysOf(record, this.budgets);
    if (source === undefined) return;
    const n = this.take(source.keys.length);
    if (source.cut || n < source.keys.length) this.noteCut(field);
    const { keys } = source;
    for (let i = 0; i < n; i++) {
      const key = keys[i] as string;
      this.set(prefix + cutText(key, this.budgets), source.record[key]);
    }
  }

  /**
   * The step's own attributes: they take their keys from the budget first, and are written last
   * with {@link writeOwn}, since they win over derived ones.
   */
  takeOwn(attributes: unknown): OwnAttributes | undefined {
    const source = keysOf(attributes, this.budgets);
    if (source === undefined || source.keys.length === 0) return undefined;
    const count = this.take(source.keys.length);
    if (source.cut || count < source.keys.length) this.noteCut('attributes');
    return { source, count };
  }

  writeOwn(own: OwnAttributes | undefined): void {
    if (own === undefined) return;
    const { source, count } = own;
    for (let i = 0; i < count; i++) {
      const key = source.keys[i] as string;
      const raw = source.record[key];
      const name = cutText(key, this.budgets);
      const value = fitAttribute(raw, this.budgets);
      if (value !== undefined) this.attributes[name] = value;
      // An explicit null leaves the derived attribute of that name out, as it always did.
      else if (raw === null) delete this.attributes[name];
    }
  }

  /**
   * `spanchain.truncated` (the core's list of cut fields, plus what was cut here) and
   * `spanchain.attributes.dropped` (keys of the app's records beyond the count limit).
   */
  finish(truncated: readonly string[] | undefined): void {
    if (this.dropped > 0) this.attributes[SPANCHAIN.attributesDropped] = this.dropped;
    const given = Array.isArray(truncated) && truncated.length > 0 ? truncated : undefined;
    if (this.cut === undefined) {
      if (given !== undefined) this.set(SPANCHAIN.truncated, given);
      return;
    }
    const all =
      given === undefined ? this.cut : [...new Set([...given.slice(0, this.budgets.maxItems), ...this.cut])];
    this.set(SPANCHAIN.truncated, all);
  }
}

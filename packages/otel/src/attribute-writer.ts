/**
 * Building span attributes from step data: primitives as they are, everything else as JSON text
 * within the serialisation budgets. Shared by the span mapping and by plugins built on it.
 */
import type { Attributes, AttributeValue } from '@opentelemetry/api';
import { DEFAULT_SERIALIZE_LIMITS, type SerializeLimits, safeStringify, toJsonSafe } from '@spanchain/core';

/** An OTel attribute value for anything: primitives as they are, the rest as a JSON string. */
export function attributeValue(
  value: unknown,
  limits: Partial<SerializeLimits> | undefined,
): AttributeValue | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'undefined':
      return undefined;
    default:
      if (value === null) return undefined;
      if (Array.isArray(value) && value.length > 0) {
        const first = typeof value[0];
        if (
          (first === 'string' || first === 'number' || first === 'boolean') &&
          value.every((v) => typeof v === first)
        ) {
          return value as AttributeValue;
        }
      }
      return safeStringify(value, limits).text;
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
 * needs converting, else a copy (the input may be the app's own object). A step's own `attributes`
 * reach spans as the app gave them, and the encoder must never meet a value it cannot write.
 */
export function sanitizedAttributes(
  attributes: Attributes,
  limits: Partial<SerializeLimits> | undefined,
): Attributes {
  let out: Attributes | undefined;
  const maxItems = limits?.maxArrayLength ?? DEFAULT_SERIALIZE_LIMITS.maxArrayLength;
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

export class AttributeWriter {
  readonly attributes: Attributes = {};
  constructor(
    private readonly limits: Partial<SerializeLimits> | undefined,
    private readonly structured = false,
  ) {}

  set(key: string, value: unknown): void {
    const converted = attributeValue(value, this.limits);
    if (converted !== undefined) this.attributes[key] = converted;
  }

  json(key: string, value: unknown): void {
    if (value === undefined) return;
    this.attributes[key] = this.structured
      ? (toJsonSafe(value, this.limits).value as AttributeValue)
      : json(value, this.limits);
  }

  spread(prefix: string, record: Record<string, unknown> | undefined): void {
    if (record === undefined || record === null || typeof record !== 'object') return;
    for (const key of Object.keys(record)) this.set(prefix + key, record[key]);
  }
}

/**
 * Building span attributes from step data: primitives as they are, everything else as JSON text
 * within the serialisation budgets. Shared by the span mapping and by plugins built on it.
 */
import type { Attributes, AttributeValue } from '@opentelemetry/api';
import { type SerializeLimits, safeStringify, toJsonSafe } from '@spanchain/core';

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

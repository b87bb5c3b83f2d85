/**
 * The `limits()` middleware: payload budgets per step. Once the step is over, every payload field
 * becomes a JSON-safe snapshot within the limits (cycles, BigInts, buffers and huge strings
 * included), and the fields that were cut are listed in `step.truncated`.
 */
import { z } from 'zod';
import { forKinds, type Middleware, observer } from '../../compose.js';
import { ErrorReporter } from '../../error-handler.js';
import { parseOptions } from '../../options.js';
import { type JsonValue, resolveLimits, type SerializeLimits, toJsonSafe } from '../../serialize/index.js';
import { STEP_KINDS, type Step } from '../../step.js';
import type { MiddlewareStep } from '../../step-record.js';

const limit = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** Serialisation budgets, all optional (the defaults are `DEFAULT_SERIALIZE_LIMITS`). Plugins reuse it. */
export const SerializeLimitsSchema = z
  .object({
    /** Longer strings are cut and marked. Default 32,768. */
    maxStringLength: limit.optional(),
    /** Arrays keep this many items. Default 1,000. */
    maxArrayLength: limit.optional(),
    /** Objects keep this many keys. Default 1,000. */
    maxObjectKeys: limit.optional(),
    /** Deeper containers become a marker. Default 12. */
    maxDepth: limit.optional(),
    /** Approximate size budget of all the payload fields of one step together. Default 262,144. */
    maxBytes: limit.optional(),
  })
  .strict();

export const LimitsOptionsSchema = SerializeLimitsSchema.extend({
  /** Kinds to limit (default: all). */
  kinds: z.array(z.enum(STEP_KINDS)).min(1).optional(),
}).strict();

export type LimitsOptions = z.input<typeof LimitsOptionsSchema>;

/**
 * Payload fields of the record, smaller and more telling ones first (ties of the budget split go
 * to earlier fields). `result` is left out: on the record it is also the value the caller receives.
 */
const STEP_FIELDS = [
  'metadata',
  'query',
  'arguments',
  'variables',
  'systemInstructions',
  'template',
  'tools',
  'reason',
  'input',
  'inputMessages',
  'texts',
  'toolCalls',
  'outputMessages',
  'messages',
  'text',
  'documents',
  'rerankedDocuments',
  'output',
] as const;
const TRACE_FIELDS = ['metadata', 'input', 'output'] as const;

/** A share this small cannot hold anything useful: the field becomes the marker. */
const MIN_SHARE = 64;
/** Room kept for the `…[truncated N chars]` marker a cut string ends with. */
const STRING_MARKER = 40;
const TRUNCATED = '[truncated]';
/** `toJsonSafe` stops once past its budget, so a field cut by it uses about its whole share. */
const BUDGET_SLACK = 64;

interface Slot {
  path: string;
  source: unknown;
  value: JsonValue;
  share: number;
  used: number;
  truncated: boolean;
}

/** Approximate size of serialised output, counted as `toJsonSafe` counts its budget. */
function jsonSize(value: JsonValue): number {
  if (typeof value === 'string') return value.length + 2;
  if (value === null || typeof value !== 'object') return 8;
  let size = 2;
  if (Array.isArray(value)) {
    for (const item of value) size += jsonSize(item);
  } else {
    for (const key of Object.keys(value)) size += key.length + 3 + jsonSize(value[key] as JsonValue);
  }
  return size;
}

function serialize(slot: Slot, limits: SerializeLimits, share: number): void {
  slot.share = share;
  if (share < MIN_SHARE) {
    slot.value = TRUNCATED;
    slot.truncated = true;
    slot.used = TRUNCATED.length + 2;
    return;
  }
  // Capping strings below the share keeps a single huge string, marker included, within it too.
  const cut = toJsonSafe(slot.source, {
    ...limits,
    maxBytes: share,
    maxStringLength: Math.min(limits.maxStringLength, share - STRING_MARKER),
  });
  slot.value = cut.value;
  slot.truncated = cut.truncated;
  slot.used = jsonSize(cut.value);
}

/**
 * Fits the given payloads into one budget. Each field first gets an equal share of what is left;
 * what a small field does not use goes to the fields cut by their share, in order.
 */
function fitToBudget(slots: Slot[], limits: SerializeLimits): void {
  let remaining = limits.maxBytes;
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]!;
    serialize(slot, limits, Math.floor(remaining / (slots.length - i)));
    remaining -= slot.used;
  }
  for (const slot of slots) {
    if (remaining <= 0) break;
    // Fields cut by a count or length limit (well inside their share) would come out the same.
    if (!slot.truncated || slot.used < slot.share - BUDGET_SLACK) continue;
    remaining += slot.used;
    serialize(slot, limits, remaining);
    remaining -= slot.used;
  }
}

function slot(path: string, source: unknown): Slot {
  return { path, source, value: null, share: 0, used: 0, truncated: false };
}

/** Limits the record's payloads in place: fields get new values, the app's objects stay as they are. */
function limitRecord(record: Step, limits: SerializeLimits, onError: (error: unknown) => void): void {
  const fields = record as unknown as Record<string, unknown>;
  const trace = (record.trace ?? {}) as Record<string, unknown>;
  const slots: Slot[] = [];
  for (const key of STEP_FIELDS) {
    if (fields[key] !== undefined) slots.push(slot(key, fields[key]));
  }
  for (const key of TRACE_FIELDS) {
    if (trace[key] !== undefined) slots.push(slot(`trace.${key}`, trace[key]));
  }
  if (slots.length === 0) return;
  try {
    fitToBudget(slots, limits);
  } catch (error) {
    // Nothing unbounded may reach the plugins: every payload becomes the marker.
    for (const s of slots) {
      s.value = TRUNCATED;
      s.truncated = true;
    }
    onError(error);
  }
  // The trace object is shared by the trace's running steps; this ended step gets its own copy.
  let traceCopy: Record<string, unknown> | undefined;
  const cut: string[] = [];
  for (const s of slots) {
    if (s.path.startsWith('trace.')) {
      traceCopy ??= { ...trace };
      traceCopy[s.path.slice(6)] = s.value;
    } else {
      fields[s.path] = s.value;
    }
    if (s.truncated) cut.push(s.path);
  }
  if (traceCopy) fields.trace = traceCopy;
  if (cut.length > 0) record.truncated = [...new Set([...(record.truncated ?? []), ...cut])];
}

const fallbackReporter = new ErrorReporter();

function report(step: MiddlewareStep, error: unknown): void {
  const reportError = (step as { reportError?: (source: string, error: unknown) => void }).reportError;
  const failure = new Error(`limits failed (${error instanceof Error ? error.name : typeof error})`);
  if (typeof reportError === 'function') {
    try {
      reportError.call(step, 'middleware:limits', failure);
      return;
    } catch {}
  }
  fallbackReporter.report('middleware:limits', failure);
}

/**
 * Keeps each step's payloads within budgets: string length, array length, object keys, depth,
 * and bytes per step, the byte budget being shared by all the step's payload fields. After the
 * step (for a stream: once consumed), each payload field (input, output, messages, documents,
 * tool arguments, prompt variables, metadata, the trace's input, output and metadata, …) is
 * replaced by a JSON-safe snapshot: values that fit stay deep-equal, circular references become
 * `'[Circular]'`, and the fields that were cut are listed in `step.truncated`.
 *
 * Put it before `redact()` in `use`, so that redaction sees whole strings.
 *
 * @example createTracer({ plugins: [otel()], use: [limits({ maxStringLength: 8_192, maxBytes: 65_536 }), redact()] })
 */
export function limits(options?: LimitsOptions): Middleware {
  const { kinds, ...given } = parseOptions(LimitsOptionsSchema, options ?? {}, 'limits options');
  const resolved = resolveLimits(given);
  const middleware = observer(async function limitStep(step: MiddlewareStep, next: () => Promise<void>) {
    try {
      await next();
    } finally {
      try {
        limitRecord(step.step as unknown as Step, resolved, (error) => report(step, error));
      } catch (error) {
        report(step, error);
      }
    }
  });
  return kinds ? forKinds(kinds, middleware) : middleware;
}

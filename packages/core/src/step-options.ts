import type { Context, SpanContext } from '@opentelemetry/api';
import { z } from 'zod';
import type { Attributes, Step, StepKind, StepKindFields, TraceFields, TraceKey } from './step.js';
import { STEP_KINDS, TRACE_KEYS } from './step.js';
import type { StepHandle } from './step-record.js';

/** Retry with exponential backoff and full jitter. */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** Delay before the first retry, in ms. Default 200. */
  initialDelayMs?: number;
  /** Upper bound of one delay, in ms. Default 5,000. */
  maxDelayMs?: number;
  /** Growth of the delay per retry. Default 2. */
  factor?: number;
  /** Whether an error is worth retrying. Default: every error. */
  retryOn?: (error: unknown) => boolean;
}

/** A fallback tried once the primary has failed all its attempts. */
export interface Fallback {
  /** Run the same function with this model on the attempt's step (`step.step.model`). */
  model?: string;
  provider?: string;
  /** Or run another function. */
  fn?: (step: StepHandle) => unknown;
  /** Shown on the attempt; defaults to the model or the function's name. */
  name?: string;
}

/** Identity of the caller. An `apiKey` is hashed at once and never stored. */
export interface IdentityInput {
  team?: string;
  keyAlias?: string;
  keyHash?: string;
  apiKey?: string;
  [key: string]: string | undefined;
}

/** A step's parent: a step, its handle, an OTel span context or context, or a `traceparent` string. */
export type ParentInput = Step | StepHandle | SpanContext | Context | string;

/** Options every step call takes, whatever its kind. */
export interface StepOptionsBase {
  name?: string;
  input?: unknown;
  metadata?: Record<string, unknown>;
  tags?: string[];
  attributes?: Attributes;
  /** Trace-level fields; merged into the trace this step belongs to. */
  trace?: TraceFields;
  identity?: IdentityInput;
  /** Overrides the parent found in context. */
  parent?: ParentInput;
  /** Joins a trace that already exists (32 hex characters or a UUID). */
  existingTraceId?: string;
  /** With `existingTraceId`: the span in that trace to nest under. */
  existingParentSpanId?: string;
  /** Trace fields this call may overwrite when it joins an existing trace. */
  updateTraceKeys?: TraceKey[];
  /** Replace the recorded input with a redaction marker. */
  maskInput?: boolean;
  /** Replace the recorded output with a redaction marker. */
  maskOutput?: boolean;
  /** Force this trace in (true) or out (false) of sampling. */
  sample?: boolean;
  /** Start time, epoch ms or Date (for steps recorded after the fact). */
  startTime?: number | Date;
  /** Retry the function on failure; a number is `maxRetries`. Async functions only. */
  retry?: number | RetryPolicy;
  /** Tried in order once the primary failed. Async functions only. */
  fallbacks?: Fallback[];
  /** Called for each streamed chunk, inside the step. */
  onChunk?: (chunk: unknown, step: StepHandle) => void;
  /** Builds the recorded output from the streamed chunks (which are then kept until the end). */
  reduceStream?: (chunks: unknown[]) => unknown;
}

/** The keys of `StepOptionsBase`: every other key of a call's options is a field of its kind. */
export const COMMON_OPTION_KEYS: ReadonlySet<string> = new Set([
  'name',
  'input',
  'metadata',
  'tags',
  'attributes',
  'trace',
  'identity',
  'parent',
  'existingTraceId',
  'existingParentSpanId',
  'updateTraceKeys',
  'maskInput',
  'maskOutput',
  'sample',
  'startTime',
  'retry',
  'fallbacks',
  'onChunk',
  'reduceStream',
] satisfies (keyof StepOptionsBase)[]);

/** Options of a step of kind `K`: the common ones plus the kind's own fields. */
export type StepOptions<K extends StepKind = StepKind> = StepOptionsBase & Partial<StepKindFields[K]>;

const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', 'expected a function');

const RetryPolicySchema = z.object({
  maxRetries: z.number().int().min(0).max(100),
  initialDelayMs: z.number().min(0).optional(),
  maxDelayMs: z.number().min(0).optional(),
  factor: z.number().min(1).optional(),
  retryOn: fn.optional(),
});

/**
 * The common step options as a schema. Step calls are not parsed on the hot path (bad values are
 * ignored there); the schema documents them and backs the tracer's `validateSteps` option.
 */
export const StepOptionsSchema = z
  .object({
    name: z.string().optional(),
    input: z.unknown().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    tags: z.array(z.string()).optional(),
    attributes: z.record(z.string(), z.unknown()).optional(),
    trace: z
      .object({
        name: z.string().optional(),
        userId: z.string().optional(),
        sessionId: z.string().optional(),
        tags: z.array(z.string()).optional(),
        metadata: z.record(z.string(), z.unknown()).optional(),
        input: z.unknown().optional(),
        output: z.unknown().optional(),
        environment: z.string().optional(),
        release: z.string().optional(),
        version: z.string().optional(),
      })
      .optional(),
    identity: z.record(z.string(), z.string().optional()).optional(),
    parent: z.unknown().optional(),
    existingTraceId: z.string().optional(),
    existingParentSpanId: z.string().optional(),
    updateTraceKeys: z.array(z.enum(TRACE_KEYS)).optional(),
    maskInput: z.boolean().optional(),
    maskOutput: z.boolean().optional(),
    sample: z.boolean().optional(),
    startTime: z.union([z.number().positive(), z.date()]).optional(),
    retry: z.union([z.number().int().min(0).max(100), RetryPolicySchema]).optional(),
    fallbacks: z
      .array(
        z.object({
          model: z.string().optional(),
          provider: z.string().optional(),
          fn: fn.optional(),
          name: z.string().optional(),
        }),
      )
      .optional(),
    onChunk: fn.optional(),
    reduceStream: fn.optional(),
  })
  .loose();

export const StepKindSchema = z.enum(STEP_KINDS);

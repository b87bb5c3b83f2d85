/**
 * The retry and fallback middlewares: tracer-wide defaults for the attempt executor
 * (`attempts.ts`), which runs each attempt as a child step. A call's own `retry` or `fallbacks`
 * option always wins over these defaults.
 */
import { z } from 'zod';
import { forKinds, type KindScopedMiddleware, type Middleware } from '../../compose.js';
import { parseOptions } from '../../options.js';
import type { StepKind } from '../../step.js';
import type { Fallback, RetryPolicy } from '../../step-options.js';
import { StepKindSchema } from '../../step-options.js';
import type { MiddlewareStep, StepHandle, StepRecord } from '../../step-record.js';

/**
 * Model calls are idempotent and fail transiently (rate limits, timeouts). Tools may have side
 * effects, and retrying an agent or chain would multiply the retries of every step inside it, so
 * those kinds are opted in explicitly.
 */
const DEFAULT_KINDS: readonly StepKind[] = ['llm', 'embedding', 'rerank'];

const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', `expected ${what}`);

const kinds = z.array(StepKindSchema).min(1).optional();

export const RetryOptionsSchema = z.union([
  z.number().int().min(0).max(100),
  z
    .object({
      /** Retries after the first attempt. */
      maxRetries: z.number().int().min(0).max(100),
      /** Delay before the first retry, ms. Default 200. */
      initialDelayMs: z.number().min(0).max(600_000).optional(),
      /** Upper bound of one delay, ms. Default 5,000. */
      maxDelayMs: z.number().min(0).max(600_000).optional(),
      /** Growth of the delay per retry. Default 2. */
      factor: z.number().min(1).max(100).optional(),
      /** Whether an error is worth retrying. Default: every error. */
      retryOn: fn<(error: unknown) => boolean>('a function (error) => boolean').optional(),
      /** Kinds of step retried. Default `['llm', 'embedding', 'rerank']`. */
      kinds,
    })
    .strict(),
]);

/** A retry policy and the kinds it applies to, or just `maxRetries`. */
export type RetryOptions = z.input<typeof RetryOptionsSchema>;

const FallbackSchema = z
  .object({
    model: z.string().min(1).optional(),
    provider: z.string().min(1).optional(),
    fn: fn<(step: StepHandle) => unknown>('a function (step) => result').optional(),
    name: z.string().min(1).optional(),
  })
  .strict()
  .refine((f) => f.model !== undefined || f.provider !== undefined || f.fn !== undefined, {
    message: 'a fallback needs a model, a provider or a function',
  });

export const FallbackOptionsSchema = z
  .object({
    /** Fallbacks by the step's model (`{ 'gpt-4o': ['gpt-4o-mini', { model: 'claude-sonnet-4' }] }`). */
    models: z
      .record(z.string().min(1), z.array(z.union([z.string().min(1), FallbackSchema])).min(1))
      .optional(),
    /** Fallbacks for a step whose model `models` does not name. */
    fallbacks: z.array(FallbackSchema).min(1).optional(),
    /** Kinds of step given fallbacks. Default `['llm', 'embedding', 'rerank']`. */
    kinds,
  })
  .strict()
  .refine((o) => o.models !== undefined || o.fallbacks !== undefined, {
    message: 'give `models`, `fallbacks` or both',
  });

export type FallbackOptions = z.input<typeof FallbackOptionsSchema>;

/**
 * Sets attempt defaults on a step before its function runs; the executor reads them then.
 * Attempt steps are skipped: they run through the same chain, and defaults on an attempt would
 * make every attempt a series of attempts of its own.
 */
function defaults(
  name: string,
  stepKinds: readonly StepKind[],
  apply: (step: MiddlewareStep, record: StepRecord) => void,
): KindScopedMiddleware {
  const middleware: Middleware = (step, next) => {
    if (step.attempt === undefined) apply(step, step as StepRecord);
    return next();
  };
  // forKinds names the scoped middleware after this one, which shows in stack traces.
  Object.defineProperty(middleware, 'name', { value: name });
  return forKinds(stepKinds, middleware);
}

/**
 * Retries failed steps with exponential backoff and full jitter, each attempt a child step of
 * the same kind. Applies to steps whose call gives no `retry` option, and only to asynchronous
 * functions (a synchronous one cannot wait for a backoff without blocking).
 *
 * @example
 * createTracer({ use: [retry({ maxRetries: 2, retryOn: (error) => isRateLimit(error) })] });
 */
export function retry(options: RetryOptions): KindScopedMiddleware {
  const parsed = parseOptions(RetryOptionsSchema, options, 'retry options');
  const { kinds: stepKinds, ...policy }: RetryPolicy & { kinds?: StepKind[] } =
    typeof parsed === 'number' ? { maxRetries: parsed } : parsed;
  return defaults('retry', stepKinds ?? DEFAULT_KINDS, (step, record) => {
    if (step.options.retry === undefined) record._retryDefaults = { ...record._retryDefaults, retry: policy };
  });
}

/**
 * Tries fallbacks once a step failed (after its retries), each a child step of the same kind:
 * by the step's model when `models` names it, else `fallbacks`. A string is a model run with the
 * same function, which reads it from its step (`(step) => callModel(step.model)`). Applies to
 * steps whose call gives no `fallbacks` option.
 *
 * @example
 * const models = { 'gpt-4o': ['gpt-4o-mini', { model: 'claude-sonnet-4', provider: 'anthropic' }] };
 * createTracer({ use: [fallback({ models })] });
 */
export function fallback(options: FallbackOptions): KindScopedMiddleware {
  const parsed = parseOptions(FallbackOptionsSchema, options, 'fallback options');
  const byModel = new Map<string, readonly Fallback[]>();
  for (const [model, list] of Object.entries(parsed.models ?? {})) {
    byModel.set(
      model,
      list.map((entry) => (typeof entry === 'string' ? { model: entry } : entry)),
    );
  }
  const otherwise: readonly Fallback[] | undefined = parsed.fallbacks;
  return defaults('fallback', parsed.kinds ?? DEFAULT_KINDS, (step, record) => {
    if (step.options.fallbacks !== undefined) return;
    const model: unknown = step.model;
    const fallbacks = (typeof model === 'string' ? byModel.get(model) : undefined) ?? otherwise;
    if (fallbacks !== undefined) record._retryDefaults = { ...record._retryDefaults, fallbacks };
  });
}

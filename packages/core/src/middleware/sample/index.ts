/**
 * The `sample` middleware: which traces plugins receive.
 *
 * Head decision, at each local root before it runs (its children inherit it through the step
 * factory): the per-call `sample` option wins, then the parent's sampled flag when the root
 * continues a remote or app OpenTelemetry span (`parentBased`), then a consistent decision by
 * trace id (`isTraceSampled`), identical in every plugin and process that uses the same ratio.
 *
 * Tail rule (optional): a trace the head decision left out is held in a bounded buffer and kept
 * when one of its steps failed or a local root lasted at least `latencyMs`.
 */
import { z } from 'zod';
import { now } from '../../clock.js';
import { type Middleware, observer } from '../../compose.js';
import { SpanchainError } from '../../errors.js';
import { normalizeTraceId } from '../../ids.js';
import { parseOptions } from '../../options.js';
import type { Step } from '../../step.js';
import type { MiddlewareStep } from '../../step-record.js';
import { isTraceSampled } from './ratio.js';
import { TailBuffer, type TailCounters, type TailLimits } from './tail-buffer.js';

export { isTraceSampled } from './ratio.js';

const SAMPLED = 1;
const RATIO_ENV = 'SPANCHAIN_SAMPLE_RATIO';

export const SampleOptionsSchema = z
  .object({
    /** Share of traces sampled at the head, 0..1. Env: `SPANCHAIN_SAMPLE_RATIO`. Default 1. */
    ratio: z.number().min(0).max(1).optional(),
    /** A local root under a remote or app span follows that span's sampled flag. Default true. */
    parentBased: z.boolean().optional(),
    /** Keep traces the head decision left out when they turn out interesting. */
    tail: z
      .object({
        /** Keep traces with any failed step. Default true. */
        errors: z.boolean().optional(),
        /** Keep traces whose local root lasted at least this many ms. Default: no latency rule. */
        latencyMs: z.number().min(0).optional(),
        /** Traces held at once; a trace beyond it is not held (and is counted). Default 1,000. */
        maxTraces: z.number().int().min(1).max(1_000_000).optional(),
        /** Steps held per trace; further steps are dropped (and counted). Default 1,000. */
        maxStepsPerTrace: z.number().int().min(1).max(1_000_000).optional(),
        /** A held trace whose root has not ended after this many ms is dropped. Default 60,000. */
        timeoutMs: z.number().int().positive().max(86_400_000).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type SampleOptions = z.input<typeof SampleOptionsSchema>;

export interface ResolvedSampleOptions {
  ratio: number;
  parentBased: boolean;
  tail: (TailLimits & { errors: boolean; latencyMs: number | undefined }) | undefined;
}

/**
 * Validates the options and fills in defaults; the only place `SPANCHAIN_SAMPLE_RATIO` is read
 * (option > environment > default).
 *
 * @example resolveSampleOptions({ tail: { latencyMs: 5_000 } }, { SPANCHAIN_SAMPLE_RATIO: '0.1' }).ratio // 0.1
 */
export function resolveSampleOptions(
  input: unknown,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedSampleOptions {
  const options = parseOptions(SampleOptionsSchema, input ?? {}, 'sample options');
  const tail = options.tail;
  return {
    ratio: options.ratio ?? envRatio(env) ?? 1,
    parentBased: options.parentBased ?? true,
    tail: tail && {
      errors: tail.errors ?? true,
      latencyMs: tail.latencyMs,
      maxTraces: tail.maxTraces ?? 1_000,
      maxStepsPerTrace: tail.maxStepsPerTrace ?? 1_000,
      timeoutMs: tail.timeoutMs ?? 60_000,
    },
  };
}

function envRatio(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env[RATIO_ENV]?.trim();
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (Number.isFinite(value) && value >= 0 && value <= 1) return value;
  throw new SpanchainError(
    'INVALID_OPTIONS',
    `Invalid environment variable ${RATIO_ENV}: expected a number from 0 to 1 (got ${JSON.stringify(raw.slice(0, 60))})`,
  );
}

/** Counters of one `sample()` middleware. */
export interface SampleStats extends TailCounters {
  /** Local roots the head decision sampled. */
  headSampled: number;
  /** Local roots the head decision left out (tail candidates included). */
  headDropped: number;
  /** Traces held now, waiting for their decision. */
  tailPending: number;
}

/** The middleware `sample()` returns: an observer with counters. */
export interface SampleMiddleware extends Middleware {
  readonly observer: true;
  stats(): SampleStats;
}

type RecordView = MiddlewareStep['step'];

function setSampled(record: RecordView, sampled: boolean): void {
  record.sampled = sampled;
  record.traceFlags = sampled ? record.traceFlags | SAMPLED : record.traceFlags & ~SAMPLED;
}

/**
 * A tail candidate carries the sampled flag (so spans the app makes inside it, and services it
 * calls, record their part) while plugins do not receive it: `sampled` false, flag bit set.
 */
function isCandidate(record: RecordView): boolean {
  return !record.sampled && (record.traceFlags & SAMPLED) === SAMPLED;
}

/** Waits one macrotask: see `deliver`. */
function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Decides which traces plugins receive. Put it in `use` near the front, before middleware that
 * makes child steps, and unscoped (not in `forKinds`): the head decision is made at local roots
 * and the tail rule must see every step of a held trace.
 *
 * @example
 * createTracer({ plugins: [otel], use: [sample({ ratio: 0.1, tail: { errors: true, latencyMs: 10_000 } })] });
 */
export function sample(options?: SampleOptions): SampleMiddleware {
  const { ratio, parentBased, tail } = resolveSampleOptions(options);
  const head = { headSampled: 0, headDropped: 0 };
  const buffer = tail ? new TailBuffer(tail) : undefined;

  function headDecision(step: MiddlewareStep): boolean {
    const record = step.step;
    const forced = step.options.sample;
    if (typeof forced === 'boolean') return forced;
    // `existingTraceId` names a trace but carries no sampling decision of its own.
    const joined =
      step.options.existingTraceId !== undefined && normalizeTraceId(step.options.existingTraceId);
    if (parentBased && record.parentSpanId !== undefined && !joined) {
      return (record.traceFlags & SAMPLED) === SAMPLED;
    }
    return isTraceSampled(record.traceId, ratio);
  }

  /**
   * Delivers the held steps of a kept trace. The tracer finalizes each (as unsampled) a few
   * microtasks after its chain settles, and a caller waiting on a chain waits for that; one
   * macrotask later it has happened, so emitting cannot race with the tracer delivering the same
   * step. The exception: an observer middleware outside this one that awaits a timer or I/O after
   * `next()` finalizes later, and such a step would be delivered twice (the core needs a
   * deliver-once `emit` to close this). The deciding root waits here, so `flush()`, which waits
   * for open chains, also waits for this delivery.
   */
  async function deliver(steps: MiddlewareStep[]): Promise<void> {
    await nextMacrotask();
    for (const held of steps) {
      held.step.sampled = true;
      try {
        held.emit(held.step as Step);
      } catch {
        // The plugin host isolates plugins; nothing here may reach the app.
      }
    }
  }

  /** After a candidate step ended: hold it, or decide its trace when it is the last local root. */
  function settle(step: MiddlewareStep, failed: boolean, root: boolean): Promise<void> | undefined {
    if (!buffer || !tail) return undefined;
    const record = step.step;
    const time = now();
    const trace = buffer.get(record.traceId);
    if (!trace) {
      // Expired, or decided while this step ran: a kept trace's late steps go out as they end.
      if (buffer.wasKept(record.traceId, time)) record.sampled = true;
      return undefined;
    }
    if (!root) {
      buffer.hold(trace, step, failed);
      return undefined;
    }
    if (failed) trace.error = true;
    const duration = (record.endTime ?? time) - record.startTime;
    if (tail.latencyMs !== undefined && duration >= tail.latencyMs) trace.slow = true;
    trace.openRoots--;
    if (trace.openRoots > 0) {
      buffer.hold(trace, step, false);
      return undefined;
    }
    const keep = (tail.errors && trace.error) || trace.slow;
    const held = buffer.decide(record.traceId, keep, time);
    if (!keep) return undefined;
    // The tracer delivers this root itself: it is finalized after this middleware returns.
    record.sampled = true;
    return held.length > 0 ? deliver(held) : undefined;
  }

  async function followCandidate(
    step: MiddlewareStep,
    next: () => Promise<void>,
    root: boolean,
  ): Promise<void> {
    let failed = false;
    try {
      await next();
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      let pending: Promise<void> | undefined;
      try {
        pending = settle(step, failed || step.step.status === 'error', root);
      } catch {
        // Bookkeeping must never replace the step's own outcome.
      }
      if (pending) await pending;
    }
  }

  const middleware = (step: MiddlewareStep, next: () => Promise<void>): Promise<void> => {
    const record = step.step;
    if (step.parent === undefined) {
      if (headDecision(step)) {
        head.headSampled++;
        setSampled(record, true);
        return next();
      }
      head.headDropped++;
      if (buffer && step.options.sample !== false && buffer.open(record.traceId, now())) {
        record.sampled = false;
        record.traceFlags |= SAMPLED;
        return followCandidate(step, next, true);
      }
      setSampled(record, false);
      return next();
    }
    // A child inherited the flag (so the factory made it sampled); it is held like its parent,
    // unless its own call forced it in or out.
    if (buffer && step.options.sample === undefined && isCandidate(step.parent.step)) {
      record.sampled = false;
      return followCandidate(step, next, false);
    }
    return next();
  };
  Object.defineProperty(middleware, 'name', { value: 'sample' });
  const stats = (): SampleStats => ({
    ...head,
    tailKept: buffer?.counters.tailKept ?? 0,
    tailDropped: buffer?.counters.tailDropped ?? 0,
    tailOverflow: buffer?.counters.tailOverflow ?? 0,
    tailExpired: buffer?.counters.tailExpired ?? 0,
    tailPending: buffer?.size ?? 0,
  });
  return observer(Object.assign(middleware, { stats }));
}

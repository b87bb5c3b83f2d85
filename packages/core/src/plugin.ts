import type { Middleware } from './compose.js';
import type { ErrorReporter } from './error-handler.js';
import type { Step } from './step.js';

/** Counters a plugin may report about its own queue and transport. */
export interface PluginCounters {
  /** Steps (or items made from them) delivered to the backend. */
  exported: number;
  /** Waiting to be sent. */
  queued: number;
  /** Lost, by reason (`queue-full`, `sampled-out`, `http-413`, …). */
  dropped: Record<string, number>;
  /** Export attempts that failed (each may be retried). */
  failed: number;
}

export interface HookOptions {
  /** Epoch ms by which the call should settle; the tracer stops waiting then. */
  deadline: number;
}

/**
 * A backend. Hooks are called inside a guard: whatever a plugin throws, rejects or never
 * settles does not reach the app or the other plugins. The set of plugins is fixed when the
 * tracer is made.
 *
 * @example
 * const plugin: Plugin = { name: 'stdout', onEnd: (step) => queue.push(step), flush: () => drain() };
 */
export interface Plugin {
  readonly name: string;
  /** The step started (after the middleware chain ran its "before" part). Must not block. */
  onStart?(step: Step): void;
  /** The step ended and its middleware is done. Enqueue only: no I/O, no serialising here. */
  onEnd(step: Step): void;
  /** Deliver what is queued. */
  flush?(options: HookOptions): Promise<unknown> | undefined;
  /** Deliver what is queued and release resources. Called once. */
  shutdown?(options: HookOptions): Promise<unknown> | undefined;
  /** A middleware this plugin needs around execution; it runs after the tracer's own. */
  middleware?: Middleware;
  /** The plugin's own counters, merged into `tracer.stats()`. */
  stats?(): Partial<PluginCounters>;
  /**
   * Called when the plugin joins a tracer (a named plugin: when it has loaded). A plugin that
   * reports its own errors sends them to `context.errors` from then on, so they reach the
   * tracer's `onError` and `tracer.stats().errors`.
   */
  attach?(context: PluginContext): void;
  /**
   * Adds this backend's own propagation headers for `step` (LangSmith's `langsmith-trace`, …)
   * when `tracer.inject()` runs. `traceparent` and `tracestate` are the core's and cannot be
   * set here; a `baggage` value is appended to the W3C baggage members. Must be cheap.
   */
  inject?(step: Step, headers: Record<string, string>): void;
  /**
   * Reads this backend's own propagation headers when `tracer.extract()` runs. `current` is the
   * parent read from `traceparent`, if any. Returning a parent continues that trace when the
   * headers carry no valid `traceparent` (the first plugin to answer wins); with a valid
   * `traceparent` the answer is ignored, but the plugin may still keep what it needs.
   */
  extract?(get: (name: string) => string | undefined, current?: RemoteParent): RemoteParent | undefined;
}

/** What a tracer gives the plugins it runs. */
export interface PluginContext {
  /** The tracer's error reporter (its `onError`, its `stats().errors`). */
  errors: ErrorReporter;
}

/** A parent in another process, as W3C ids. */
export interface RemoteParent {
  /** 32 lowercase hex characters. */
  traceId: string;
  /** 16 lowercase hex characters. */
  spanId: string;
  /** W3C trace flags; 1 (sampled) when left out. */
  traceFlags?: number;
}

/** A plugin package's entry: `createPlugin(options?)` (or the default export). */
export type PluginFactory = (options?: Record<string, unknown>) => Plugin;

export interface PluginStats extends PluginCounters {
  name: string;
  /** Steps handed to `onEnd`. */
  received: number;
  /** Hook calls that threw or rejected. */
  hookErrors: number;
}

export interface FlushReport {
  /** Every plugin flushed in time without error. */
  ok: boolean;
  timedOut: boolean;
  /** Sum of plugins' `exported` counters after the flush. */
  exported: number;
  /** Sum of plugins' dropped counters after the flush. */
  dropped: number;
  /** Streamed steps ended by this flush because nobody consumed them. */
  unconsumedStreams: number;
  durationMs: number;
  plugins: Record<string, { ok: boolean; timedOut: boolean; error?: string }>;
}

/** Structural check used at configuration time. */
export function isPlugin(value: unknown): value is Plugin {
  if (typeof value !== 'object' || value === null) return false;
  const p = value as Record<string, unknown>;
  return typeof p.name === 'string' && p.name.length > 0 && typeof p.onEnd === 'function';
}

import {
  type Context,
  context as otelContext,
  ROOT_CONTEXT,
  type SpanContext,
  trace,
} from '@opentelemetry/api';
import { type AttemptPlan, attemptPlan, runAttempts } from './attempts.js';
import { compose, type Middleware, middlewaresFor } from './compose.js';
import { activeContext, ensureContextManager, STEP_CONTEXT_KEY } from './context.js';
import { ErrorReporter } from './error-handler.js';
import {
  type ChainRun,
  type ExecutionHost,
  executeChained,
  executeDirect,
  type ObserverMarker,
  type StepFunction,
  workDone,
} from './execute.js';
import { onBeforeExit } from './exit.js';
import { NOOP_STEP } from './noop-step.js';
import { type ResolvedTracerOptions, resolveTracerOptions, type TracerOptions } from './options.js';
import type { FlushReport, Plugin, PluginStats } from './plugin.js';
import { PluginHost } from './plugin-host.js';
import { DeferredPlugin, resolvePluginPackage } from './plugin-loader.js';
import { createConsolePlugin } from './plugins/console/index.js';
import {
  extractContext,
  type HeaderCarrier,
  headerGetter,
  injectContext,
  writeHeaders,
} from './propagation.js';
import { Settling } from './settling.js';
import { STEP_KINDS, type Step, type StepKind } from './step.js';
import { createStepRecord, type StepDefaults } from './step-factory.js';
import type { StepOptions } from './step-options.js';
import { type ActiveStep, type StepHandle, type StepLifecycle, StepRecord } from './step-record.js';
import type { StreamTracker } from './stream.js';

interface KindChain {
  chain: Middleware;
  observer: boolean;
}

/** Counters of the tracer itself and of each plugin. */
export interface TracerStats {
  steps: { started: number; ended: number; unsampled: number; open: number };
  openStreams: number;
  plugins: PluginStats[];
  /** Internal errors and warnings by source (`plugin:otel.onEnd`, `propagation.extract`, …). */
  errors: Record<string, number>;
}

type Fn<K extends StepKind, R> = (step: ActiveStep<K>) => R;
type Options<K extends StepKind> = StepOptions<K> | string | undefined;

const BUILT_IN: Record<string, () => Plugin> = { console: () => createConsolePlugin() };

/**
 * Traces pipeline steps and hands them to plugins. Made by `createTracer()`.
 *
 * @example
 * const tracer = createTracer({ serviceName: 'support-bot', plugins: [createConsolePlugin()] });
 * const answer = await tracer.llm({ model: 'gpt-4o', inputMessages }, (step) => callModel(step));
 */
/** A step-shaped object: what `emit()` accepts besides the tracer's own records. */
function looksLikeStep(value: unknown): value is Step {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.kind === 'string' && typeof v.traceId === 'string' && typeof v.spanId === 'string';
}

export class Tracer {
  readonly serviceName: string;
  readonly enabled: boolean;
  private readonly options: ResolvedTracerOptions;
  private readonly errors: ErrorReporter;
  private readonly host: PluginHost;
  private readonly chains = new Map<StepKind, KindChain | undefined>();
  private readonly deferred: DeferredPlugin[] = [];
  private readonly openStreams = new Set<StreamTracker>();
  private readonly settling = new Settling();
  private readonly counters = { started: 0, ended: 0, unsampled: 0 };
  private readonly lifecycle: StepLifecycle;
  private readonly exec: ExecutionHost;
  private readonly defaults: StepDefaults;
  private deliveredSinceFlush = 0;
  private shutdownPromise: Promise<FlushReport> | undefined;
  private closed = false;
  private unsubscribeExit: (() => void) | undefined;

  constructor(input?: TracerOptions) {
    this.options = resolveTracerOptions(input);
    this.serviceName = this.options.serviceName;
    this.enabled = this.options.enabled;
    this.errors = new ErrorReporter(this.options.onError);
    this.host = new PluginHost(this.errors);
    for (const entry of this.options.plugins) this.host.add(this.plugin(entry));
    this.composeChains();
    this.defaults = {
      serviceName: this.serviceName,
      errors: this.errors,
      validate: this.options.validateSteps,
    };
    this.lifecycle = {
      completed: (step) => {
        if (workDone(step)) this.settling.add(step);
        else this.finalized(step);
      },
      run: (kind, options, fn) => this.step(kind, options, fn),
      emit: (step) => this.emit(step),
      reportError: (source, error) => this.errors.report(source, error),
    };
    this.exec = {
      plugins: this.host,
      errors: this.errors,
      openStreams: this.openStreams,
      streamStarted: (step) => (step._run as ChainRun | undefined)?.onStream?.(),
      finalized: (step) => this.finalized(step),
    };
    if (this.enabled) ensureContextManager();
    if (this.options.flushOnExit) this.unsubscribeExit = onBeforeExit(() => this.flushOnExit());
    for (const d of this.deferred) void d.ready.then(() => this.composeChains());
  }

  private plugin(entry: string | Plugin): Plugin {
    if (typeof entry !== 'string') return entry;
    const builtIn = BUILT_IN[entry];
    if (builtIn) return builtIn();
    const path = resolvePluginPackage(entry);
    const deferred = new DeferredPlugin(entry, path, this.options.pendingLimit, this.errors);
    this.deferred.push(deferred);
    return deferred;
  }

  /** One chain per kind, with only the middlewares that apply to it; none at all costs nothing. */
  private composeChains(): void {
    const all: Middleware[] = [...this.options.use];
    for (const plugin of this.host.plugins()) {
      const target = plugin instanceof DeferredPlugin ? plugin.loaded : plugin;
      if (target?.middleware) all.push(target.middleware);
    }
    for (const kind of STEP_KINDS) {
      const list = middlewaresFor(kind, all);
      this.chains.set(
        kind,
        list.length === 0
          ? undefined
          : { chain: compose(list), observer: list.every((m) => (m as ObserverMarker).observer === true) },
      );
    }
  }

  /**
   * Runs `fn` as a step of `kind`. Returns exactly what `fn` returns: a synchronous value stays
   * synchronous, the same promise comes back, a stream is instrumented in place and the step
   * stays open until it is consumed. Errors are recorded and rethrown unchanged.
   *
   * @example tracer.step('custom', { name: 'dedupe' }, (step) => dedupe(docs))
   */
  step<K extends StepKind, R>(kind: K, options: Options<K>, fn: Fn<K, R>): R {
    if (!this.enabled || this.closed) return (fn as Fn<StepKind, R>)(NOOP_STEP);
    const step = this.start(kind, options);
    const kindChain = this.chains.get(kind);
    if (!kindChain) {
      const o = step.options;
      const plan = o.retry !== undefined || o.fallbacks !== undefined ? attemptPlan(o, undefined) : undefined;
      return executeDirect(
        this.exec,
        step,
        plan ? (s) => this.attempts(s, plan, fn) : (fn as unknown as StepFunction<R>),
      );
    }
    // Middleware may set retry defaults before next(), so the plan is made when the function runs.
    const run: StepFunction<R> = (s) => {
      // An attempt never plans attempts of its own, whatever a middleware set.
      const plan = s.attempt ? undefined : attemptPlan(s.options, s._retryDefaults);
      return plan ? this.attempts(s, plan, fn) : (fn as unknown as StepFunction<R>)(s);
    };
    return executeChained(this.exec, step, kindChain.chain, kindChain.observer, run);
  }

  private attempts<K extends StepKind, R>(step: StepRecord, plan: AttemptPlan, fn: Fn<K, R>): R {
    return runAttempts(step, plan, fn as (step: StepHandle) => unknown, (k, o, f) => this.step(k, o, f)) as R;
  }

  agent<R>(options: Options<'agent'>, fn: Fn<'agent', R>): R {
    return this.step('agent', options, fn);
  }
  chain<R>(options: Options<'chain'>, fn: Fn<'chain', R>): R {
    return this.step('chain', options, fn);
  }
  retrieval<R>(options: Options<'retrieval'>, fn: Fn<'retrieval', R>): R {
    return this.step('retrieval', options, fn);
  }
  prompt<R>(options: Options<'prompt'>, fn: Fn<'prompt', R>): R {
    return this.step('prompt', options, fn);
  }
  llm<R>(options: Options<'llm'>, fn: Fn<'llm', R>): R {
    return this.step('llm', options, fn);
  }
  tool<R>(options: Options<'tool'>, fn: Fn<'tool', R>): R {
    return this.step('tool', options, fn);
  }
  embedding<R>(options: Options<'embedding'>, fn: Fn<'embedding', R>): R {
    return this.step('embedding', options, fn);
  }
  rerank<R>(options: Options<'rerank'>, fn: Fn<'rerank', R>): R {
    return this.step('rerank', options, fn);
  }
  guardrail<R>(options: Options<'guardrail'>, fn: Fn<'guardrail', R>): R {
    return this.step('guardrail', options, fn);
  }
  custom<R>(options: Options<'custom'>, fn: Fn<'custom', R>): R {
    return this.step('custom', options, fn);
  }

  /**
   * Starts a step by hand, for callback-style integrations; it is not made active (use
   * `context.with(handle.context(), fn)` for that). End it with `end()` or `fail()`.
   *
   * @example const step = tracer.startStep('llm', { model }); … step.update({ usage }).end(output);
   */
  startStep<K extends StepKind>(kind: K, options?: Options<K>): ActiveStep<K> {
    if (!this.enabled || this.closed) return NOOP_STEP as unknown as ActiveStep<K>;
    const step = this.start(kind, options);
    const kindChain = this.chains.get(kind);
    if (!kindChain) {
      if (step.sampled && this.host.wantsStart) this.host.start(step.record);
    } else {
      executeChained(this.exec, step, kindChain.chain, true, undefined);
    }
    return step as unknown as ActiveStep<K>;
  }

  private start(kind: StepKind, options: Options<StepKind>): StepRecord {
    this.counters.started++;
    return createStepRecord(kind, options, activeContext(), this.lifecycle, this.defaults);
  }

  private finalized(step: StepRecord): void {
    step._sealed = true;
    this.counters.ended++;
    if (step._run !== undefined) this.settling.delete(step);
    if (!step.sampled) {
      this.counters.unsampled++;
      return;
    }
    this.deliver(step);
  }

  private deliver(step: StepRecord): void {
    if (step._delivered) return;
    step._delivered = true;
    this.deliveredSinceFlush++;
    this.host.end(step.record);
  }

  /**
   * Hands a step to the plugins, for middleware that held it back and releases it later (tail
   * sampling). A step still finishing is marked sampled and delivered once final; a step is never
   * delivered twice.
   */
  emit(step: Step): void {
    if (!(step instanceof StepRecord)) {
      if (!looksLikeStep(step)) {
        this.errors.report(
          'emit',
          new TypeError('emit() expects a step record (with kind, traceId and spanId)'),
        );
        return;
      }
      this.deliveredSinceFlush++;
      this.host.end(step);
      return;
    }
    if (!step.sampled) {
      step.sampled = true;
      if (step._sealed) this.counters.unsampled--;
    }
    if (step._sealed) this.deliver(step);
  }

  /** The step active in the current context, if any. */
  activeStep(): Step | undefined {
    return activeContext().getValue(STEP_CONTEXT_KEY) as Step | undefined;
  }

  /**
   * Writes `traceparent`, `tracestate` and `baggage` for the active step (or `from`) into
   * outgoing headers.
   *
   * @example const headers = {}; tracer.inject(headers); await fetch(url, { headers });
   */
  inject<C extends HeaderCarrier>(carrier: C, from?: StepHandle | Context): C {
    let ctx = activeContext();
    if (from && typeof (from as Context).getValue === 'function') ctx = from as Context;
    else if (from) ctx = (from as StepHandle).context();
    injectContext(ctx, carrier, this.errors);
    if (this.host.injects) {
      const step = ctx.getValue(STEP_CONTEXT_KEY) as Step | undefined;
      if (step !== undefined) writeHeaders(carrier, this.host.inject(step), this.errors);
    }
    return carrier;
  }

  /**
   * Reads incoming `traceparent`, `tracestate` and `baggage` into a context; steps started in it
   * (or given it as `parent`) continue the caller's trace. Bad headers give a fresh context.
   *
   * @example otelContext.with(tracer.extract(req.headers), () => tracer.agent('handle', run));
   */
  extract(carrier: HeaderCarrier): Context {
    const ctx = extractContext(carrier, this.errors, ROOT_CONTEXT);
    if (!this.host.extracts || carrier === null || typeof carrier !== 'object') return ctx;
    // Plugins read their own headers (LangSmith's `langsmith-trace`); one of them may name the
    // parent when no traceparent came.
    const current = ctx === ROOT_CONTEXT ? undefined : trace.getSpanContext(ctx);
    const answer = this.host.extract(
      headerGetter(carrier),
      current && { traceId: current.traceId, spanId: current.spanId, traceFlags: current.traceFlags },
    );
    if (current !== undefined || answer === undefined) return ctx;
    return trace.setSpanContext(ctx, {
      traceId: answer.traceId,
      spanId: answer.spanId,
      traceFlags: (answer.traceFlags ?? 1) & 0xff,
      isRemote: true,
    });
  }

  /** Runs `fn` with the trace continued from incoming headers. */
  continueFrom<R>(carrier: HeaderCarrier, fn: () => R): R {
    return otelContext.with(this.extract(carrier), fn);
  }

  /** The span context of the active step or span, for code that needs the ids. */
  activeSpanContext(): SpanContext | undefined {
    return trace.getSpanContext(activeContext());
  }

  /**
   * Delivers everything that has ended: streams nobody consumed are ended and marked
   * `not-consumed`, middleware is let finish, then every plugin flushes, within the deadline.
   */
  async flush(options?: { timeoutMs?: number }): Promise<FlushReport> {
    const started = Date.now();
    const deadline = started + (options?.timeoutMs ?? this.options.flushTimeoutMs);
    return this.flushUntil(started, deadline);
  }

  /** `closing`: shutdown ends every open stream; a flush only those nobody started reading. */
  private async flushUntil(started: number, deadline: number, closing = false): Promise<FlushReport> {
    let unconsumedStreams = 0;
    for (const tracker of [...this.openStreams]) {
      if (tracker.pulled && !closing) continue;
      tracker.finish(tracker.pulled ? 'cancelled' : 'not-consumed');
      unconsumedStreams++;
    }
    // Middleware after next() runs in microtasks; let it finish before the plugins flush.
    await new Promise((resolve) => setImmediate(resolve));
    const middlewareSettled = await this.settling.drained(deadline);
    await Promise.all(this.deferred.map((d) => d.ready));
    this.deliveredSinceFlush = 0;
    // On shutdown, plugins with a `shutdown` hook deliver there instead (one deadline, not two).
    const plugins = await this.host.settle('flush', deadline, { skipShutdownPlugins: closing });
    const stats = this.host.stats();
    const timedOut = !middlewareSettled || Object.values(plugins).some((p) => p.timedOut);
    return {
      ok: !timedOut && Object.values(plugins).every((p) => p.ok),
      timedOut,
      exported: stats.reduce((n, s) => n + s.exported, 0),
      dropped: stats.reduce((n, s) => n + Object.values(s.dropped).reduce((a, b) => a + b, 0), 0),
      unconsumedStreams,
      durationMs: Date.now() - started,
      plugins,
    };
  }

  private async flushOnExit(): Promise<void> {
    if (this.closed || (this.deliveredSinceFlush === 0 && this.openStreams.size === 0)) return;
    await this.flush();
  }

  /**
   * Ends open streams, lets middleware finish, then shuts every plugin down, all within one
   * deadline: a plugin's `shutdown` delivers what it holds (plugins without one are flushed).
   * Idempotent: later calls return the first call's report. Steps traced afterwards run untraced.
   */
  shutdown(options?: { timeoutMs?: number }): Promise<FlushReport> {
    this.shutdownPromise ??= (async () => {
      const started = Date.now();
      const deadline = started + (options?.timeoutMs ?? this.options.shutdownTimeoutMs);
      const report = await this.flushUntil(started, deadline, true);
      this.closed = true;
      this.unsubscribeExit?.();
      const plugins = await this.host.settle('shutdown', deadline);
      const timedOut = report.timedOut || Object.values(plugins).some((p) => p.timedOut);
      const stats = this.host.stats();
      return {
        ...report,
        exported: stats.reduce((n, s) => n + s.exported, 0),
        dropped: stats.reduce((n, s) => n + Object.values(s.dropped).reduce((a, b) => a + b, 0), 0),
        ok: report.ok && !timedOut && Object.values(plugins).every((p) => p.ok),
        timedOut,
        durationMs: Date.now() - started,
        plugins,
      };
    })();
    return this.shutdownPromise;
  }

  stats(): TracerStats {
    return {
      steps: { ...this.counters, open: this.counters.started - this.counters.ended },
      openStreams: this.openStreams.size,
      plugins: this.host.stats(),
      errors: Object.fromEntries(this.errors.counts),
    };
  }

  /** The plugins, in order (named plugins still loading appear as placeholders). */
  plugins(): readonly Plugin[] {
    return this.host.plugins();
  }
}

/**
 * Makes a tracer. Options are validated at once: a bad option throws a `SpanchainError` naming
 * it; a plugin named by string that is not installed throws with the command to install it.
 *
 * @example
 * const tracer = createTracer({ serviceName: 'rag', plugins: ['console'], use: [redact(), cost()] });
 */
export function createTracer(options?: TracerOptions): Tracer {
  return new Tracer(options);
}

import {
  type Context,
  context,
  createContextKey,
  createTraceState,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';

/** Where the active step lives in an OpenTelemetry context. */
export const STEP_CONTEXT_KEY = createContextKey('spanchain.step');

let checked = false;
/** The manager spanchain installed, used directly on the hot path; undefined when the app has its own. */
let installed: AsyncLocalStorageContextManager | undefined;

/**
 * Makes sure OpenTelemetry context propagates across `await`: if the app registered a context
 * manager, that one is used; otherwise an `AsyncLocalStorageContextManager` is installed.
 * Returns true when spanchain installed it.
 */
export function ensureContextManager(): boolean {
  if (checked) return false;
  checked = true;
  const probe = createContextKey('spanchain.probe');
  const works = context.with(
    ROOT_CONTEXT.setValue(probe, true),
    () => context.active().getValue(probe) === true,
  );
  if (works) return false;
  const manager = new AsyncLocalStorageContextManager();
  manager.enable();
  if (!context.setGlobalContextManager(manager)) return false;
  installed = manager;
  // `context.disable()` disables the registered manager: from then on, go through the API again
  // (the app may register another one) and let the next tracer check anew.
  const disable = manager.disable.bind(manager);
  manager.disable = () => {
    if (installed === manager) installed = undefined;
    checked = false;
    return disable();
  };
  return true;
}

/**
 * The active context. The API facade looks its manager up (with a version check) on every call;
 * when the manager is the one spanchain installed, it is asked directly.
 */
export function activeContext(): Context {
  return installed ? installed.active() : context.active();
}

/** Runs `fn` with `ctx` active (see `activeContext` for why the manager may be called directly). */
export function withContext<A extends unknown[], R>(
  ctx: Context,
  fn: (...args: A) => R,
  thisArg?: unknown,
  ...args: A
): R {
  return installed ? installed.with(ctx, fn, thisArg, ...args) : context.with(ctx, fn, thisArg, ...args);
}

/** The minimum a context needs to know about a step. */
export interface ContextStep {
  readonly traceId: string;
  readonly spanId: string;
  traceFlags: number;
  traceState?: string;
}

/** A span context for a step, as OpenTelemetry sees it. */
export function stepSpanContext(step: ContextStep): SpanContext {
  const spanContext: SpanContext = {
    traceId: step.traceId,
    spanId: step.spanId,
    traceFlags: step.traceFlags,
    isRemote: false,
  };
  if (step.traceState) spanContext.traceState = createTraceState(step.traceState);
  return spanContext;
}

/**
 * A context node on top of `parent`: what `setValue`/`deleteValue` of a step's context return.
 * A step record is itself the context node that carries it (see `StepRecord.getValue`), so a
 * step costs no context allocation; OpenTelemetry's own context copies its whole Map on each
 * `setValue`, and a step needs two (step and span).
 */
export class ValueContext implements Context {
  constructor(
    private readonly parent: Context,
    private readonly key: symbol,
    private readonly value: unknown,
  ) {}

  getValue(key: symbol): unknown {
    return key === this.key ? this.value : this.parent.getValue(key);
  }

  setValue(key: symbol, value: unknown): Context {
    return new ValueContext(this, key, value);
  }

  deleteValue(key: symbol): Context {
    return new ValueContext(this, key, undefined);
  }
}

/**
 * The key under which the API keeps the active span: `createContextKey('OpenTelemetry Context
 * Key SPAN')`, a `Symbol.for`. `spanKeyWorks` checks it once against the API itself; if a future
 * API stores spans otherwise, steps fall back to the API's own context (`contextWithStep`).
 */
export const SPAN_KEY = Symbol.for('OpenTelemetry Context Key SPAN');
const probeSpan = trace.wrapSpanContext({
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  traceFlags: 1,
});
export const spanKeyWorks = trace.getSpan(new ValueContext(ROOT_CONTEXT, SPAN_KEY, probeSpan)) === probeSpan;

/** The active span of a step's context: a non-recording span with the step's ids. */
export function stepSpan(step: ContextStep): Span {
  return trace.wrapSpanContext(stepSpanContext(step));
}

/**
 * A context in which `step` is the active step and a non-recording span with the step's ids is
 * the active span, made through the API (the slow path, when `spanKeyWorks` is false).
 */
export function contextWithStep(parent: Context, step: ContextStep): Context {
  return trace.setSpan(parent.setValue(STEP_CONTEXT_KEY, step), stepSpan(step));
}

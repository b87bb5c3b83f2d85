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
  return context.setGlobalContextManager(manager);
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
 * A context in which `step` is the active step and a non-recording span with the step's ids is
 * the active span, so spans the app creates inside the step become its children.
 */
export function contextWithStep(parent: Context, step: ContextStep): Context {
  const span: Span = trace.wrapSpanContext(stepSpanContext(step));
  return trace.setSpan(parent.setValue(STEP_CONTEXT_KEY, step), span);
}

export function activeContext(): Context {
  return context.active();
}

export function stepFromContext<T>(ctx: Context): T | undefined {
  return ctx.getValue(STEP_CONTEXT_KEY) as T | undefined;
}

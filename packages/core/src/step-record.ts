import { type Context, type Span, trace } from '@opentelemetry/api';
import { now } from './clock.js';
import {
  contextWithStep,
  SPAN_KEY,
  STEP_CONTEXT_KEY,
  spanKeyWorks,
  stepSpan,
  ValueContext,
} from './context.js';
import { formatTraceparent } from './ids.js';
import type {
  AttemptInfo,
  AttemptsInfo,
  Attributes,
  Identity,
  Step,
  StepError,
  StepEvent,
  StepKind,
  StepOf,
  StepStatus,
  StepUpdate,
  StreamInfo,
  TraceFields,
  TraceKey,
} from './step.js';
import { toStepError } from './step-error.js';
import type { ActiveStep, MiddlewareControls, StepLifecycle } from './step-handle.js';
import type { Fallback, RetryPolicy, StepOptions } from './step-options.js';

export { toStepError } from './step-error.js';
export type {
  ActiveStep,
  AllKindFields,
  MiddlewareControls,
  MiddlewareStep,
  StepHandle,
  StepLifecycle,
} from './step-handle.js';

/**
 * Most steps have no events and no attributes: they share these frozen empties (two allocations
 * less per step) until the first `addEvent` / `setAttributes` gives them their own.
 */
const NO_EVENTS: StepEvent[] = Object.freeze([]) as unknown as StepEvent[];
const NO_ATTRIBUTES: Attributes = Object.freeze({}) as Attributes;

const COMMON_KEYS = new Set([
  'kind',
  'traceId',
  'spanId',
  'parentSpanId',
  'parentStepId',
  'parentIsRemote',
  'startTime',
  'endTime',
  'status',
  'error',
  'trace',
  'traceKeys',
  'identity',
  'events',
  'redacted',
  'truncated',
  'stream',
  'attempts',
  'attempt',
  'serviceName',
  'sampled',
  'traceFlags',
  'traceState',
]);

/**
 * One class is record, handle and middleware view, so a step costs one allocation. Plugins see
 * it typed as `Step` (data only); `toJSON()` keeps internals out of serialised output.
 */
export class StepRecord implements MiddlewareControls {
  // Fields are assigned in one order in the constructor so every record shares a hidden class.
  readonly kind: StepKind;
  name!: string;
  readonly traceId: string;
  readonly spanId: string;
  parentSpanId: string | undefined = undefined;
  parentStepId: string | undefined = undefined;
  parentIsRemote = false;
  traceFlags = 1;
  traceState: string | undefined = undefined;
  sampled = true;
  startTime = 0;
  endTime: number | undefined = undefined;
  status: StepStatus = 'unset';
  error: StepError | undefined = undefined;
  input: unknown = undefined;
  output: unknown = undefined;
  metadata: Record<string, unknown> | undefined = undefined;
  tags: string[] | undefined = undefined;
  trace!: TraceFields;
  traceKeys!: readonly TraceKey[];
  identity: Identity | undefined = undefined;
  events: StepEvent[] = NO_EVENTS;
  attributes: Attributes = NO_ATTRIBUTES;
  redacted: string[] | undefined = undefined;
  truncated: string[] | undefined = undefined;
  stream: StreamInfo | undefined = undefined;
  attempts: AttemptsInfo | undefined = undefined;
  attempt: AttemptInfo | undefined = undefined;
  serviceName = '';

  returnValue: unknown = undefined;
  sync: boolean | undefined = undefined;
  readonly options: Readonly<StepOptions>;
  parent: StepRecord | undefined = undefined;
  /** @internal */
  _lifecycle: StepLifecycle;
  /** @internal set once the step's own work is over */
  _done = false;
  /** @internal set once the step is final (middleware done); later updates are ignored */
  _sealed = false;
  /** @internal set once plugins received the step, so a step is never delivered twice */
  _delivered = false;
  /** @internal the state of its run through a middleware chain (see execute.ts), if it has one */
  _run: unknown = undefined;
  /** @internal the active span of this step's context, made on first use */
  _span: Span | undefined = undefined;
  /** @internal the context made through the API, when the fast path is unavailable */
  _context: Context | undefined = undefined;
  /** @internal the thrown value itself, rethrown unchanged through the middleware chain */
  _thrown: unknown = undefined;
  /** @internal retry policy and fallbacks set by a middleware for calls that give none */
  _retryDefaults: { retry?: RetryPolicy; fallbacks?: readonly Fallback[] } | undefined = undefined;
  /** @internal the context the step was started in */
  _parentContext: Context;

  /**
   * Only what every step needs at once; the factory assigns the rest right after, in a fixed
   * order (one init object per step showed up in profiles).
   */
  constructor(
    kind: StepKind,
    traceId: string,
    spanId: string,
    options: StepOptions,
    lifecycle: StepLifecycle,
    parentContext: Context,
  ) {
    this.kind = kind;
    this.traceId = traceId;
    this.spanId = spanId;
    this.options = options;
    this._lifecycle = lifecycle;
    this._parentContext = parentContext;
  }

  /** This record typed as plugins see it. */
  get record(): Step {
    return this as unknown as Step;
  }

  get step(): StepOf<never> {
    return this as unknown as StepOf<never>;
  }

  get ended(): boolean {
    return this._done;
  }

  update(fields: StepUpdate): this {
    if (this._sealed || fields === null || typeof fields !== 'object') return this;
    for (const key of Object.keys(fields)) {
      if (COMMON_KEYS.has(key)) continue;
      const value = (fields as Record<string, unknown>)[key];
      if (key === 'attributes') {
        if (value && typeof value === 'object') this.setAttributes(value as Attributes);
      } else if (key === 'metadata') {
        if (value && typeof value === 'object') this.metadata = { ...this.metadata, ...(value as object) };
      } else {
        (this as unknown as Record<string, unknown>)[key] = value;
      }
    }
    return this;
  }

  setAttributes(attributes: Attributes): this {
    if (this._sealed || !attributes || typeof attributes !== 'object') return this;
    if (this.attributes === NO_ATTRIBUTES) this.attributes = { ...attributes };
    else Object.assign(this.attributes, attributes);
    return this;
  }

  addEvent(name: string, attributes?: Attributes): this {
    if (this._sealed) return this;
    const event: StepEvent = { name, time: now() };
    if (attributes) event.attributes = attributes;
    if (this.events === NO_EVENTS) this.events = [event];
    else this.events.push(event);
    return this;
  }

  updateTrace(fields: TraceFields): this {
    if (fields && typeof fields === 'object') Object.assign(this.trace, fields);
    return this;
  }

  end(output?: unknown): void {
    if (this._done) return;
    if (output !== undefined) this.output = output;
    this.complete('ok');
  }

  fail(error: unknown): void {
    if (this._done) return;
    this._thrown = error;
    this.error = toStepError(error);
    this.complete('error');
  }

  /** @internal ends the step's own work; the tracer finalises it once middleware is done. */
  complete(status: StepStatus): void {
    if (this._done) return;
    this._done = true;
    this.endTime = now();
    if (this.status === 'unset') this.status = status;
    this._lifecycle.completed(this);
  }

  context(): Context {
    if (spanKeyWorks) return this;
    if (this._context === undefined || trace.getSpanContext(this._context)?.traceFlags !== this.traceFlags) {
      this._context = contextWithStep(this._parentContext, this);
    }
    return this._context;
  }

  // The record is the context node that carries it: `context()` returns the record itself, so
  // running a step allocates no context. Keys other than the step and its span are the parent's.

  /** @internal Context */
  getValue(key: symbol): unknown {
    if (key === STEP_CONTEXT_KEY) return this;
    if (key === SPAN_KEY) {
      // Sampling middleware may change the flags before the function runs: the span follows.
      if (this._span === undefined || this._span.spanContext().traceFlags !== this.traceFlags) {
        this._span = stepSpan(this);
      }
      return this._span;
    }
    return this._parentContext.getValue(key);
  }

  /** @internal Context */
  setValue(key: symbol, value: unknown): Context {
    return new ValueContext(this, key, value);
  }

  /** @internal Context */
  deleteValue(key: symbol): Context {
    return new ValueContext(this, key, undefined);
  }

  traceparent(): string {
    return formatTraceparent(this.traceId, this.spanId, this.traceFlags);
  }

  child<C extends StepKind, R>(
    kind: C,
    options: StepOptions<C> | string | undefined,
    fn: (step: ActiveStep<C>) => R,
  ): R {
    const base = (typeof options === 'string' ? { name: options } : { ...options }) as StepOptions<C>;
    base.parent = this;
    return this._lifecycle.run(kind, base, fn);
  }

  emit(step: Step): void {
    this._lifecycle.emit(step);
  }

  reportError(source: string, error: unknown): void {
    this._lifecycle.reportError(source, error);
  }

  /** The record's data, without the handle's internals. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(this)) {
      if (
        key === 'returnValue' ||
        key === 'sync' ||
        key === 'options' ||
        key === 'parent' ||
        key.startsWith('_')
      )
        continue;
      const value = (this as unknown as Record<string, unknown>)[key];
      if (value !== undefined) out[key] = value;
    }
    return out;
  }
}

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
  AgentFields,
  AttemptInfo,
  AttemptsInfo,
  Attributes,
  EmbeddingFields,
  GuardrailFields,
  Identity,
  LlmFields,
  PromptFields,
  RerankFields,
  RetrievalFields,
  Step,
  StepCommon,
  StepError,
  StepEvent,
  StepKind,
  StepKindFields,
  StepOf,
  StepStatus,
  StepUpdate,
  StreamInfo,
  ToolFields,
  TraceFields,
  TraceKey,
} from './step.js';
import type { Fallback, RetryPolicy, StepOptions } from './step-options.js';

/** What a running step lets its code do. The wrap API passes one to the traced function. */
export interface StepHandle<K extends StepKind = StepKind> {
  readonly kind: K;
  readonly traceId: string;
  readonly spanId: string;
  /** The step's record, as plugins will receive it. */
  readonly step: StepOf<K>;
  /** True once `end()` or `fail()` ran (or the traced function settled). */
  readonly ended: boolean;
  /** Merges fields into the record: `step.update({ usage, outputMessages })`. Ignored after end. */
  update(fields: StepUpdate<K>): this;
  setAttributes(attributes: Attributes): this;
  addEvent(name: string, attributes?: Attributes): this;
  /** Sets trace-level fields, seen by every step of this trace in this process not yet exported. */
  updateTrace(fields: TraceFields): this;
  /** Ends the step successfully. A second `end()` or `fail()` is ignored. */
  end(output?: unknown): void;
  /** Ends the step with an error. A second `end()` or `fail()` is ignored. */
  fail(error: unknown): void;
  /** An OpenTelemetry context in which this step is active: `context.with(handle.context(), fn)`. */
  context(): Context;
  /** This step as a W3C `traceparent` header value. */
  traceparent(): string;
}

/** The handle a traced function receives: the controls plus the record's fields, read-only. */
export type ActiveStep<K extends StepKind = StepKind> = StepHandle<K> & Readonly<Omit<StepOf<K>, 'kind'>>;

/** What middleware can do with a step beyond the handle: see the call, replace the result, … */
export interface MiddlewareControls<K extends StepKind = StepKind> extends StepHandle<K> {
  /**
   * What the caller receives: the traced function's return value, or a middleware's replacement
   * (a cache hit, a fallback). Never exported to a backend.
   */
  returnValue: unknown;
  /** The options of this call (`maskInput`, `retry`, `sample`, …). */
  readonly options: Readonly<StepOptions>;
  /** True when the traced function turned out synchronous; undefined until it ran. */
  readonly sync: boolean | undefined;
  /** The local parent step, if any. */
  readonly parent: MiddlewareControls | undefined;
  /**
   * Runs `fn` as a child step of this one through the same tracer (a guardrail check, a cache
   * lookup), whatever the active context is.
   */
  child<C extends StepKind, R>(
    kind: C,
    options: StepOptions<C> | string | undefined,
    fn: (step: ActiveStep<C>) => R,
  ): R;
  /**
   * Hands an ended step to the plugins, for middleware that held it back (tail sampling sets
   * `sampled = false`, then emits the steps of the traces it keeps).
   */
  emit(step: Step): void;
  /** Reports an internal error (a failing masker, a broken check) to the tracer's error handler. */
  reportError(source: string, error: unknown): void;
}

/** Every kind's fields, optional: middleware sees steps of any kind and checks `kind` itself. */
export type AllKindFields = AgentFields &
  RetrievalFields &
  PromptFields &
  LlmFields &
  ToolFields &
  EmbeddingFields &
  RerankFields &
  GuardrailFields;

/**
 * The step as middleware sees it: the controls plus the record's fields, writable (a redaction
 * middleware replaces `input`; a cost middleware sets `cost`).
 */
export type MiddlewareStep<K extends StepKind = StepKind> = MiddlewareControls<K> &
  Omit<StepCommon<K>, 'kind' | 'traceId' | 'spanId'> &
  AllKindFields;

/** What a step needs from its tracer. */
export interface StepLifecycle {
  /** Called once when the step's own work is over (function settled, stream consumed, `end()`). */
  completed(step: StepRecord): void;
  /** Runs a function as a step of the same tracer. */
  run<C extends StepKind, R>(kind: C, options: StepOptions<C>, fn: (step: ActiveStep<C>) => R): R;
  /** Delivers an ended step to the plugins. */
  emit(step: Step): void;
  /** Reports an internal error to the tracer's error handler. */
  reportError(source: string, error: unknown): void;
}

/**
 * Most steps have no events and no attributes: they share these frozen empties (two allocations
 * less per step) until the first `addEvent` / `setAttributes` gives them their own.
 */
const NO_EVENTS: StepEvent[] = Object.freeze([]) as unknown as StepEvent[];
const NO_ATTRIBUTES: Attributes = Object.freeze({}) as Attributes;

const MAX_CAUSE_DEPTH = 5;
const MAX_STACK = 16_384;

/** What a step keeps of a thrown value. Never calls user code beyond reading properties. */
export function toStepError(error: unknown, depth = 0): StepError {
  if (error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error)) {
    const e = error as Error & { code?: unknown; cause?: unknown };
    let type = 'Error';
    try {
      type = (typeof e.name === 'string' && e.name !== 'Error' ? e.name : e.constructor?.name) || 'Error';
    } catch {}
    const out: StepError = { type, message: typeof e.message === 'string' ? e.message : '' };
    try {
      if (typeof e.stack === 'string')
        out.stack = e.stack.length > MAX_STACK ? e.stack.slice(0, MAX_STACK) : e.stack;
      if (typeof e.code === 'string' || typeof e.code === 'number') out.code = e.code;
      if (e.cause !== undefined && depth < MAX_CAUSE_DEPTH) out.cause = toStepError(e.cause, depth + 1);
    } catch {}
    return out;
  }
  if (typeof error === 'string') return { type: 'string', message: error.slice(0, MAX_STACK) };
  return { type: error === null ? 'null' : typeof error, message: '' };
}

const COMMON_KEYS = new Set([
  'kind',
  'traceId',
  'spanId',
  'parentSpanId',
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

/** Kind fields a call may give at start: everything that is not a common field. */
export function kindFieldsOf<K extends StepKind>(options: object): Partial<StepKindFields[K]> {
  return options as Partial<StepKindFields[K]>;
}

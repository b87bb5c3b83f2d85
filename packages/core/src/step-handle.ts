import type { Context } from '@opentelemetry/api';
import type {
  AgentFields,
  Attributes,
  EmbeddingFields,
  GuardrailFields,
  LlmFields,
  PromptFields,
  RerankFields,
  RetrievalFields,
  Step,
  StepCommon,
  StepKind,
  StepOf,
  StepUpdate,
  ToolFields,
  TraceFields,
} from './step.js';
import type { StepOptions } from './step-options.js';
import type { StepRecord } from './step-record.js';

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

import { createHash } from 'node:crypto';
import { type Context, isSpanContextValid, type SpanContext, trace } from '@opentelemetry/api';
import { ATTEMPT } from './attempts.js';
import { now, toEpochMs } from './clock.js';
import { STEP_CONTEXT_KEY } from './context.js';
import type { ErrorReporter } from './error-handler.js';
import { isValidSpanId, newSpanId, newTraceId, normalizeTraceId } from './ids.js';
import type { AttemptInfo, Identity, StepKind, TraceFields, TraceKey } from './step.js';
import { TRACE_KEYS } from './step.js';
import {
  COMMON_OPTION_KEYS,
  type IdentityInput,
  type StepOptions,
  StepOptionsSchema,
} from './step-options.js';
import { type StepLifecycle, StepRecord } from './step-record.js';

export interface StepDefaults {
  serviceName: string;
  errors: ErrorReporter;
  validate: boolean;
}

const SAMPLED = 1;
const EMPTY: StepOptions = Object.freeze({});
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

/** Where a new step hangs: a local step, a span context (app or remote span), or nothing. */
interface Parent {
  step?: StepRecord;
  spanContext?: SpanContext;
  /** Joining by `existingTraceId`: the trace exists elsewhere. */
  joined?: boolean;
}

// The common case (a parent from context) reuses one record instead of allocating one per step;
// the factory is synchronous and never re-entered while it reads it.
const fromActive: Parent = {};

function fromContext(ctx: Context): Parent {
  const value = ctx.getValue(STEP_CONTEXT_KEY);
  const step = value instanceof StepRecord ? value : undefined;
  fromActive.step = step;
  fromActive.spanContext = undefined;
  // A step's own context node is the common case: nothing can sit between it and a new step.
  // Otherwise an app span may have been made inside the step (step → app span → new step).
  if (step === undefined || ctx !== step) {
    const spanContext = trace.getSpanContext(ctx);
    if (
      spanContext &&
      isSpanContextValid(spanContext) &&
      (step === undefined || (spanContext.spanId !== step.spanId && spanContext.traceId === step.traceId))
    ) {
      fromActive.spanContext = spanContext;
    }
  }
  return fromActive;
}

function parseTraceparent(value: string): SpanContext | undefined {
  if (value.length > 512) return undefined;
  const m = TRACEPARENT.exec(value.trim().toLowerCase());
  if (!m || m[1] === 'ff' || (m[1] === '00' && value.trim().length !== 55)) return undefined;
  const spanContext: SpanContext = {
    traceId: m[2]!,
    spanId: m[3]!,
    traceFlags: Number.parseInt(m[4]!, 16),
    isRemote: true,
  };
  return isSpanContextValid(spanContext) ? spanContext : undefined;
}

function fromOption(parent: unknown): Parent | undefined {
  if (parent instanceof StepRecord) return { step: parent };
  if (typeof parent === 'string') {
    const spanContext = parseTraceparent(parent);
    return spanContext ? { spanContext } : undefined;
  }
  if (parent === null || typeof parent !== 'object') return undefined;
  if (typeof (parent as Context).getValue === 'function') return fromContext(parent as Context);
  const candidate = parent as Partial<SpanContext>;
  if (typeof candidate.traceId === 'string' && typeof candidate.spanId === 'string') {
    const spanContext: SpanContext = {
      traceId: candidate.traceId,
      spanId: candidate.spanId,
      traceFlags: typeof candidate.traceFlags === 'number' ? candidate.traceFlags : SAMPLED,
      isRemote: candidate.isRemote ?? true,
    };
    return isSpanContextValid(spanContext) ? { spanContext } : undefined;
  }
  return undefined;
}

function resolveParent(options: StepOptions, ctx: Context, errors: ErrorReporter): Parent {
  if (options.existingTraceId !== undefined) {
    const traceId = normalizeTraceId(options.existingTraceId);
    if (traceId) {
      const spanId = options.existingParentSpanId?.toLowerCase();
      const spanContext: SpanContext = { traceId, spanId: '', traceFlags: SAMPLED, isRemote: true };
      if (spanId && isValidSpanId(spanId)) spanContext.spanId = spanId;
      return { spanContext, joined: true };
    }
    errors.warn(
      'step.existingTraceId',
      'ignored an existingTraceId that is neither 32 hex characters nor a UUID',
    );
  }
  if (options.parent !== undefined) {
    const parent = fromOption(options.parent);
    if (parent) return parent;
    errors.warn('step.parent', 'ignored a parent that is not a step, span context, context or traceparent');
  }
  return fromContext(ctx);
}

/** `apiKey` is replaced by its SHA-256 at once; the key itself is never stored. */
export function toIdentity(input: IdentityInput, inherited: Identity | undefined): Identity {
  const identity: Identity = { ...inherited };
  for (const [key, value] of Object.entries(input)) {
    if (typeof value !== 'string') continue;
    if (key === 'apiKey') identity.keyHash = `sha256:${createHash('sha256').update(value).digest('hex')}`;
    else identity[key] = value;
  }
  return identity;
}

function defaultName(kind: StepKind, options: StepOptions): string {
  const o = options as Record<string, unknown>;
  const named = o.model ?? o.toolName ?? o.agentName ?? o.guardrailName ?? o.templateName ?? o.dataSource;
  return typeof named === 'string' && named !== '' ? named : kind;
}

/** Builds a step record: parent by precedence, ids, inherited trace fields and identity. */
export function createStepRecord(
  kind: StepKind,
  input: StepOptions | string | undefined,
  ctx: Context,
  lifecycle: StepLifecycle,
  defaults: StepDefaults,
): StepRecord {
  const options: StepOptions = typeof input === 'string' ? { name: input } : (input ?? EMPTY);
  if (defaults.validate) validate(options, defaults.errors);
  const parent = resolveParent(options, ctx, defaults.errors);
  const local = parent.step;
  const remote = parent.spanContext;

  let traceId: string;
  let parentSpanId: string | undefined;
  let traceFlags = SAMPLED;
  let traceState: string | undefined;
  let trace: TraceFields;
  let traceKeys: readonly TraceKey[] = TRACE_KEYS;
  let identity = local?.identity;
  let parentContext = ctx;

  if (local) {
    traceId = local.traceId;
    // An app span made inside the local step is the direct parent; the step still gives the
    // trace its fields and its sampling decision.
    parentSpanId = remote ? remote.spanId : local.spanId;
    traceFlags = local.traceFlags;
    traceState = local.traceState;
    trace = local.trace;
    traceKeys = local.traceKeys;
    if (options.parent !== undefined) parentContext = local.context();
  } else if (remote) {
    traceId = remote.traceId;
    parentSpanId = remote.spanId || undefined;
    traceFlags = remote.traceFlags;
    traceState = remote.traceState?.serialize();
    trace = {};
    // Joining a trace made elsewhere: only the keys this call names may overwrite its fields.
    if (remote.isRemote || parent.joined) traceKeys = options.updateTraceKeys ?? [];
    if (parent.joined || options.parent !== undefined) parentContext = withRemoteParent(ctx, remote);
  } else {
    traceId = newTraceId();
    trace = {};
  }
  if (options.trace) Object.assign(trace, options.trace);
  if (options.identity) identity = toIdentity(options.identity, identity);
  if (options.sample !== undefined)
    traceFlags = options.sample ? traceFlags | SAMPLED : traceFlags & ~SAMPLED;

  const step = new StepRecord(kind, traceId, newSpanId(), options, lifecycle, parentContext);
  step.name =
    typeof options.name === 'string' && options.name !== '' ? options.name : defaultName(kind, options);
  step.parentSpanId = parentSpanId;
  step.parentStepId = local?.spanId;
  step.parentIsRemote = local ? false : remote !== undefined && (remote.isRemote || parent.joined === true);
  step.traceFlags = traceFlags;
  step.traceState = traceState;
  step.sampled = (traceFlags & SAMPLED) === SAMPLED;
  step.startTime = options.startTime === undefined ? now() : toEpochMs(options.startTime);
  step.input = options.input;
  step.metadata = options.metadata;
  step.tags = options.tags;
  step.trace = trace;
  step.traceKeys = traceKeys;
  step.identity = identity;
  if (options.attributes) step.attributes = { ...options.attributes };
  step.serviceName = defaults.serviceName;
  step.parent = local;
  for (const key in options) {
    if (!COMMON_OPTION_KEYS.has(key))
      (step as unknown as Record<string, unknown>)[key] = (options as Record<string, unknown>)[key];
  }
  const attempt = (options as { [ATTEMPT]?: AttemptInfo })[ATTEMPT];
  if (attempt) step.attempt = attempt;
  return step;
}

/** A context whose active span is the given (remote) span context, so app spans nest right. */
function withRemoteParent(ctx: Context, spanContext: SpanContext): Context {
  return spanContext.spanId ? trace.setSpanContext(ctx, spanContext) : ctx;
}

function validate(options: StepOptions, errors: ErrorReporter): void {
  const result = StepOptionsSchema.safeParse(options);
  if (result.success) return;
  const first = result.error.issues[0];
  errors.warn('step.options', `${first?.path.join('.') || '(root)'}: ${first?.message ?? 'invalid'}`);
}

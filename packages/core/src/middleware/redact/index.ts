/**
 * The `redact()` middleware: the tracer-wide floor of what any backend may receive. Backends
 * that should receive less apply their own policy to a copy with `applyRedaction`.
 *
 * Per-call `maskInput` / `maskOutput` are honoured by this middleware, on every step kind,
 * whenever `redact()` is installed, with or without options. Without it they have no effect.
 */
import { type Middleware, observer } from '../../compose.js';
import { ErrorReporter } from '../../error-handler.js';
import { parseOptions } from '../../options.js';
import type { Step } from '../../step.js';
import type { MiddlewareStep } from '../../step-record.js';
import {
  type CompiledPolicy,
  compilePolicy,
  maskFailure,
  mergePaths,
  type PlanHooks,
  planRedaction,
  policyFor,
  type RedactionFailure,
} from './apply.js';
import { CONTENT_FIELDS, TRACE_CONTENT_FIELDS } from './fields.js';
import { REDACTED, type RedactOptions, RedactOptionsSchema } from './options.js';

type Fields = Record<string, unknown>;

/** Used until the step can report to its own tracer (see `reportTo`). */
const fallbackReporter = new ErrorReporter();

/**
 * Reports through the step's tracer when the core offers `reportError` on middleware steps, else
 * through the process-wide handler. The report never carries the value that was being masked.
 */
function reportTo(step: MiddlewareStep, source: string, error: Error): void {
  const reportError = (step as { reportError?: (source: string, error: unknown) => void }).reportError;
  if (typeof reportError === 'function') {
    try {
      reportError.call(step, source, error);
      return;
    } catch {}
  }
  fallbackReporter.report(source, error);
}

/** Last resort when planning itself failed: every content field present becomes the marker. */
function failClosed(record: Step): string[] {
  const fields = record as unknown as Fields;
  const trace = record.trace as Fields | undefined;
  const paths: string[] = [];
  for (const rule of CONTENT_FIELDS) {
    if (fields[rule.key] !== undefined && fields[rule.key] !== REDACTED) {
      fields[rule.key] = REDACTED;
      paths.push(rule.key);
    }
  }
  for (const rule of TRACE_CONTENT_FIELDS) {
    if (trace && trace[rule.key] !== undefined && trace[rule.key] !== REDACTED) {
      trace[rule.key] = REDACTED;
      paths.push(`trace.${rule.key}`);
    }
  }
  return paths;
}

/**
 * One pass over the record. Step fields get new values; trace fields are replaced in the step's
 * `trace` object, which spanchain made and which every step of the trace shares: trace content
 * masked by one step's policy is masked for the whole trace, which errs on the safe side.
 */
function redactInPlace(
  step: MiddlewareStep,
  policy: CompiledPolicy,
  maskInput: boolean,
  maskOutput: boolean,
  seen: Map<string, unknown>,
): void {
  const record = step.step as unknown as Step;
  const hooks: PlanHooks = {
    report: (failure: RedactionFailure, error: unknown, path: string) =>
      reportTo(step, `middleware:redact.${failure}`, maskFailure(failure, error, path)),
    skip: (path, value) => seen.get(path) === value,
  };
  let paths: string[];
  try {
    const plan = planRedaction(record, policy, maskInput, maskOutput, hooks);
    if (plan) {
      // Only values made here are remembered: the app may still change its own objects in place
      // during the run, and `setAttributes` writes into the attributes object it finds.
      const fields = record as unknown as Fields;
      for (const [key, value] of plan.fields) {
        fields[key] = value;
        if (key !== 'attributes') seen.set(key, value);
      }
      const trace = record.trace as Fields;
      for (const [key, value] of plan.trace) {
        trace[key] = value;
        seen.set(`trace.${key}`, value);
      }
    }
    paths = plan?.paths ?? [];
  } catch (error) {
    const type = error instanceof Error ? error.name : typeof error;
    reportTo(
      step,
      'middleware:redact',
      new Error(`redaction failed (${type}); recorded every content field as ${REDACTED}`),
    );
    paths = failClosed(record);
  }
  if (paths.length > 0) record.redacted = mergePaths(record.redacted, paths);
}

/**
 * Redacts step content before any plugin sees it. Fields present when the step starts are
 * redacted before `next()` (so plugins' `onStart` never receive them raw); everything, including
 * what the run set, after it. The record's fields get new values; the app's objects are never
 * changed. Replaced field paths are listed in `step.redacted`.
 *
 * Install it first in `use` (outermost) except for `limits()`, which should wrap it so that
 * patterns are matched on whole strings: `use: [limits(), redact({ … })]`. Note that the traced
 * function's handle shows the redacted fields too: pass the app's own values to the model
 * rather than reading them back from the step.
 *
 * @example
 * createTracer({
 *   plugins: [otel()],
 *   use: [redact({ fields: { documents: false }, metadataKeys: ['password', /token/i], patterns: { emails: true, apiKeys: true } })],
 * });
 * await tracer.llm({ inputMessages, maskOutput: true }, call); // this call's output is masked
 */
export function redact(options?: RedactOptions): Middleware & { readonly observer: true } {
  const parsed = parseOptions(RedactOptionsSchema, options ?? {}, 'redact options');
  const policy = compilePolicy(parsed);
  return observer(async function redactStep(step: MiddlewareStep, next: () => Promise<void>): Promise<void> {
    const maskInput = step.options.maskInput === true;
    const maskOutput = step.options.maskOutput === true;
    const effective = policyFor(policy, step.kind);
    if (!effective.active && !maskInput && !maskOutput) return next();
    const seen = new Map<string, unknown>();
    redactInPlace(step, effective, maskInput, maskOutput, seen);
    try {
      await next();
    } finally {
      redactInPlace(step, effective, maskInput, maskOutput, seen);
    }
  });
}

export { applyRedaction } from './apply.js';
export { type MaskFunction, REDACTED, type RedactOptions, RedactOptionsSchema } from './options.js';
export { REDACTED_EMAIL, REDACTED_KEY } from './patterns.js';

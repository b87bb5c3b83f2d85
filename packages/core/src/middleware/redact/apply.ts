/**
 * Redaction as a pure function of a step and a policy. The `redact()` middleware applies it to
 * the record in place; a backend plugin calls {@link applyRedaction} on its own copy so that one
 * backend can receive full prompts while another receives metadata only.
 *
 * Invariant: objects the app owns are never changed. A redacted field gets a new value, and
 * containers are copied along the path to each change.
 */
import { ErrorReporter } from '../../error-handler.js';
import type { Step, StepKind } from '../../step.js';
import {
  CONTENT_FIELDS,
  type ContentField,
  type Family,
  maskMessages,
  maskWhole,
  TRACE_CONTENT_FIELDS,
} from './fields.js';
import { compileKeyMatcher, isPlainObject, type KeyMatcher, maskKeys } from './metadata-keys.js';
import { type MaskFunction, REDACTED, type RedactOptions } from './options.js';
import { compileScrubber, type Scrubber, scrubDeep } from './patterns.js';

/** A policy prepared once: regular expressions copied, defaults resolved. */
export interface CompiledPolicy {
  /** Kinds the policy applies to; undefined for all. */
  readonly kinds: ReadonlySet<StepKind> | undefined;
  /** False when the policy changes nothing (only per-call masks can then apply). */
  readonly active: boolean;
  readonly content: boolean;
  readonly input: boolean;
  readonly output: boolean;
  /** False: the family is masked. */
  readonly families: Readonly<Record<Family, boolean>>;
  readonly keys: KeyMatcher | undefined;
  readonly scrub: Scrubber | undefined;
  readonly mask: MaskFunction | undefined;
}

const KEEP_ALL: Readonly<Record<Family, boolean>> = Object.freeze({
  messages: true,
  documents: true,
  toolArguments: true,
  toolResults: true,
  promptVariables: true,
});

/** What a policy that does not apply to a step's kind amounts to. */
const INACTIVE: CompiledPolicy = Object.freeze({
  kinds: undefined,
  active: false,
  content: true,
  input: true,
  output: true,
  families: KEEP_ALL,
  keys: undefined,
  scrub: undefined,
  mask: undefined,
});

const compiled = new WeakMap<object, CompiledPolicy>();

/**
 * Prepares a policy. Lenient, since it also runs on the hot path for plugins: validate options
 * with `RedactOptionsSchema` at construction; malformed entries are ignored here.
 */
export function compilePolicy(options: RedactOptions | undefined): CompiledPolicy {
  if (options === undefined || options === null || typeof options !== 'object') return INACTIVE;
  const cached = compiled.get(options);
  if (cached) return cached;
  const f = options.fields ?? {};
  const families: Record<Family, boolean> = {
    messages: f.messages !== false,
    documents: f.documents !== false,
    toolArguments: f.toolArguments !== false,
    toolResults: f.toolResults !== false,
    promptVariables: f.promptVariables !== false,
  };
  const policy: CompiledPolicy = {
    kinds: Array.isArray(options.kinds) ? new Set(options.kinds) : undefined,
    active: false,
    content: options.content !== false,
    input: options.input !== false,
    output: options.output !== false,
    families,
    keys: compileKeyMatcher(options.metadataKeys),
    scrub: compileScrubber(options.patterns),
    mask: typeof options.mask === 'function' ? options.mask : undefined,
  };
  const active =
    !policy.content ||
    !policy.input ||
    !policy.output ||
    Object.values(families).includes(false) ||
    policy.keys !== undefined ||
    policy.scrub !== undefined ||
    policy.mask !== undefined;
  const result = Object.freeze({ ...policy, active });
  compiled.set(options, result);
  return result;
}

/** The policy that applies to a step of this kind. */
export function policyFor(policy: CompiledPolicy, kind: StepKind): CompiledPolicy {
  return policy.active && (!policy.kinds || policy.kinds.has(kind)) ? policy : INACTIVE;
}

/** Fields to replace on a step, and the paths to add to `step.redacted`. */
export interface RedactionPlan {
  readonly fields: [key: string, value: unknown][];
  /** Keys of `step.trace`. */
  readonly trace: [key: string, value: unknown][];
  readonly paths: string[];
}

export type RedactionFailure = 'mask' | 'patterns' | 'metadata';

export interface PlanHooks {
  /** A masker, pattern scan or key walk failed; the field was masked whole. */
  report(failure: RedactionFailure, error: unknown, path: string): void;
  /** True to leave a field as it is (unchanged since the middleware's last pass, or not its to write). */
  skip?(path: string, value: unknown): boolean;
}

/**
 * Works out what to replace. `maskInput`/`maskOutput` force one side whatever the policy says.
 * Returns undefined when nothing changes.
 */
export function planRedaction(
  step: Step,
  policy: CompiledPolicy,
  maskInput: boolean,
  maskOutput: boolean,
  hooks: PlanHooks,
): RedactionPlan | undefined {
  if (!policy.active && !maskInput && !maskOutput) return undefined;
  const plan: RedactionPlan = { fields: [], trace: [], paths: [] };
  const kind = step.kind;
  const record = step as unknown as Record<string, unknown>;
  const context: FieldContext = { step, policy, maskInput, maskOutput, hooks };
  for (const rule of CONTENT_FIELDS) {
    if (rule.kinds && !rule.kinds.includes(kind)) continue;
    const value = record[rule.key];
    if (value === undefined || hooks.skip?.(rule.key, value)) continue;
    const after = redactField(context, rule, kind, value, rule.key);
    if (after !== value) {
      plan.fields.push([rule.key, after]);
      plan.paths.push(rule.key);
    }
  }
  const trace = step.trace as Record<string, unknown> | undefined;
  if (trace) {
    for (const rule of TRACE_CONTENT_FIELDS) {
      const path = `trace.${rule.key}`;
      const value = trace[rule.key];
      if (value === undefined || hooks.skip?.(path, value)) continue;
      const after = redactField(context, rule, kind, value, path);
      if (after !== value) {
        plan.trace.push([rule.key, after]);
        plan.paths.push(path);
      }
    }
  }
  const keys = policy.keys;
  if (keys) {
    const maskIn = (source: unknown, path: string, lastSegment: boolean): unknown => {
      if (!isPlainObject(source) || hooks.skip?.(path, source)) return source;
      try {
        return maskKeys(source, keys, path, plan.paths, lastSegment);
      } catch (error) {
        hooks.report('metadata', error, path);
        plan.paths.push(path);
        return {};
      }
    };
    const metadata = maskIn(step.metadata, 'metadata', false);
    if (metadata !== step.metadata) plan.fields.push(['metadata', metadata]);
    const attributes = maskIn(step.attributes, 'attributes', true);
    if (attributes !== step.attributes) plan.fields.push(['attributes', attributes]);
    const traceMetadata = maskIn(trace?.metadata, 'trace.metadata', false);
    if (traceMetadata !== trace?.metadata) plan.trace.push(['metadata', traceMetadata]);
  }
  return plan.paths.length === 0 ? undefined : plan;
}

interface FieldContext {
  step: Step;
  policy: CompiledPolicy;
  maskInput: boolean;
  maskOutput: boolean;
  hooks: PlanHooks;
}

function redactField(
  c: FieldContext,
  rule: ContentField,
  kind: StepKind,
  value: unknown,
  path: string,
): unknown {
  const { policy, hooks } = c;
  const side = rule.side(kind);
  const family = rule.family(kind);
  const whole =
    (side === 'input' ? c.maskInput || !policy.input : c.maskOutput || !policy.output) ||
    !policy.content ||
    (family !== undefined && !policy.families[family]);
  if (whole) {
    try {
      return maskWhole(value, rule.shape);
    } catch {
      return REDACTED; // a throwing getter in an element: nothing of it is kept
    }
  }
  let out = value;
  try {
    const { toolArguments, toolResults } = policy.families;
    if (rule.shape === 'messages' && Array.isArray(out) && (!toolArguments || !toolResults)) {
      out = maskMessages(out, { content: false, toolArguments: !toolArguments, toolResults: !toolResults });
    }
    if (policy.scrub) out = scrubDeep(out, policy.scrub);
  } catch (error) {
    hooks.report('patterns', error, path);
    return REDACTED;
  }
  if (policy.mask) {
    try {
      out = policy.mask(out, path, c.step);
    } catch (error) {
      hooks.report('mask', error, path);
      return REDACTED;
    }
  }
  return out;
}

/** `existing` plus `added`, without duplicates; a new array. */
export function mergePaths(existing: readonly string[] | undefined, added: readonly string[]): string[] {
  return [...new Set(existing ? [...existing, ...added] : added)];
}

const fallbackReporter = new ErrorReporter();

/** An error that names what failed without carrying the value (a masker's message may hold it). */
export function maskFailure(failure: RedactionFailure, error: unknown, path: string): Error {
  const type = error instanceof Error ? error.name : typeof error;
  const what =
    failure === 'mask' ? 'mask function' : failure === 'patterns' ? 'pattern scan' : 'metadata key scan';
  return new Error(`${what} failed (${type}) on "${path}"; recorded it as ${REDACTED}`);
}

/**
 * Returns `step` with the policy applied: a shallow copy whose redacted fields have new values
 * (and a copied `trace` when a trace field changed), with the paths added to `redacted`. The
 * step itself and everything it references are left untouched; a step with nothing to redact is
 * returned as is. Never throws: a failing masker yields {@link REDACTED} for its field and is
 * passed to `onError` (default: the process-wide error handler), without the value.
 *
 * @example
 * // in a plugin that sends metadata only:
 * onEnd(step) { queue.push(toPayload(applyRedaction(step, { content: false }))) }
 */
export function applyRedaction(
  step: Step,
  policy: RedactOptions,
  maskInput?: boolean,
  maskOutput?: boolean,
  onError?: (error: Error, field: string) => void,
): Step {
  const compiledPolicy = policyFor(compilePolicy(policy), step.kind);
  const report = (failure: RedactionFailure, error: unknown, path: string): void => {
    const described = maskFailure(failure, error, path);
    if (onError) {
      try {
        onError(described, path);
      } catch {}
    } else {
      fallbackReporter.report(`redact.${failure}`, described);
    }
  };
  const plan = planRedaction(step, compiledPolicy, maskInput === true, maskOutput === true, { report });
  if (!plan) return step;
  // Same prototype: a StepRecord copy keeps the `toJSON` that leaves its internals out.
  const copy = Object.assign(Object.create(Object.getPrototypeOf(step)), step) as Record<string, unknown>;
  for (const [key, value] of plan.fields) copy[key] = value;
  if (plan.trace.length > 0) {
    const trace: Record<string, unknown> = { ...step.trace };
    for (const [key, value] of plan.trace) trace[key] = value;
    copy.trace = trace;
  }
  copy.redacted = mergePaths(step.redacted, plan.paths);
  return copy as unknown as Step;
}

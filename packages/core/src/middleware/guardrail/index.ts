/**
 * The guardrail middleware: checks a step's input or output, records each check as a child step
 * of kind `guardrail`, and blocks the step with a typed error or annotates it.
 */
import { z } from 'zod';
import { forKinds, type KindScopedMiddleware } from '../../compose.js';
import { GuardrailBlockedError } from '../../errors.js';
import { isThenable } from '../../execute.js';
import { parseOptions } from '../../options.js';
import { scrubSecrets } from '../../secrets.js';
import type { Attributes, GuardrailDecision, StepKind } from '../../step.js';
import { StepKindSchema } from '../../step-options.js';
import type { MiddlewareStep } from '../../step-record.js';

/** What a check decides. `annotate` lets the step through and marks it. */
export interface GuardrailVerdict {
  decision: GuardrailDecision;
  reason?: string;
}

export type GuardrailTarget = 'input' | 'output';

/** A check: `true` passes, `false` fails (see `action`), or a verdict. May be async. */
export type GuardrailCheck = (
  value: unknown,
  step: MiddlewareStep,
  target: GuardrailTarget,
) => GuardrailVerdict | boolean | Promise<GuardrailVerdict | boolean>;

const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', `expected ${what}`);

export const GuardrailOptionsSchema = z
  .object({
    /** Shown on the guardrail step, the error and the annotations. */
    name: z.string().min(1).max(256),
    /** What is checked. Default `output`. */
    on: z.enum(['input', 'output', 'both']).optional(),
    /** Kinds of step checked. Default `['llm']`. `guardrail` steps are never checked. */
    kinds: z.array(StepKindSchema).min(1).optional(),
    check: fn<GuardrailCheck>('a check function (value, step, target) => verdict | boolean'),
    /** What a failing check (`false` or a `block` verdict) does. Default `block`. */
    action: z.enum(['block', 'annotate']).optional(),
    /** What to check. Default: `inputMessages ?? input`, or `outputMessages ?? output ?? result`. */
    select: fn<(step: MiddlewareStep, target: GuardrailTarget) => unknown>(
      'a select function (step, target) => value',
    ).optional(),
    /** What a check that throws (or returns no verdict) decides. Default `pass`. */
    onCheckError: z.enum(['block', 'pass']).optional(),
  })
  .strict();

export type GuardrailOptions = z.input<typeof GuardrailOptionsSchema>;

/** One entry of `metadata.guardrails` on a checked step. */
export interface GuardrailAnnotation {
  name: string;
  decision: GuardrailDecision;
  target: GuardrailTarget;
  reason?: string;
  /**
   * The check asked to block; the step was annotated instead (`action: 'annotate'`, or the
   * caller already had a synchronous value or a stream).
   */
  wouldBlock?: boolean;
  /** The check itself threw; `decision` is what `onCheckError` chose. */
  checkError?: boolean;
}

const EVENT = 'guardrail';
const ATTRIBUTE = {
  name: 'guardrail.name',
  decision: 'guardrail.decision',
  target: 'guardrail.target',
  reason: 'guardrail.reason',
  wouldBlock: 'guardrail.would_block',
  checkError: 'guardrail.check_error',
} as const;

const DEFAULT_KINDS: readonly StepKind[] = ['llm'];

/** The outcome of one check, after `action` and what the step allows. */
interface Checked {
  decision: GuardrailDecision;
  reason?: string;
  /** The check asked to block; the step was only annotated. */
  wouldBlock: boolean;
  checkError: boolean;
}

function defaultSelect(step: MiddlewareStep, target: GuardrailTarget): unknown {
  return target === 'input'
    ? (step.inputMessages ?? step.input)
    : (step.outputMessages ?? step.output ?? step.returnValue);
}

/** Normalises what a check returned; anything else is a check error. */
function toVerdict(returned: unknown): GuardrailVerdict {
  if (returned === true || returned === false) return { decision: returned ? 'pass' : 'block' };
  if (returned !== null && typeof returned === 'object') {
    const { decision, reason } = returned as Partial<GuardrailVerdict>;
    if (decision === 'pass' || decision === 'block' || decision === 'annotate') {
      return typeof reason === 'string' ? { decision, reason } : { decision };
    }
  }
  throw new TypeError(
    `guardrail check returned ${returned === null ? 'null' : typeof returned}, not a verdict`,
  );
}

function recorded(checked: Checked): GuardrailVerdict {
  return checked.reason === undefined
    ? { decision: checked.decision }
    : { decision: checked.decision, reason: checked.reason };
}

function describeError(error: unknown): string {
  const message =
    error instanceof Error ? error.message : typeof error === 'string' ? error : 'non-error thrown';
  return scrubSecrets(message.length > 200 ? `${message.slice(0, 200)}…` : message);
}

/** Records a non-pass verdict (or a check error) on the checked step: an event and metadata. */
function annotate(step: MiddlewareStep, entry: GuardrailAnnotation): void {
  const attributes: Attributes = {
    [ATTRIBUTE.name]: entry.name,
    [ATTRIBUTE.decision]: entry.decision,
    [ATTRIBUTE.target]: entry.target,
  };
  if (entry.reason !== undefined) attributes[ATTRIBUTE.reason] = entry.reason;
  if (entry.wouldBlock) attributes[ATTRIBUTE.wouldBlock] = true;
  if (entry.checkError) attributes[ATTRIBUTE.checkError] = true;
  step.addEvent(EVENT, attributes);
  const previous = step.metadata?.guardrails;
  step.update({ metadata: { guardrails: Array.isArray(previous) ? [...previous, entry] : [entry] } });
}

/**
 * Checks a step's input before its function runs, its output after, or both. Each check runs as
 * a child step of kind `guardrail` carrying `guardrailName`, `decision`, `reason` and `target`.
 *
 * - **block**: on input, the function never runs and the step fails with `GuardrailBlockedError`
 *   (the caller gets a rejected promise, even for a synchronous function, which cannot be told
 *   apart before it runs); on output, the caller's promise rejects with it. A synchronous
 *   function's value, or a stream, is already in the caller's hands when its output can be
 *   checked: such a step is annotated instead (`wouldBlock: true`), never failed after the fact.
 * - **annotate**: the step goes on, with a `guardrail` event and an entry in `metadata.guardrails`.
 * - A check that throws fails open by default (`onCheckError: 'pass'`): a broken guardrail should
 *   not take the app down unless asked to. The error goes to the tracer's error handler, is
 *   recorded on the guardrail step (status `error`) and annotated on the checked step;
 *   `onCheckError: 'block'` fails closed instead.
 *
 * A synchronous check keeps a synchronous function synchronous when it passes. Retry and fallback
 * attempts are not checked themselves: the step that holds them is.
 *
 * @example
 * const noSsn = (value: unknown) => !/\d{3}-\d{2}-\d{4}/.test(JSON.stringify(value));
 * createTracer({ use: [guardrail({ name: 'no-ssn', on: 'both', check: noSsn })] });
 */
export function guardrail(options: GuardrailOptions): KindScopedMiddleware {
  const parsed = parseOptions(GuardrailOptionsSchema, options, 'guardrail options');
  const { name, check } = parsed;
  const on = parsed.on ?? 'output';
  const action = parsed.action ?? 'block';
  const onCheckError = parsed.onCheckError ?? 'pass';
  const select = parsed.select ?? defaultSelect;
  // A guardrail step checked by a guardrail would start another guardrail step, without end.
  const kinds = (parsed.kinds ?? DEFAULT_KINDS).filter((kind) => kind !== 'guardrail');

  const settle = (asked: GuardrailVerdict, canBlock: boolean, checkError: boolean): Checked => {
    const blocks = asked.decision === 'block' && action === 'block' && canBlock;
    const decision = asked.decision === 'block' && !blocks ? 'annotate' : asked.decision;
    const checked: Checked = { decision, wouldBlock: asked.decision === 'block' && !blocks, checkError };
    if (asked.reason !== undefined) checked.reason = asked.reason;
    return checked;
  };

  const failed = (error: unknown, canBlock: boolean): Checked =>
    settle({ decision: onCheckError, reason: `check failed: ${describeError(error)}` }, canBlock, true);

  /**
   * Runs the check as a guardrail step. Stays synchronous when the check is, so that a
   * synchronous traced function behind an input check still returns its value synchronously.
   */
  const run = (
    step: MiddlewareStep,
    target: GuardrailTarget,
    canBlock: boolean,
  ): Checked | Promise<Checked> => {
    let outcome: Checked | undefined;
    const recover = (error: unknown): Checked => outcome ?? failed(error, canBlock);
    try {
      const result = step.child('guardrail', { name, guardrailName: name, target }, (guard) => {
        const fail = (error: unknown): never => {
          outcome = failed(error, canBlock);
          step.reportError('middleware:guardrail', error);
          guard.update(recorded(outcome));
          // Rethrown so that the guardrail step records the error itself.
          throw error;
        };
        const decide = (returned: unknown): Checked => {
          try {
            outcome = settle(toVerdict(returned), canBlock, false);
          } catch (error) {
            return fail(error);
          }
          guard.update(recorded(outcome));
          return outcome;
        };
        let returned: unknown;
        try {
          returned = check(select(step, target), step, target);
        } catch (error) {
          return fail(error);
        }
        return isThenable(returned) ? Promise.resolve(returned).then(decide, fail) : decide(returned);
      });
      return isThenable(result) ? Promise.resolve(result).catch(recover) : result;
    } catch (error) {
      return recover(error);
    }
  };

  const apply = (step: MiddlewareStep, target: GuardrailTarget, checked: Checked): void => {
    if (checked.decision === 'pass' && !checked.checkError) return;
    const entry: GuardrailAnnotation = { name, decision: checked.decision, target };
    if (checked.reason !== undefined) entry.reason = checked.reason;
    if (checked.wouldBlock) entry.wouldBlock = true;
    if (checked.checkError) entry.checkError = true;
    annotate(step, entry);
    if (checked.decision === 'block') throw new GuardrailBlockedError(name, checked.reason);
  };

  const checkOutput = async (step: MiddlewareStep, next: () => Promise<void>): Promise<void> => {
    await next();
    if (on === 'input') return;
    // A synchronous value or a stream is already in the caller's hands: a throw could not stop it.
    const canBlock = step.sync === false && step.stream === undefined;
    apply(step, 'output', await run(step, 'output', canBlock));
  };

  const middleware = function guardrail(step: MiddlewareStep, next: () => Promise<void>): Promise<void> {
    // Attempts of a retried step are checked once, on the step that holds them.
    if (step.attempt !== undefined) return next();
    if (on === 'output') return checkOutput(step, next);
    const input = run(step, 'input', true);
    if (isThenable(input)) {
      return input.then((checked) => {
        apply(step, 'input', checked);
        return checkOutput(step, next);
      });
    }
    apply(step, 'input', input);
    return checkOutput(step, next);
  };
  return forKinds(kinds, middleware);
}

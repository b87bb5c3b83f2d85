import { setTimeout as sleep } from 'node:timers/promises';
import { isThenable } from './execute.js';
import type { AttemptInfo, StepKind } from './step.js';
import { COMMON_OPTION_KEYS, type Fallback, type RetryPolicy, type StepOptions } from './step-options.js';
import type { StepHandle, StepRecord } from './step-record.js';

/** Option key (a symbol, so it is never copied as a kind field) that marks an attempt's step. */
export const ATTEMPT = Symbol('spanchain.attempt');

/**
 * Besides its kind's fields, what an attempt takes from the call: the same content needs the
 * same masks, and a streamed attempt the same stream hooks.
 */
const INHERITED_OPTIONS = ['maskInput', 'maskOutput', 'onChunk', 'reduceStream'] as const;

export interface AttemptPlan {
  policy: Required<Omit<RetryPolicy, 'retryOn'>> & Pick<RetryPolicy, 'retryOn'>;
  fallbacks: readonly Fallback[];
}

/** The retry policy and fallbacks for a step, from its options or from a middleware's defaults. */
export function attemptPlan(
  options: StepOptions,
  defaults: { retry?: RetryPolicy; fallbacks?: readonly Fallback[] } | undefined,
): AttemptPlan | undefined {
  const raw = options.retry ?? defaults?.retry;
  const fallbacks = options.fallbacks ?? defaults?.fallbacks ?? [];
  const policy: RetryPolicy | undefined = typeof raw === 'number' ? { maxRetries: raw } : raw;
  const maxRetries = Math.max(0, Math.min(100, Math.floor(policy?.maxRetries ?? 0)));
  if (maxRetries === 0 && fallbacks.length === 0) return undefined;
  return {
    policy: {
      maxRetries,
      initialDelayMs: policy?.initialDelayMs ?? 200,
      maxDelayMs: policy?.maxDelayMs ?? 5_000,
      factor: policy?.factor ?? 2,
      retryOn: policy?.retryOn,
    },
    fallbacks,
  };
}

/** Full-jitter exponential backoff. */
export function backoffDelay(policy: AttemptPlan['policy'], retry: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (retry - 1));
  return Math.random() * ceiling;
}

type RunChild = <R>(kind: StepKind, options: StepOptions, fn: (step: StepHandle) => R) => R;

function fallbackName(fallback: Fallback, index: number): string {
  // An inline `{ fn: async () => … }` is named "fn" by inference: that says nothing.
  const fnName = fallback.fn?.name;
  return fallback.name ?? fallback.model ?? (fnName && fnName !== 'fn' ? fnName : `fallback-${index + 1}`);
}

/**
 * Runs `fn` as a series of attempts, each a child step of `parent` of the same kind: the primary
 * up to `maxRetries + 1` times with backoff, then each fallback once. A synchronous function is
 * run once (it cannot wait for a backoff without blocking). Resolves with the first success or
 * rejects with the last error, the very object thrown.
 */
export function runAttempts(
  parent: StepRecord,
  plan: AttemptPlan,
  fn: (step: StepHandle) => unknown,
  runChild: RunChild,
): unknown {
  // Attempts start from the call's own options: the record may already be redacted.
  const options = parent.options as Record<string, unknown>;
  const inherited: Record<string, unknown> = {};
  for (const key of Object.keys(options)) {
    if (!COMMON_OPTION_KEYS.has(key)) inherited[key] = options[key];
  }
  for (const key of INHERITED_OPTIONS) if (options[key] !== undefined) inherited[key] = options[key];
  const attempts = { retries: 0, maxRetries: plan.policy.maxRetries, fallbacks: 0 };
  parent.attempts = attempts;
  let number = 0;
  const attempt = (
    overrides: Record<string, unknown>,
    info: AttemptInfo,
    run: (step: StepHandle) => unknown,
  ) =>
    runChild(
      parent.kind,
      {
        ...inherited,
        name: parent.name,
        input: parent.input,
        parent,
        ...overrides,
        [ATTEMPT]: info,
      } as StepOptions,
      run,
    );

  const first = attempt({}, { number: number++ }, fn);
  if (!isThenable(first)) return first;

  return (async () => {
    let lastError: unknown;
    let pending: PromiseLike<unknown> | undefined = first;
    for (let retry = 0; pending; ) {
      try {
        return await pending;
      } catch (error) {
        lastError = error;
        pending = undefined;
        let retryable = retry < plan.policy.maxRetries;
        if (retryable && plan.policy.retryOn) {
          try {
            retryable = plan.policy.retryOn(error);
          } catch {
            retryable = false;
          }
        }
        if (!retryable) break;
        retry++;
        const delay = backoffDelay(plan.policy, retry);
        parent.addEvent('retry', { attempt: retry, 'delay.ms': Math.round(delay) });
        await sleep(delay);
        attempts.retries = retry;
        // A retry that throws synchronously must land in this loop's catch like a rejection.
        pending = new Promise((resolve) => resolve(attempt({}, { number: number++ }, fn)));
      }
    }
    for (const [index, fallback] of plan.fallbacks.entries()) {
      const name = fallbackName(fallback, index);
      attempts.fallbacks++;
      parent.addEvent('fallback', { 'fallback.name': name });
      const overrides: Record<string, unknown> = {};
      if (fallback.model !== undefined) overrides.model = fallback.model;
      if (fallback.provider !== undefined) overrides.provider = fallback.provider;
      try {
        const result = await attempt(overrides, { number: number++, fallback: name }, fallback.fn ?? fn);
        // The container keeps the model it was asked for; the one that answered is its response model.
        if (
          fallback.model !== undefined &&
          (parent.kind === 'llm' || parent.kind === 'embedding' || parent.kind === 'rerank')
        ) {
          (parent as { responseModel?: string }).responseModel = fallback.model;
        }
        return result;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  })();
}
